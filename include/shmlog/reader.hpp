// Reading ring files: what the sidecar, `shmlog ring`, the tests and the fuzzer use.
//
// A RingReader maps one ring file and validates its header before anything else; every length
// and offset read from the file afterwards is checked against the mapping, and records are
// copied out before they are decoded, so a truncated, corrupted or hostile file yields an
// Error, never a crash, a hang or a read outside the mapping (a file shrunk under the mapping
// is caught too: see libshm/reader/safe_copy.cpp).
#pragma once

#include <shmlog/level.hpp>
#include <shmlog/result.hpp>
#include <shmlog/ring_format.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace shmlog {

// One decoded argument or context value. Strings point into the reader's private copy of the
// record and stay valid until the next record is decoded into the same RecordView.
struct ArgValue {
  ring::ArgType type = ring::ArgType::i64;
  union {
    bool b;
    char c;
    std::int64_t i;
    std::uint64_t u;
    double d;
  };
  std::string_view s;  // ArgType::string only
  ArgValue() : u(0) {}
};

struct ContextEntry {
  std::string_view key;
  ArgValue value;
};

// A call site as registered in the ring (strings copied out and validated).
struct SiteInfo {
  std::uint32_t id = 0;
  std::uint32_t line = 0;
  Level level = Level::info;
  std::string file;
  std::string function;
  std::string format;
  std::string arg_types;  // one ring::ArgType code per argument
};

// Resolves the ids a record carries. Implemented by RingReader (from the file's registry) and by
// the library's own registry (for the stderr fallback).
class SiteLookup {
 public:
  virtual ~SiteLookup() = default;
  virtual const SiteInfo* site(std::uint32_t id) = 0;
  virtual const std::string* logger(std::uint16_t id) = 0;  // null for id 0 or unknown
};

struct RecordView {
  std::uint32_t lane = 0;
  std::uint64_t position = 0;  // absolute byte position in its lane
  std::uint64_t seq = 0;
  std::uint64_t raw_timestamp = 0;
  std::uint64_t timestamp_ns = 0;  // Unix epoch nanoseconds (converted from the TSC if needed)
  Level level = Level::info;
  std::uint32_t tid = 0;
  std::uint16_t flags = 0;
  std::uint32_t site_id = 0;
  const SiteInfo* site = nullptr;  // null: the ring does not know the id (registry full)
  std::uint16_t logger_id = 0;
  const std::string* logger = nullptr;
  std::vector<ArgValue> args;
  std::vector<ContextEntry> context;
  bool has_trace = false;
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> span_id{};
  std::uint8_t trace_flags = 0;
  std::string_view correlation_id;
  bool has_exception = false;
  std::string_view exception_type;  // as stored (mangled by the compiler's ABI)
  std::string_view exception_what;
  bool has_duration = false;
  std::uint64_t duration_ns = 0;
  bool truncated = false;
};

// Decodes one log record (header and payload, as copied out of a lane) into `out`. Checks every
// length against `bytes` and the site's argument types; `out` keeps pointing into `bytes`.
Status decode_record(std::span<const std::byte> bytes, SiteLookup& sites, RecordView& out);

// Converts record timestamps of one ring to Unix nanoseconds.
class ClockConverter {
 public:
  ClockConverter() = default;
  explicit ClockConverter(const ring::FileHeader& header);
  std::uint64_t to_ns(std::uint64_t raw) const;
  // For TSC rings of this boot: re-estimates the tick rate over the ring's whole lifetime,
  // which is far more precise than the writer's quick calibration at start-up.
  void refresh();
  // refresh() when due (1 s after the last one, doubling up to a minute); costs one TSC read
  // otherwise. RingReader calls it once per batch.
  void maybe_refresh();

 private:
  ring::ClockSource source_ = ring::ClockSource::realtime_ns;
  std::uint64_t start_ns_ = 0;
  std::uint64_t anchor_ = 0;
  std::uint64_t hz_ = 0;
  bool same_boot_ = false;
  std::uint64_t next_refresh_ = 0;  // TSC value
  std::uint64_t refresh_interval_s_ = 1;
};

// The immutable facts of a ring, copied from its validated header.
struct RingInfo {
  std::string path;
  std::uint32_t layout_version = 0;
  std::uint32_t lane_count = 0;
  std::uint64_t lane_bytes = 0;
  std::uint64_t sites_bytes = 0;
  std::uint64_t file_bytes = 0;
  std::int32_t writer_pid = 0;
  ring::ClockSource clock_source = ring::ClockSource::realtime_ns;
  std::uint64_t start_ns = 0;
  std::uint64_t tsc_hz = 0;
  std::string service, pod, pod_namespace, container, host;
};

// A lane's shared state at one moment (fields are read separately, so only roughly coherent).
struct LaneState {
  std::uint32_t owner_tid = 0;
  std::uint32_t claim_count = 0;
  std::uint64_t next_seq = 0;  // as published at the last release of the lane
  std::uint64_t write_pos = 0;
  std::uint64_t read_pos = 0;
  std::array<std::uint64_t, kLevelCount> dropped{};
  std::array<std::uint64_t, kLevelCount> drops_reported{};
  std::uint64_t blocked = 0;
  std::uint64_t used_bytes() const { return write_pos > read_pos ? write_pos - read_pos : 0; }
};

// Ring-wide counters at one moment.
struct RingCounters {
  std::uint64_t sites_used = 0;     // registry bytes in use
  std::uint64_t sites_dropped = 0;  // registry entries that did not fit
  std::uint64_t lane_waits = 0;     // times a thread found no free lane and used the shared one
  std::int32_t consumer_pid = 0;
  std::uint64_t consumer_heartbeat_ns = 0;
};

enum class OpenMode {
  consumer,  // may take records (moves read_pos) and write control fields (min_level)
  observer,  // read-only mapping; never writes to the file
};

// A batch of committed records copied out of one lane, not yet taken.
struct Batch {
  std::uint32_t lane = 0;
  std::uint64_t start = 0;  // lane position of the first record
  std::uint64_t end = 0;    // position after the last record (padding included)
  // The records back to back in bytes[0, used). The vector keeps its size between batches so
  // that reusing a Batch never zeroes memory again.
  std::vector<std::byte> bytes;
  std::size_t used = 0;
  std::vector<std::pair<std::uint32_t, std::uint64_t>> records;  // offset in bytes, position
  bool empty() const { return records.empty() && start == end; }
};

class RingReader : public SiteLookup {
 public:
  // Maps and validates the ring at `path`. Errors say what is wrong with which file.
  static Result<std::unique_ptr<RingReader>> open(const std::string& path, OpenMode mode);
  ~RingReader() override;
  RingReader(const RingReader&) = delete;
  RingReader& operator=(const RingReader&) = delete;

  const RingInfo& info() const { return info_; }
  OpenMode mode() const { return mode_; }
  // True while the writer process holds its liveness lock.
  bool writer_alive() const;
  ring::WriterState writer_state() const;
  LaneState lane_state(std::uint32_t lane) const;
  Level min_level() const;
  // Consumer mode only: the level producers read on every call.
  Status set_min_level(Level level);
  const ClockConverter& clock() const { return clock_; }
  ClockConverter& clock() { return clock_; }
  // Consumer mode only: the sleep handshake with producers. arm_wake() sets consumer_waiting (a
  // producer that sees it bumps wake_futex and wakes it) and returns wake_futex's value, which a
  // futex wait on wake_word() compares against. Look at the lanes once more after arming: a
  // record committed just before is not announced. disarm_wake() clears the flag after a wait.
  std::uint32_t arm_wake();
  void disarm_wake();
  const std::atomic<std::uint32_t>* wake_word() const;
  // Consumer mode only: who drains this ring, and that it is still at it (for `shmlog status`).
  void heartbeat(std::int32_t pid, std::uint64_t now_ns);
  // Consumer mode only: records that the drops up to `reported` (per level) have been reported.
  Status set_drops_reported(std::uint32_t lane, const std::array<std::uint64_t, kLevelCount>& reported);
  // Consumer mode only: the exclusive drainer lock (kConsumerLockByte). False if another
  // process holds it.
  bool try_lock_consumer();

  // Copies up to `max_records` committed records of `lane` starting at `from` (the lane's
  // read_pos if from is npos) into `batch`, without taking them. Stops at the first
  // uncommitted record. An invalid record is an Error naming the lane and position; the lane
  // should then be set aside (the writer is broken or hostile).
  static constexpr std::uint64_t npos = ~std::uint64_t{0};
  Status read_batch(std::uint32_t lane, std::size_t max_records, std::size_t max_bytes, Batch& batch,
                    std::uint64_t from = npos);
  // Takes the batch: moves read_pos from batch.start to batch.end with a compare-and-swap.
  // False if another consumer moved it first (then these records are that consumer's).
  bool commit(const Batch& batch);
  // Decodes record `i` of `batch` (timestamps converted, sites resolved).
  Status decode(const Batch& batch, std::size_t i, RecordView& out);

  // Consumer: reads, takes and then hands each record to `fn`; returns how many.
  // Observer: hands records from a private cursor per lane without taking them.
  Result<std::size_t> drain(std::uint32_t lane, std::size_t max_records,
                            const std::function<void(const RecordView&)>& fn);

  // Observer: where the private cursor of `lane` stands (the next record it will hand out).
  std::uint64_t observer_position(std::uint32_t lane) const {
    return lane < observer_pos_.size() ? observer_pos_[lane] : 0;
  }

  // SiteLookup, refreshing from the file's registry on a miss.
  const SiteInfo* site(std::uint32_t id) override;
  const std::string* logger(std::uint16_t id) override;
  // Reads the whole registry now; returns how many call sites the ring has registered.
  std::size_t load_sites();
  std::uint64_t sites_dropped() const;
  RingCounters counters() const;
  // Problems found in the site registry (a bad entry stops reading it, records then show the
  // site as unknown).
  const std::string& registry_error() const { return registry_error_; }

 private:
  RingReader() = default;
  Status refresh_sites();
  struct Mapping;
  std::unique_ptr<Mapping> map_;
  OpenMode mode_ = OpenMode::observer;
  RingInfo info_;
  ClockConverter clock_;
  const ring::FileHeader* header_ = nullptr;
  ring::LaneDescriptor* lanes_ = nullptr;
  const std::byte* data_ = nullptr;
  const std::byte* sites_area_ = nullptr;
  std::uint64_t sites_scanned_ = 0;
  // Ids up to what the registry could hold index a vector; a hostile id (up to 2^24) goes to
  // the map, so one bad entry cannot make the reader allocate a 16M-slot table.
  std::vector<std::unique_ptr<SiteInfo>> sites_;  // index id - 1
  std::unordered_map<std::uint32_t, std::unique_ptr<SiteInfo>> sparse_sites_;
  std::vector<std::unique_ptr<std::string>> loggers_;  // index id - 1
  std::vector<std::uint64_t> observer_pos_;
  std::string registry_error_;
  int fd_ = -1;
  Batch scratch_;
  RecordView view_;
};

// Lists the ring files of a directory (complete ones: temporary names are skipped), sorted.
Result<std::vector<std::string>> list_rings(const std::string& dir);

// Demangles a C++ type name as stored for exceptions; returns the input if it cannot.
std::string demangle(std::string_view mangled);

}  // namespace shmlog
