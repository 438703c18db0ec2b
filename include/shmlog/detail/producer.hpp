// The producer's side of a lane: what an app thread runs on every log call. Kept inline and
// small; everything rare (claiming a lane, wrapping, a full ring, the fallback) is out of line
// in libshm/producer/.
#pragma once

#include <shmlog/level.hpp>
#include <shmlog/ring_format.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif
#include <time.h>

namespace shmlog::detail {

// The process's current ring as every call sees it: one read-mostly cache line. `min_level`
// points into the ring header (the sidecar writes it) or, with no ring, into process memory.
// `generation` changes whenever the process switches rings (init, shutdown, fork), which sends
// every thread back to claim a lane; it starts at 1 so that a fresh thread (0) never matches.
struct alignas(ring::kCacheLine) ActiveState {
  std::atomic<std::atomic<std::uint32_t>*> min_level;
  std::atomic<std::uint16_t> generation;
  std::atomic<bool> tsc;  // records are stamped with the TSC (else CLOCK_REALTIME nanoseconds)
};
extern constinit ActiveState g_active;

enum class LaneMode : std::uint8_t {
  unclaimed = 0,  // first call on this thread, or the process switched rings
  own,            // this thread is the lane's only producer: no lock
  shared,         // all lanes taken: the process's shared lane, behind a process-local lock
  fallback,       // no ring could be opened: records are formatted to stderr (or discarded)
};

// Per-thread producer state. Trivially constructible and destructible on purpose: such a
// thread_local is reached with one %fs-relative access, no TLS wrapper call. Line 0 holds all
// a plain record below WARNING needs, so a call touches one line of it.
struct alignas(ring::kCacheLine) LaneWriter {
  // --- line 0: every call ---
  std::byte* data;  // this lane's buffer
  ring::LaneDescriptor* desc;
  std::atomic<std::uint32_t>* consumer_waiting;
  std::uint64_t mask;       // lane_bytes - 1
  std::uint64_t write_pos;  // where the next record goes (absolute byte position)
  std::uint64_t limit_low;  // a TRACE..INFO record must end at or before this
  std::uint64_t seq;
  std::uint32_t tid;
  std::uint16_t generation;     // equals g_active.generation only while this thread owns a lane
  std::uint16_t context_flags;  // the thread's trace/correlation flags (a copy of t_context's)
  // --- line 1: WARNING and above, strings, and the slow paths ---
  std::uint64_t headroom;          // how far past limit_low WARNING and above may go
  std::uint32_t max_string;        // longer strings are cut and the record flagged truncated
  std::uint32_t max_record;        // a quarter lane: readers size their batches by it
  std::uint32_t block_timeout_us;  // overflow policy: 0 drops at once, else waits this long
  std::uint16_t mode_generation;   // the generation `mode` was set for
  LaneMode mode;
};
static_assert(offsetof(LaneWriter, headroom) == ring::kCacheLine, "line 0 of LaneWriter overflows");
// constinit: no dynamic initialisation, so no TLS wrapper call or init check on each access.
extern constinit thread_local LaneWriter t_lane;

// Out of line (libshm/producer/): claim a lane for this thread, initialising the process's ring
// on first use. Leaves t_lane.mode != unclaimed and its generation current.
void acquire_lane(LaneWriter& w) noexcept;
// The record does not fit below the cached limit, or must wrap: reloads the consumer cursor,
// writes a padding record if needed, applies the overflow policy. Null means dropped (counted).
std::byte* reserve_slow(LaneWriter& w, std::uint32_t size, Level level) noexcept;
void wake_consumer(LaneWriter& w) noexcept;
// Counts a record that cannot be written at all (larger than max_record).
void drop_record(LaneWriter& w, Level level) noexcept;

inline std::uint64_t now_ticks(bool tsc) noexcept {
#if defined(__x86_64__)
  if (tsc) return __rdtsc();
#endif
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// Space for `size` bytes (a multiple of 8) at the write position, or null if dropped.
[[gnu::always_inline]] inline std::byte* reserve(LaneWriter& w, std::uint32_t size, Level level) noexcept {
  const std::uint64_t offset = w.write_pos & w.mask;
  const std::uint64_t limit = level >= Level::warning ? w.limit_low + w.headroom : w.limit_low;
  if (offset + size > w.mask + 1 || w.write_pos + size > limit) [[unlikely]]
    return reserve_slow(w, size, level);
  return w.data + offset;
}

// Publishes the record written at `rec`: zero the next record's commit word, then the release
// store of this one's. Readers never look past a zero commit word, so they see all or nothing.
[[gnu::always_inline]] inline void commit(LaneWriter& w, std::byte* rec, std::uint32_t size,
                                          std::uint64_t commit_word) noexcept {
  const std::uint64_t next = w.write_pos + size;
  reinterpret_cast<std::atomic<std::uint64_t>*>(w.data + (next & w.mask))
      ->store(0, std::memory_order_relaxed);
  reinterpret_cast<ring::RecordHeader*>(rec)->commit.store(commit_word, std::memory_order_release);
  w.write_pos = next;
  // Relaxed: write_pos is for status and recovery; readers find records by commit words.
  w.desc->write_pos.store(next, std::memory_order_relaxed);
  // A sleeping consumer asked to be woken; while it is awake this is one read of a line that
  // nobody writes, so it stays in this core's cache.
  if (w.consumer_waiting->load(std::memory_order_relaxed) != 0) [[unlikely]]
    wake_consumer(w);
}

}  // namespace shmlog::detail
