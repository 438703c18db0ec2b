// The ring file layout: the one source of truth shared by the writer, the reader, the sidecar,
// the tests and docs/ring-format.md. Change a field here and bump kLayoutVersion.
//
// A ring file is one producer process's log buffer, shared with any number of consumers:
//
//   [FileHeader][LaneDescriptor x lane_count][lane data x lane_count][site registry]
//
// Every region starts on a cache line; every shared field is a fixed-width lock-free atomic at
// a fixed offset (checked below), so another language can map the file and read it. Offsets,
// never pointers. All integers are little-endian (x86-64 and AArch64, the only targets).
//
// Append protocol of a lane (one producer at a time, any number of consumers):
//   1. The producer keeps its own write position; it reloads the shared read_pos only when
//      its cached copy says the record would not fit (Quill's trick).
//   2. It writes the record body after the 8-byte commit word, zeroes the commit word of the
//      *next* record (so a reader always stops there), then stores the commit word with
//      memory_order_release. That store is the commit: a nonzero length means "complete".
//   3. A record never straddles the end of the lane buffer: a padding record fills the tail
//      and the record starts again at offset 0. A log record is at most lane_bytes / 4 bytes
//      (kMaxRecordShare), so a reader can size its buffers by the lane.
//   A producer that dies between 2's body writes and its commit store leaves a zero commit
//   word, which no reader ever emits.
//
// Consumption: a consumer copies committed records out, then moves read_pos forward with a
// compare-and-swap from the position it started at. Only a successful CAS takes the records;
// a failed one means another consumer took them first, so no record is ever taken twice. An
// observer keeps a private cursor and writes nothing.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace shmlog::ring {

inline constexpr std::uint64_t kMagic = 0x31474e52474c4853ULL;  // "SHLGRNG1" in file byte order
inline constexpr std::uint32_t kLayoutVersion = 1;
inline constexpr std::uint32_t kCacheLine = 64;
inline constexpr std::uint32_t kMaxLanes = 1024;
inline constexpr std::uint64_t kMinLaneBytes = 4096;
inline constexpr std::uint64_t kMaxLaneBytes = 1ULL << 30;
inline constexpr std::uint64_t kMinSitesBytes = 4096;
inline constexpr std::uint64_t kMaxSitesBytes = 64ULL << 20;
inline constexpr std::size_t kIdentityBytes = 64;  // service, pod, ... including the NUL
inline constexpr int kLevelCount = 6;              // TRACE .. CRITICAL, see level.hpp

// Ring files end in this suffix; the writer creates ".<name>.tmp" first and renames it, so a
// reader that lists the directory never sees a half-initialised file.
inline constexpr char kFileSuffix[] = ".ring";

// How record timestamps are stamped (FileHeader::clock_source).
enum class ClockSource : std::uint32_t {
  realtime_ns = 1,  // nanoseconds since the Unix epoch (CLOCK_REALTIME)
  tsc = 2,          // raw x86 TSC ticks; convert with the anchor and tsc_hz below
};

// FileHeader::writer_state.
enum class WriterState : std::uint32_t {
  live = 1,    // the writer process has it open (also see the liveness lock below)
  closed = 2,  // the writer shut down cleanly; nothing more will be appended
};

// Liveness: the writer holds an open-file-description lock (F_OFD_SETLK, F_WRLCK) on byte
// kWriterLockByte for its whole life; the kernel drops it when the process dies, whatever
// the PID namespace. A consumer that wants to be the only drainer locks kConsumerLockByte.
inline constexpr long kWriterLockByte = 0;
// Lane 0 is the process's shared lane (threads that found no free lane take turns behind a
// process-local lock); its owner_tid holds this value for as long as the file exists.
inline constexpr std::uint32_t kSharedLane = 0;
inline constexpr std::uint32_t kSharedLaneOwner = 0xFFFFFFFFu;
inline constexpr long kConsumerLockByte = 1;

struct alignas(kCacheLine) FileHeader {
  // --- line 0: layout, immutable once the file has its final name ---
  std::uint64_t magic;
  std::uint32_t layout_version;
  std::uint32_t header_bytes;  // sizeof(FileHeader)
  std::uint32_t cache_line_bytes;
  std::uint32_t lane_count;
  std::uint64_t lane_bytes;    // data bytes per lane; a power of two
  std::uint64_t lanes_offset;  // LaneDescriptor[lane_count]
  std::uint64_t data_offset;   // lane i's data at data_offset + i * lane_bytes
  std::uint64_t sites_offset;  // site registry
  std::uint64_t sites_bytes;
  // --- line 1: writer identity and clock calibration, immutable ---
  std::uint64_t file_bytes;
  std::int32_t writer_pid;  // in the writer's PID namespace: informative, not for liveness
  std::uint32_t clock_source;
  std::uint64_t start_ns;    // CLOCK_REALTIME when the file was created
  std::uint64_t tsc_anchor;  // TSC read next to start_ns (clock_source == tsc)
  std::uint64_t tsc_hz;      // ticks per second, measured at creation
  std::uint8_t boot_id[16];  // /proc/sys/kernel/random/boot_id: TSC values only compare
                             // within one boot
  std::uint64_t reserved1;
  // --- lines 2..6: who wrote it (NUL-terminated UTF-8, truncated to fit) ---
  char service[kIdentityBytes];
  char pod[kIdentityBytes];
  char pod_namespace[kIdentityBytes];
  char container[kIdentityBytes];
  char host[kIdentityBytes];
  // --- line 7: read by producers on every call, written by consumers rarely: one line, so a
  // call touches one line of the header ---
  alignas(kCacheLine) std::atomic<std::uint32_t> min_level;  // records below it are skipped
  std::atomic<std::uint32_t> writer_state;                   // WriterState
  std::atomic<std::uint32_t> consumer_waiting;               // 1 while a consumer sleeps
  // --- line 8: the futex word, written by a producer that saw consumer_waiting ---
  alignas(kCacheLine) std::atomic<std::uint32_t> wake_futex;
  // --- line 9: site registry state, written under the writer's process-local lock ---
  alignas(kCacheLine) std::atomic<std::uint64_t> sites_used;  // committed registry bytes
  std::atomic<std::uint64_t> sites_dropped;  // entries that did not fit (records show "unknown site")
  std::atomic<std::uint64_t> lane_waits;     // times a thread found no free lane
  // --- line 10: reserved for consumers (sidecar heartbeat) ---
  alignas(kCacheLine) std::atomic<std::uint64_t> consumer_heartbeat_ns;
  std::atomic<std::int32_t> consumer_pid;
};

// One per lane. Three cache lines so the producer's hot line, its rarely written counters and
// the consumers' cursor never share a line.
struct alignas(kCacheLine) LaneDescriptor {
  // --- line 0: producer, written on every record ---
  std::atomic<std::uint32_t> owner_tid;    // 0 = free; else the owning thread's tid
  std::atomic<std::uint32_t> claim_count;  // how many times the lane was claimed
  std::atomic<std::uint64_t> write_pos;    // end of the last committed record (relaxed)
  std::atomic<std::uint64_t> next_seq;     // published when the owner releases the lane
  // --- line 1: producer, rarely written ---
  alignas(kCacheLine) std::atomic<std::uint64_t> dropped[kLevelCount];  // per level
  std::atomic<std::uint64_t> blocked;  // records that waited for space (block policy)
  // --- line 2: consumers ---
  alignas(kCacheLine) std::atomic<std::uint64_t> read_pos;  // every byte before it is free
  // How many of `dropped` the draining consumer has already reported (it writes a WARNING line
  // for the difference), kept here so a restarted sidecar neither repeats nor misses a report.
  std::atomic<std::uint64_t> drops_reported[kLevelCount];
};

// Record header: the first bytes of every record, 8-byte aligned. `commit` is written last.
inline constexpr std::uint32_t kRecordAlign = 8;
inline constexpr std::uint32_t kMaxRecordShare = 4;  // a log record is at most lane_bytes / 4

enum class RecordKind : std::uint8_t { log = 1, padding = 2 };

// RecordHeader::flags: which optional sections follow the arguments, in this order.
enum RecordFlag : std::uint16_t {
  kHasContext = 1u << 0,      // u32 byte count, then context entries
  kHasTrace = 1u << 1,        // 16-byte trace id, 8-byte span id, 1 byte trace flags
  kHasCorrelation = 1u << 2,  // u16 length, bytes
  kHasException = 1u << 3,    // u16 type length, type (mangled), u32 what length, what
  kHasDuration = 1u << 4,     // u64 nanoseconds
  kTruncated = 1u << 5,       // some string was cut to fit the record size limit
};

struct RecordHeader {
  std::atomic<std::uint64_t> commit;  // length (bytes, incl. header) | kind << 32 | level << 40
                                      // | flags << 48; zero = not written yet
  std::uint32_t site_id;
  std::uint32_t tid;
  std::uint64_t seq;        // per lane, from 0, one per log record (padding has none)
  std::uint64_t timestamp;  // see FileHeader::clock_source
  std::uint16_t logger_id;
  std::uint16_t reserved;
  std::uint32_t payload_bytes;  // bytes of payload after this header (<= length - header)
};
inline constexpr std::uint32_t kRecordHeaderBytes = 40;

constexpr std::uint64_t make_commit(std::uint32_t length, RecordKind kind, std::uint8_t level,
                                    std::uint16_t flags) {
  return std::uint64_t{length} | std::uint64_t{static_cast<std::uint8_t>(kind)} << 32 |
         std::uint64_t{level} << 40 | std::uint64_t{flags} << 48;
}
constexpr std::uint32_t commit_length(std::uint64_t c) {
  return static_cast<std::uint32_t>(c);
}
constexpr std::uint8_t commit_kind(std::uint64_t c) {
  return static_cast<std::uint8_t>(c >> 32);
}
constexpr std::uint8_t commit_level(std::uint64_t c) {
  return static_cast<std::uint8_t>(c >> 40);
}
constexpr std::uint16_t commit_flags(std::uint64_t c) {
  return static_cast<std::uint16_t>(c >> 48);
}
constexpr std::uint32_t align_record(std::uint64_t n) {
  return static_cast<std::uint32_t>((n + kRecordAlign - 1) & ~std::uint64_t{kRecordAlign - 1});
}

// Argument type codes: a site stores one per argument; the record then holds the raw values.
// Scalars are stored in their native little-endian width; strings as u32 length + bytes.
enum class ArgType : std::uint8_t {
  boolean = 'b',  // 1 byte, 0 or 1
  character = 'c',
  i8 = 'h',
  i16 = 's',
  i32 = 'i',
  i64 = 'l',
  u8 = 'H',
  u16 = 'S',
  u32 = 'I',
  u64 = 'L',
  f32 = 'f',
  f64 = 'd',
  string = 'z',   // u32 length + bytes (UTF-8 expected, not trusted)
  pointer = 'p',  // u64
};

// Site registry: append-only entries, 8-byte aligned, starting at sites_offset. Each entry
// starts with a commit word exactly like a record (length | kind << 32); a zero word ends it.
enum class EntryKind : std::uint8_t { site = 1, logger = 2 };

struct SiteEntry {  // followed by file, function, format, arg types (no NULs)
  std::atomic<std::uint64_t> commit;
  std::uint32_t id;
  std::uint32_t line;
  std::uint8_t level;
  std::uint8_t arg_count;
  std::uint16_t file_len;
  std::uint16_t function_len;
  std::uint16_t reserved;
  std::uint32_t format_len;
  std::uint32_t reserved2;
};
inline constexpr std::uint32_t kSiteEntryBytes = 32;

struct LoggerEntry {  // followed by the name
  std::atomic<std::uint64_t> commit;
  std::uint32_t id;
  std::uint16_t name_len;
  std::uint16_t reserved;
};
inline constexpr std::uint32_t kLoggerEntryBytes = 16;

// Context entries (per-call key/values and child-logger context), packed:
//   u8 value type (ArgType), u8 key length, key bytes, value (as an argument of that type).
inline constexpr std::size_t kMaxKeyBytes = 255;

// ---- the layout is part of the file format: pin it ----
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic<std::int32_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<std::uint64_t>) == 8);
static_assert(sizeof(FileHeader) == 11 * kCacheLine);
static_assert(offsetof(FileHeader, file_bytes) == 64);
static_assert(offsetof(FileHeader, service) == 128);
static_assert(offsetof(FileHeader, min_level) == 7 * kCacheLine);
static_assert(offsetof(FileHeader, consumer_waiting) == 7 * kCacheLine + 8);
static_assert(offsetof(FileHeader, wake_futex) == 8 * kCacheLine);
static_assert(offsetof(FileHeader, sites_used) == 9 * kCacheLine);
static_assert(offsetof(FileHeader, consumer_heartbeat_ns) == 10 * kCacheLine);
static_assert(sizeof(LaneDescriptor) == 3 * kCacheLine);
static_assert(offsetof(LaneDescriptor, dropped) == kCacheLine);
static_assert(offsetof(LaneDescriptor, read_pos) == 2 * kCacheLine);
static_assert(offsetof(LaneDescriptor, drops_reported) == 2 * kCacheLine + 8);
static_assert(sizeof(RecordHeader) == kRecordHeaderBytes);
static_assert(offsetof(RecordHeader, timestamp) == 24);
static_assert(sizeof(SiteEntry) == kSiteEntryBytes);
static_assert(sizeof(LoggerEntry) == kLoggerEntryBytes);

// Where things are, computed the same way by writer and reader.
struct Layout {
  std::uint32_t lane_count;
  std::uint64_t lane_bytes;
  std::uint64_t sites_bytes;

  constexpr std::uint64_t lanes_offset() const { return sizeof(FileHeader); }
  constexpr std::uint64_t data_offset() const {
    std::uint64_t end = lanes_offset() + std::uint64_t{lane_count} * sizeof(LaneDescriptor);
    return (end + 4095) & ~std::uint64_t{4095};  // page-align the data for huge lanes
  }
  constexpr std::uint64_t sites_offset() const {
    return data_offset() + std::uint64_t{lane_count} * lane_bytes;
  }
  constexpr std::uint64_t file_bytes() const { return sites_offset() + sites_bytes; }
};

}  // namespace shmlog::ring
