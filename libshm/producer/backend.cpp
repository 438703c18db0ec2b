// The producer's slow paths: starting the process's ring, claiming and releasing lanes, a full or
// wrapping lane, the shared lane, waking a sleeping consumer, flush, shutdown and fork.
#include "producer/fallback.hpp"
#include "producer/open_ring.hpp"
#include "producer/site_registry.hpp"
#include "producer/stderr_write.hpp"

#include <shmlog/logger.hpp>
#include <shmlog/trace.hpp>

#include <climits>
#include <cstdio>
#include <thread>
#include <vector>

#include <cxxabi.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace shmlog::detail {
namespace {

// Before the first call: level 0 and generation 1 (a fresh thread has 0), so every call reaches
// acquire_lane and starts the ring there.
// the ring there.
std::atomic<std::uint32_t> g_idle_level{0};

struct Process {
  std::mutex mu;
  bool started = false;
  bool shut_down = false;
  bool atfork_registered = false;
  bool configured = false;  // `config` holds what init() or the first call chose: a forked child reuses it
  Config config;
  std::uint16_t generation = 1;
  OpenRing* ring = nullptr;
  // Rings this process switched away from. Never unmapped: another thread may be mid-record in
  // one. Kept here (not just leaked) so leak checkers see them as reachable.
  std::vector<std::unique_ptr<OpenRing>> retired;
  std::unique_ptr<FallbackWriter> fallback;
  std::atomic<std::uint32_t> fallback_level{0};
  std::atomic<std::uint64_t> lanes_released{0};
};

Process& process() {
  static auto* p = new Process();  // never destroyed: logging may go on during static destruction
  return *p;
}

// Tells the rest of the thread's exit not to claim a lane again.
thread_local bool t_exiting = false;

void release_lane(LaneWriter& w) noexcept {
  if (w.mode != LaneMode::own) return;
  w.desc->next_seq.store(w.seq, std::memory_order_relaxed);
  w.desc->write_pos.store(w.write_pos, std::memory_order_relaxed);
  w.desc->owner_tid.store(0, std::memory_order_release);  // publishes both to the next owner
  process().lanes_released.fetch_add(1, std::memory_order_relaxed);
  w.mode = LaneMode::unclaimed;
  w.generation = 0;
}

struct LaneReleaser {
  bool armed = false;
  ~LaneReleaser() {
    t_exiting = true;
    release_lane(t_lane);
  }
};
thread_local LaneReleaser t_releaser;

std::uint32_t current_tid() noexcept {
  return static_cast<std::uint32_t>(::syscall(SYS_gettid));
}

// The generation after the current one. 0 is skipped: it marks a thread that owns nothing.
std::uint16_t next_generation(const Process& p) {
  const auto g = static_cast<std::uint16_t>(p.generation + 1);
  return g == 0 ? std::uint16_t{1} : g;
}

// Points every later call at `level` and sends threads of older generations back to
// acquire_lane.
void publish(Process& p, std::uint16_t generation, std::atomic<std::uint32_t>* level, bool tsc) {
  p.generation = generation;
  g_active.min_level.store(level, std::memory_order_release);
  g_active.tsc.store(tsc, std::memory_order_relaxed);
  g_active.generation.store(p.generation, std::memory_order_release);
}

void on_fork_child() noexcept;

void retire_ring(Process& p) {
  if (p.ring == nullptr) return;
  p.retired.emplace_back(p.ring);
  p.ring = nullptr;
}

// Under p.mu: opens the ring (or the fallback) for `config`.
void start_locked(Process& p, const Config& config) {
  p.config = config;
  p.configured = true;
  p.started = true;
  if (!p.atfork_registered) {
    p.atfork_registered = true;
    ::pthread_atfork(nullptr, nullptr, on_fork_child);
  }
  if (p.ring != nullptr) {
    p.ring->header->writer_state.store(static_cast<std::uint32_t>(ring::WriterState::closed),
                                       std::memory_order_release);
    retire_ring(p);
  }
  const std::uint16_t generation = next_generation(p);
  auto created = create_ring(config, generation);
  if (created) {
    p.ring = created.value().release();
    SiteRegistry::instance().attach(p.ring);
    publish(p, generation, &p.ring->header->min_level, p.ring->tsc);
    return;
  }
  SiteRegistry::instance().attach(nullptr);
  p.fallback = make_fallback(config);
  notice("no ring in SHMLOG_DIR=%s (%s); logging %s instead", config.dir.c_str(),
         created.error().message.c_str(),
         config.fallback == FallbackSink::stderr_json ? "JSON lines to stderr" : "nowhere (discard)");
  p.fallback_level.store(static_cast<std::uint32_t>(config.level), std::memory_order_relaxed);
  publish(p, generation, &p.fallback_level, false);
}

void ensure_started(Process& p) {
  if (p.started) return;
  if (p.configured) {  // a forked child: same settings, a ring of its own
    start_locked(p, Config(p.config));
    return;
  }
  std::string problems;
  Config config = config_from_env_lenient(problems);
  if (!problems.empty()) notice("ignoring invalid settings: %s", problems.c_str());
  start_locked(p, config);
}

void on_fork_child() noexcept {
  // Only this thread exists in the child. The parent's ring stays the parent's: close our copy
  // of its lock descriptor (or the lock would outlive the parent) and open a new ring lazily.
  Process& p = process();
  new (&p.mu) std::mutex();
  SiteRegistry::instance().reset_after_fork();
  if (p.fallback) p.fallback->reset_after_fork();
  if (p.ring != nullptr) {
    if (p.ring->lock_fd >= 0) ::close(p.ring->lock_fd);
    p.ring->lock_fd = -1;
    retire_ring(p);
  }
  t_lane = LaneWriter{};
  if (p.shut_down) {  // the parent had shut logging down: so has the child
    publish(p, next_generation(p), &p.fallback_level, false);
    return;
  }
  p.started = false;
  publish(p, next_generation(p), &g_idle_level, false);
}

bool claim_own_lane(LaneWriter& w, OpenRing& r, std::uint32_t tid) noexcept {
  const std::uint32_t n = r.layout.lane_count;
  for (std::uint32_t k = 0; k + 1 < n; ++k) {
    const std::uint32_t lane = 1 + (tid + k) % (n - 1);  // spread threads, skip the shared lane
    std::uint32_t expected = 0;
    auto& owner = r.lanes[lane].owner_tid;
    if (owner.load(std::memory_order_relaxed) != 0) continue;
    if (!owner.compare_exchange_strong(expected, tid, std::memory_order_acquire, std::memory_order_relaxed))
      continue;
    r.lanes[lane].claim_count.fetch_add(1, std::memory_order_relaxed);
    attach_writer(w, r, lane, LaneMode::own, tid);
    t_releaser.armed = true;  // first touch registers its destructor for this thread
    return true;
  }
  return false;
}

void write_record(LaneWriter& s, Level level, std::uint32_t site, std::uint32_t tid, std::uint16_t logger_id,
                  const std::byte* payload, std::uint32_t payload_bytes, std::uint16_t flags) noexcept {
  const std::uint32_t size = ring::align_record(std::uint64_t{ring::kRecordHeaderBytes} + payload_bytes);
  if (size > s.max_record) {
    drop_record(s, level);
    return;
  }
  std::byte* rec = reserve(s, size, level);
  if (rec == nullptr) return;
  auto* h = reinterpret_cast<ring::RecordHeader*>(rec);
  h->site_id = site;
  h->tid = tid;
  h->seq = s.seq++;
  h->timestamp = now_ticks(g_active.tsc.load(std::memory_order_relaxed));
  h->logger_id = logger_id;
  h->reserved = 0;
  h->payload_bytes = payload_bytes;
  std::memcpy(rec + ring::kRecordHeaderBytes, payload, payload_bytes);
  commit(s, rec, size,
         ring::make_commit(size, ring::RecordKind::log, static_cast<std::uint8_t>(level), flags));
}

void count_drop(LaneWriter& w, Level level) noexcept {
  auto& c = w.desc->dropped[static_cast<unsigned>(level) % kLevelCount];
  c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // one writer: no RMW
}

}  // namespace

constinit ActiveState g_active{&g_idle_level, 1, false};
constinit thread_local LaneWriter t_lane{};
constinit thread_local SiteCacheEntry t_site_cache[kSiteCacheSize]{};
constinit thread_local ThreadContext t_context{};

void acquire_lane(LaneWriter& w) noexcept {
  Process& p = process();
  try {
    std::lock_guard lock(p.mu);
    ensure_started(p);
    const std::uint32_t tid = w.tid != 0 ? w.tid : current_tid();
    if (p.ring == nullptr) {
      w = LaneWriter{};
      w.mode = LaneMode::fallback;
      w.mode_generation = p.generation;
      w.tid = tid;
      w.context_flags = t_context.flags;
      w.max_string = p.config.max_string_bytes;
      return;
    }
    if (!t_exiting && claim_own_lane(w, *p.ring, tid)) return;
    p.ring->header->lane_waits.fetch_add(1, std::memory_order_relaxed);
    w = LaneWriter{};
    w.mode = LaneMode::shared;
    w.mode_generation = p.generation;
    w.tid = tid;
    w.context_flags = t_context.flags;
    w.seq = p.lanes_released.load(std::memory_order_relaxed);  // shared mode: last release seen
    w.max_string = p.ring->max_string_bytes;
  } catch (...) {
    // Only std::mutex can throw here (system_error); log nothing rather than take the app down.
    w.mode = LaneMode::fallback;
    w.generation = 0;
    w.mode_generation = g_active.generation.load(std::memory_order_relaxed);
  }
}

void drop_record(LaneWriter& w, Level level) noexcept {
  count_drop(w, level);
}

std::byte* reserve_slow(LaneWriter& w, std::uint32_t size, Level level) noexcept {
  const std::uint64_t lane_bytes = w.mask + 1;
  if (size > w.max_record) {  // the caller checks variable-size records; this catches the rest
    count_drop(w, level);
    return nullptr;
  }
  const bool may_block = w.block_timeout_us != 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(w.block_timeout_us);
  const std::uint64_t headroom = w.headroom;
  bool counted_block = false;
  for (unsigned attempt = 0;; ++attempt) {
    const std::uint64_t read = w.desc->read_pos.load(std::memory_order_acquire);
    w.limit_low = read + lane_bytes - ring::kRecordAlign - headroom;
    const std::uint64_t limit = level >= Level::warning ? w.limit_low + headroom : w.limit_low;
    const std::uint64_t offset = w.write_pos & w.mask;
    const std::uint64_t pad = offset + size > lane_bytes ? lane_bytes - offset : 0;
    if (w.write_pos + pad + size <= limit) {
      if (pad != 0) {
        // Zero the commit word at the lane's start first: the reader jumps there after the
        // padding and must find either nothing or the new record.
        reinterpret_cast<std::atomic<std::uint64_t>*>(w.data)->store(0, std::memory_order_relaxed);
        reinterpret_cast<std::atomic<std::uint64_t>*>(w.data + offset)
            ->store(ring::make_commit(static_cast<std::uint32_t>(pad), ring::RecordKind::padding, 0, 0),
                    std::memory_order_release);
        w.write_pos += pad;
      }
      return w.data + (w.write_pos & w.mask);
    }
    if (!may_block || std::chrono::steady_clock::now() >= deadline) break;
    if (!counted_block) {
      counted_block = true;
      w.desc->blocked.store(w.desc->blocked.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    if (w.consumer_waiting->load(std::memory_order_relaxed) != 0) wake_consumer(w);
    if (attempt < 64) {
#if defined(__x86_64__)
      __builtin_ia32_pause();
#endif
    } else if (attempt < 128) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  count_drop(w, level);
  return nullptr;
}

void wake_consumer(LaneWriter& w) noexcept {
  // consumer_waiting and wake_futex sit next to each other in the header's wake line.
  auto* header = reinterpret_cast<ring::FileHeader*>(reinterpret_cast<std::byte*>(w.consumer_waiting) -
                                                     offsetof(ring::FileHeader, consumer_waiting));
  if (w.consumer_waiting->exchange(0, std::memory_order_acq_rel) == 0) return;  // another producer woke it
  header->wake_futex.fetch_add(1, std::memory_order_release);
  // Not FUTEX_PRIVATE: the consumer waits on the same word in another process's mapping.
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&header->wake_futex), FUTEX_WAKE, INT_MAX, nullptr,
            nullptr, 0);
}

void emit_slow(LaneWriter& w, Level level, std::uint32_t site, std::uint16_t logger_id,
               const std::byte* payload, std::uint32_t payload_bytes, std::uint16_t flags) noexcept {
  Process& p = process();
  if (w.mode == LaneMode::shared) {
    // A lane was released since this thread last looked: try to get one of its own.
    if (!t_exiting && p.lanes_released.load(std::memory_order_relaxed) != w.seq) {
      acquire_lane(w);
      if (w.mode == LaneMode::own) {
        write_record(w, level, site, w.tid, logger_id, payload, payload_bytes, flags);
        return;
      }
    }
    OpenRing* r = nullptr;
    {
      std::lock_guard lock(p.mu);
      if (p.ring != nullptr && p.ring->generation == w.mode_generation) r = p.ring;
    }
    if (r == nullptr) return;  // the ring was switched between the check and here: rare, dropped
    std::lock_guard lock(r->shared_mu);
    write_record(r->shared, level, site, w.tid, logger_id, payload, payload_bytes, flags);
    return;
  }
  if (w.mode == LaneMode::own) {  // reached when acquire_lane turned a shared thread into an owner
    write_record(w, level, site, w.tid, logger_id, payload, payload_bytes, flags);
    return;
  }
  if (w.mode == LaneMode::fallback) {
    FallbackWriter* sink = nullptr;
    {
      std::lock_guard lock(p.mu);
      sink = p.fallback.get();
    }
    if (sink != nullptr) sink->emit(level, site, w.tid, logger_id, payload, payload_bytes, flags);
  }
}

std::uint32_t site_id_miss(const SiteKey& key, SiteCacheEntry& e) noexcept {
  const std::uint32_t id = site_id(key);
  if (id != 0) e = SiteCacheEntry{key.format, key.file, key.signature, key.line, id};
  return id;
}

std::uint32_t site_id(const SiteKey& key) noexcept {
  try {
    return SiteRegistry::instance().site_id(key);
  } catch (...) {
    return 0;
  }
}

}  // namespace shmlog::detail

namespace shmlog {

using detail::process;

Status init(const Config& config) {
  if (auto ok = config.validate(); !ok) return ok.error();
  auto& p = process();
  std::lock_guard lock(p.mu);
  p.shut_down = false;
  detail::start_locked(p, config);
  return Ok{};
}

void shutdown() noexcept {
  auto& p = process();
  std::lock_guard lock(p.mu);
  if (p.shut_down) return;
  p.shut_down = true;
  p.started = true;  // no lazy restart
  if (p.ring != nullptr) {
    p.ring->header->writer_state.store(static_cast<std::uint32_t>(ring::WriterState::closed),
                                       std::memory_order_release);
    detail::retire_ring(p);
  }
  if (!p.fallback) {
    try {
      p.fallback = detail::make_fallback(p.config);
    } catch (...) {
    }
  }
  p.fallback_level.store(static_cast<std::uint32_t>(p.config.level), std::memory_order_relaxed);
  detail::publish(p, detail::next_generation(p), &p.fallback_level, false);
}

bool flush(std::chrono::milliseconds timeout) noexcept {
  auto& p = process();
  detail::OpenRing* r = nullptr;
  {
    std::lock_guard lock(p.mu);
    r = p.ring;
  }
  if (r == nullptr) {
    std::fflush(stderr);
    return true;
  }
  const std::uint32_t n = r->layout.lane_count;
  std::vector<std::uint64_t> targets(n);
  for (std::uint32_t i = 0; i < n; ++i) targets[i] = r->lanes[i].write_pos.load(std::memory_order_acquire);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    bool drained = true;
    for (std::uint32_t i = 0; i < n && drained; ++i)
      drained = r->lanes[i].read_pos.load(std::memory_order_acquire) >= targets[i];
    if (drained) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    if (r->header->consumer_waiting.load(std::memory_order_relaxed) != 0) {
      detail::LaneWriter w{};
      w.consumer_waiting = &r->header->consumer_waiting;
      detail::wake_consumer(w);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

std::string ring_path() {
  auto& p = process();
  std::lock_guard lock(p.mu);
  return p.ring != nullptr ? p.ring->path : std::string{};
}

std::string_view sink_name() noexcept {
  auto& p = process();
  std::lock_guard lock(p.mu);
  detail::ensure_started(p);
  if (p.ring != nullptr) return "ring";
  return p.config.fallback == FallbackSink::stderr_json ? "stderr" : "discard";
}

ExceptionInfo current_exception() noexcept {
  std::exception_ptr ep = std::current_exception();
  if (!ep) return {"", "no exception is being handled"};
  try {
    std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    return {typeid(e).name(), e.what()};
  } catch (...) {
    const std::type_info* t = abi::__cxa_current_exception_type();
    return {t != nullptr ? t->name() : "", ""};
  }
}

Logger::Logger(std::string_view name) noexcept {
  try {
    id_ = detail::SiteRegistry::instance().logger_id(name);
  } catch (...) {
    id_ = 0;
  }
}

const std::string& Logger::context_bytes() const noexcept {
  static const std::string empty;
  return context_ ? *context_ : empty;
}

ScopedTimer Logger::time(FormatString<> f, Level level) const noexcept {
  const detail::SiteKey key{f.site.text.data(),
                            f.site.file,
                            f.site.function,
                            detail::Signature<>::codes.data(),
                            static_cast<std::uint32_t>(f.site.text.size()),
                            f.site.line,
                            level};
  return ScopedTimer(*this, detail::site_id(key), level);
}

ScopedTimer::~ScopedTimer() {
  if (logger_ == nullptr || !Logger::enabled(level_)) return;
  const auto ns = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start_)
          .count());
  switch (level_) {
    case Level::trace:
      logger_->log_site<Level::trace>(site_, ring::kHasDuration, ns);
      break;
    case Level::debug:
      logger_->log_site<Level::debug>(site_, ring::kHasDuration, ns);
      break;
    case Level::info:
      logger_->log_site<Level::info>(site_, ring::kHasDuration, ns);
      break;
    case Level::warning:
      logger_->log_site<Level::warning>(site_, ring::kHasDuration, ns);
      break;
    case Level::error:
      logger_->log_site<Level::error>(site_, ring::kHasDuration, ns);
      break;
    case Level::critical:
      logger_->log_site<Level::critical>(site_, ring::kHasDuration, ns);
      break;
  }
}

}  // namespace shmlog
