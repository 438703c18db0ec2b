// RingReader: maps a ring file, validates its header, copies committed records out of lanes and
// takes them with a compare-and-swap on the lane's read_pos.
#include "reader/safe_copy.hpp"

#include <shmlog/reader.hpp>

#include <algorithm>
#include <boost/interprocess/file_mapping.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <cxxabi.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace shmlog {
namespace {

namespace bip = boost::interprocess;

std::string errno_text(int err) {
  return std::strerror(err);
}

std::string identity(const char (&field)[ring::kIdentityBytes]) {
  return std::string(field, strnlen(field, ring::kIdentityBytes - 1));
}

bool is_pow2(std::uint64_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

std::string hex64(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// Checks a private copy of the header against everything the layout promises.
Status validate_header(const ring::FileHeader& h, std::uint64_t actual_size) {
  if (h.magic != ring::kMagic)
    return Error{"not a shmlog ring file (magic " + hex64(h.magic) + ", expected " + hex64(ring::kMagic) +
                 ")"};
  if (h.layout_version != ring::kLayoutVersion)
    return Error{"ring layout version " + std::to_string(h.layout_version) +
                 " is not supported (this reader knows version " + std::to_string(ring::kLayoutVersion) +
                 "); upgrade shmlog"};
  if (h.header_bytes != sizeof(ring::FileHeader))
    return Error{"header size " + std::to_string(h.header_bytes) + " does not match layout version 1"};
  if (h.cache_line_bytes != ring::kCacheLine)
    return Error{"cache line size " + std::to_string(h.cache_line_bytes) + " is not 64"};
  if (h.lane_count < 1 || h.lane_count > ring::kMaxLanes)
    return Error{"lane count " + std::to_string(h.lane_count) + " out of range 1..1024"};
  if (!is_pow2(h.lane_bytes) || h.lane_bytes < ring::kMinLaneBytes || h.lane_bytes > ring::kMaxLaneBytes)
    return Error{"lane size " + std::to_string(h.lane_bytes) + " is not a power of two from 4096 to 1 GiB"};
  if (h.sites_bytes < ring::kMinSitesBytes || h.sites_bytes > ring::kMaxSitesBytes || h.sites_bytes % 8 != 0)
    return Error{"site registry size " + std::to_string(h.sites_bytes) + " out of range"};
  const ring::Layout layout{h.lane_count, h.lane_bytes, h.sites_bytes};
  if (h.lanes_offset != layout.lanes_offset() || h.data_offset != layout.data_offset() ||
      h.sites_offset != layout.sites_offset() || h.file_bytes != layout.file_bytes())
    return Error{"region offsets do not match the layout of its lane count and sizes"};
  if (h.file_bytes > actual_size)
    return Error{"file is " + std::to_string(actual_size) + " bytes but its header says " +
                 std::to_string(h.file_bytes) + " (truncated?)"};
  if (h.clock_source != static_cast<std::uint32_t>(ring::ClockSource::realtime_ns) &&
      h.clock_source != static_cast<std::uint32_t>(ring::ClockSource::tsc))
    return Error{"unknown clock source " + std::to_string(h.clock_source)};
  if (h.clock_source == static_cast<std::uint32_t>(ring::ClockSource::tsc) && h.tsc_hz == 0)
    return Error{"tsc clock with a tick rate (tsc_hz) of 0"};
  return Ok{};
}

}  // namespace

struct RingReader::Mapping {
  bip::mapped_region region;
};

RingReader::~RingReader() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<RingReader>> RingReader::open(const std::string& path, OpenMode mode) {
  std::unique_ptr<RingReader> r(new RingReader());
  r->mode_ = mode;
  const bool write = mode == OpenMode::consumer;
  r->fd_ = ::open(path.c_str(), (write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (r->fd_ < 0) return Error{path + ": cannot open: " + errno_text(errno)};
  struct stat st {};
  if (::fstat(r->fd_, &st) != 0) return Error{path + ": cannot stat: " + errno_text(errno)};
  if (!S_ISREG(st.st_mode)) return Error{path + ": not a regular file"};
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < sizeof(ring::FileHeader))
    return Error{path + ": " + std::to_string(size) + " bytes is too small to be a ring file"};
  r->map_ = std::make_unique<Mapping>();
  try {
    bip::file_mapping file(path.c_str(), write ? bip::read_write : bip::read_only);
    bip::mapped_region region(file, write ? bip::read_write : bip::read_only, 0, size);
    r->map_->region.swap(region);
  } catch (const std::exception& e) {
    return Error{path + ": cannot map: " + e.what()};
  }
  const auto* base = static_cast<const std::byte*>(r->map_->region.get_address());
  // Validate a private copy: the file may change under us.
  alignas(ring::kCacheLine) std::byte copy[sizeof(ring::FileHeader)];
  if (!detail::guarded([&] { std::memcpy(copy, base, sizeof copy); }))
    return Error{path + ": file shrank while being read"};
  const auto& h = *reinterpret_cast<const ring::FileHeader*>(copy);
  if (auto ok = validate_header(h, size); !ok) return Error{path + ": " + ok.error().message};

  r->info_.path = path;
  r->info_.layout_version = h.layout_version;
  r->info_.lane_count = h.lane_count;
  r->info_.lane_bytes = h.lane_bytes;
  r->info_.sites_bytes = h.sites_bytes;
  r->info_.file_bytes = h.file_bytes;
  r->info_.writer_pid = h.writer_pid;
  r->info_.clock_source = static_cast<ring::ClockSource>(h.clock_source);
  r->info_.start_ns = h.start_ns;
  r->info_.tsc_hz = h.tsc_hz;
  r->info_.service = identity(h.service);
  r->info_.pod = identity(h.pod);
  r->info_.pod_namespace = identity(h.pod_namespace);
  r->info_.container = identity(h.container);
  r->info_.host = identity(h.host);
  r->clock_ = ClockConverter(h);

  r->header_ = reinterpret_cast<const ring::FileHeader*>(base);
  r->lanes_ = reinterpret_cast<ring::LaneDescriptor*>(const_cast<std::byte*>(base) + h.lanes_offset);
  r->data_ = base + h.data_offset;
  r->sites_area_ = base + h.sites_offset;
  r->observer_pos_.assign(h.lane_count, 0);
  for (std::uint32_t i = 0; i < h.lane_count; ++i) r->observer_pos_[i] = r->lane_state(i).read_pos;
  return r;
}

bool RingReader::writer_alive() const {
  flock probe{};
  probe.l_type = F_WRLCK;
  probe.l_whence = SEEK_SET;
  probe.l_start = ring::kWriterLockByte;
  probe.l_len = 1;
  if (::fcntl(fd_, F_OFD_GETLK, &probe) != 0) return false;
  return probe.l_type != F_UNLCK;
}

bool RingReader::try_lock_consumer() {
  if (mode_ != OpenMode::consumer) return false;
  flock lock{};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = ring::kConsumerLockByte;
  lock.l_len = 1;
  return ::fcntl(fd_, F_OFD_SETLK, &lock) == 0;
}

ring::WriterState RingReader::writer_state() const {
  std::uint32_t s = 0;
  detail::guarded([&] { s = header_->writer_state.load(std::memory_order_acquire); });
  return static_cast<ring::WriterState>(s);
}

LaneState RingReader::lane_state(std::uint32_t lane) const {
  LaneState s;
  if (lane >= info_.lane_count) return s;
  const ring::LaneDescriptor& d = lanes_[lane];
  detail::guarded([&] {
    s.owner_tid = d.owner_tid.load(std::memory_order_relaxed);
    s.claim_count = d.claim_count.load(std::memory_order_relaxed);
    s.next_seq = d.next_seq.load(std::memory_order_relaxed);
    s.write_pos = d.write_pos.load(std::memory_order_relaxed);
    s.read_pos = d.read_pos.load(std::memory_order_acquire);
    for (int i = 0; i < kLevelCount; ++i) {
      s.dropped[static_cast<std::size_t>(i)] = d.dropped[i].load(std::memory_order_relaxed);
      s.drops_reported[static_cast<std::size_t>(i)] = d.drops_reported[i].load(std::memory_order_relaxed);
    }
    s.blocked = d.blocked.load(std::memory_order_relaxed);
  });
  return s;
}

std::uint32_t RingReader::arm_wake() {
  if (mode_ != OpenMode::consumer) return 0;  // a read-only mapping: never written
  auto* h = const_cast<ring::FileHeader*>(header_);
  std::uint32_t value = 0;
  detail::guarded([&] {
    value = h->wake_futex.load(std::memory_order_acquire);
    h->consumer_waiting.store(1, std::memory_order_relaxed);
    // The store above must be visible before the lanes are looked at again (Dekker with the
    // producer's commit-then-check): without this fence both sides could miss each other.
    std::atomic_thread_fence(std::memory_order_seq_cst);
  });
  return value;
}

void RingReader::disarm_wake() {
  if (mode_ != OpenMode::consumer) return;
  auto* h = const_cast<ring::FileHeader*>(header_);
  detail::guarded([&] { h->consumer_waiting.store(0, std::memory_order_relaxed); });
}

const std::atomic<std::uint32_t>* RingReader::wake_word() const {
  return &header_->wake_futex;
}

void RingReader::heartbeat(std::int32_t pid, std::uint64_t now_ns) {
  if (mode_ != OpenMode::consumer) return;
  auto* h = const_cast<ring::FileHeader*>(header_);
  detail::guarded([&] {
    h->consumer_pid.store(pid, std::memory_order_relaxed);
    h->consumer_heartbeat_ns.store(now_ns, std::memory_order_relaxed);
  });
}

Status RingReader::set_drops_reported(std::uint32_t lane,
                                      const std::array<std::uint64_t, kLevelCount>& reported) {
  if (mode_ != OpenMode::consumer) return Error{info_.path + ": opened as observer"};
  if (lane >= info_.lane_count) return Error{info_.path + ": no lane " + std::to_string(lane)};
  ring::LaneDescriptor& d = lanes_[lane];
  if (!detail::guarded([&] {
        for (int i = 0; i < kLevelCount; ++i)
          d.drops_reported[i].store(reported[static_cast<std::size_t>(i)], std::memory_order_relaxed);
      }))
    return Error{info_.path + ": file shrank"};
  return Ok{};
}

Level RingReader::min_level() const {
  std::uint32_t v = 0;
  detail::guarded([&] { v = header_->min_level.load(std::memory_order_relaxed); });
  return v < kLevelCount ? static_cast<Level>(v) : Level::critical;
}

Status RingReader::set_min_level(Level level) {
  if (mode_ != OpenMode::consumer) return Error{info_.path + ": opened read-only, cannot set the level"};
  auto* h = const_cast<ring::FileHeader*>(header_);
  if (!detail::guarded(
          [&] { h->min_level.store(static_cast<std::uint32_t>(level), std::memory_order_relaxed); }))
    return Error{info_.path + ": file shrank while being written"};
  return Ok{};
}

RingCounters RingReader::counters() const {
  RingCounters c;
  detail::guarded([&] {
    c.sites_used = header_->sites_used.load(std::memory_order_relaxed);
    c.sites_dropped = header_->sites_dropped.load(std::memory_order_relaxed);
    c.lane_waits = header_->lane_waits.load(std::memory_order_relaxed);
    c.consumer_pid = header_->consumer_pid.load(std::memory_order_relaxed);
    c.consumer_heartbeat_ns = header_->consumer_heartbeat_ns.load(std::memory_order_relaxed);
  });
  return c;
}

std::size_t RingReader::load_sites() {
  (void)refresh_sites();
  std::size_t n = sparse_sites_.size();
  for (const auto& s : sites_) n += s != nullptr;
  return n;
}

std::uint64_t RingReader::sites_dropped() const {
  std::uint64_t v = 0;
  detail::guarded([&] { v = header_->sites_dropped.load(std::memory_order_relaxed); });
  return v;
}

Status RingReader::read_batch(std::uint32_t lane, std::size_t max_records, std::size_t max_bytes,
                              Batch& batch, std::uint64_t from) {
  if (lane >= info_.lane_count) return Error{info_.path + ": no lane " + std::to_string(lane)};
  const std::uint64_t lane_bytes = info_.lane_bytes;
  const std::uint64_t mask = lane_bytes - 1;
  // A batch stops once it holds `max_bytes` of records. Its buffer starts at that size and grows
  // only for a first record that does not fit (at most a quarter lane): sizing every lane's
  // buffer for the largest possible record cost a quarter of the ring per ring.
  const std::size_t wanted = std::max<std::size_t>(max_bytes, ring::kRecordHeaderBytes);
  clock_.maybe_refresh();
  batch.lane = lane;
  const std::byte* lane_data = data_ + lane * lane_bytes;
  auto& read_pos = lanes_[lane].read_pos;
  // Nothing committed at the cursor (most lanes, most of the time): answer without touching the
  // batch's buffers, which are only allocated for a lane that has had records.
  {
    std::uint64_t at = 0, first = 0;
    if (!detail::guarded([&] {
          at = from == npos ? read_pos.load(std::memory_order_acquire) : from;
          if (at % ring::kRecordAlign == 0)
            first = reinterpret_cast<const std::atomic<std::uint64_t>*>(lane_data + (at & mask))
                        ->load(std::memory_order_acquire);
        }))
      return Error{info_.path + ": file shrank while being read (lane " + std::to_string(lane) + ")"};
    if (at % ring::kRecordAlign == 0 && first == 0) {
      batch.records.clear();
      batch.used = 0;
      batch.start = batch.end = at;
      return Ok{};
    }
  }
  batch.records.reserve(std::min<std::size_t>(max_records, 256));
  if (batch.bytes.size() < wanted) batch.bytes.resize(wanted);  // allocate outside the guard

  std::uint64_t start = 0, pos = 0, used = 0;
  const char* problem = nullptr;
  std::uint64_t bad_value = 0;
  std::size_t grow_to = 0;  // a first record larger than the buffer: grow, then read again
  bool ok = true;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (grow_to > batch.bytes.size()) batch.bytes.resize(grow_to);  // outside the guard
    grow_to = 0;
    batch.records.clear();
    batch.used = 0;
    used = 0;
    ok = detail::guarded([&] {
      const std::uint64_t cursor = read_pos.load(std::memory_order_acquire);
      start = from == npos ? cursor : from;
      pos = start;
      while (batch.records.size() < max_records) {
        if (pos % ring::kRecordAlign != 0) {
          problem = "position is not 8-byte aligned";
          return;
        }
        const std::uint64_t offset = pos & mask;
        const std::uint64_t commit = reinterpret_cast<const std::atomic<std::uint64_t>*>(lane_data + offset)
                                         ->load(std::memory_order_acquire);
        const std::uint32_t length = ring::commit_length(commit);
        if (length == 0) break;  // not written yet
        if (length % ring::kRecordAlign != 0 || length > lane_bytes - offset) {
          problem = "record length out of bounds";
          bad_value = length;
          return;
        }
        // A writer ends every record (and the zero word after it) within a lane of the cursor:
        // anything further means the records loop back on themselves (corrupt or hostile).
        if (pos + length + ring::kRecordAlign > cursor + lane_bytes) {
          problem = "records run on past a whole lane ahead of the cursor";
          bad_value = pos + length - cursor;
          return;
        }
        const std::uint8_t kind = ring::commit_kind(commit);
        if (kind == static_cast<std::uint8_t>(ring::RecordKind::padding)) {
          if (offset + length != lane_bytes) {
            problem = "padding record does not end at the lane's end";
            bad_value = length;
            return;
          }
          pos += length;
          continue;
        }
        if (kind != static_cast<std::uint8_t>(ring::RecordKind::log) || length < ring::kRecordHeaderBytes) {
          problem = "unknown record kind or short record";
          bad_value = commit;
          return;
        }
        if (length >
            lane_bytes / ring::kMaxRecordShare) {  // producers never write one this large (ring_format.hpp)
          problem = "record larger than a quarter lane";
          bad_value = length;
          return;
        }
        if (used == 0 && length > batch.bytes.size()) {
          grow_to = length;
          return;
        }
        if (used + length > batch.bytes.size() || (used > 0 && used + length > wanted)) break;
        std::memcpy(batch.bytes.data() + used, lane_data + offset, length);
        batch.records.emplace_back(static_cast<std::uint32_t>(used), pos);
        used += length;
        pos += length;
      }
    });
    if (grow_to == 0) break;
  }
  if (!ok) {
    batch.records.clear();
    return Error{info_.path + ": file shrank while being read (lane " + std::to_string(lane) + ")"};
  }
  batch.used = used;
  batch.start = start;
  batch.end = pos;
  // If a consumer moved read_pos past where this batch started, the bytes we walked may have
  // been reused by the producer: what we copied proves nothing. Drop the batch; the caller
  // tries again from the new cursor.
  std::uint64_t now = 0;
  std::atomic_thread_fence(std::memory_order_acquire);
  detail::guarded([&] { now = read_pos.load(std::memory_order_acquire); });
  if (now != start && !(from != npos && now < start)) {
    batch.records.clear();
    batch.used = 0;
    batch.start = batch.end = now;
    return Ok{};
  }
  // Records before a bad one are good: hand them out now, report the bad one on the next call
  // (which starts at it and finds nothing else).
  if (problem != nullptr && !batch.records.empty()) return Ok{};
  if (problem != nullptr)
    return Error{info_.path + ": lane " + std::to_string(lane) + " at position " + std::to_string(pos) +
                 ": " + problem + " (" + std::to_string(bad_value) + ")"};
  return Ok{};
}

bool RingReader::commit(const Batch& batch) {
  if (mode_ != OpenMode::consumer || batch.lane >= info_.lane_count) return false;
  if (batch.start == batch.end) return true;
  bool taken = false;
  detail::guarded([&] {
    std::uint64_t expected = batch.start;
    taken = lanes_[batch.lane].read_pos.compare_exchange_strong(
        expected, batch.end, std::memory_order_acq_rel, std::memory_order_relaxed);
  });
  return taken;
}

Status RingReader::decode(const Batch& batch, std::size_t i, RecordView& out) {
  if (i >= batch.records.size()) return Error{"no record " + std::to_string(i) + " in batch"};
  const auto [offset, position] = batch.records[i];
  const std::size_t end = i + 1 < batch.records.size() ? batch.records[i + 1].first : batch.used;
  std::span<const std::byte> bytes(batch.bytes.data() + offset, end - offset);
  out.lane = batch.lane;
  out.position = position;
  auto st = decode_record(bytes, *this, out);
  if (!st)
    return Error{info_.path + ": lane " + std::to_string(batch.lane) + " at position " +
                 std::to_string(position) + ": " + st.error().message};
  out.timestamp_ns = clock_.to_ns(out.raw_timestamp);
  return Ok{};
}

Result<std::size_t> RingReader::drain(std::uint32_t lane, std::size_t max_records,
                                      const std::function<void(const RecordView&)>& fn) {
  const bool observe = mode_ == OpenMode::observer;
  if (lane >= info_.lane_count) return Error{info_.path + ": no lane " + std::to_string(lane)};
  for (int attempt = 0; attempt < 100; ++attempt) {
    const std::uint64_t from = observe ? std::max(observer_pos_.at(lane), lane_state(lane).read_pos) : npos;
    if (auto st = read_batch(lane, max_records, 1 << 20, scratch_, from); !st) return st.error();
    if (scratch_.records.empty()) {
      if (scratch_.start != scratch_.end && !observe) {  // padding only: take it so the cursor moves
        commit(scratch_);
        continue;
      }
      if (observe && scratch_.start != from) continue;  // the consumer moved: look again
      if (observe) observer_pos_[lane] = scratch_.end;
      return std::size_t{0};
    }
    if (!observe && !commit(scratch_)) continue;  // another consumer took these first
    if (observe) observer_pos_[lane] = scratch_.end;
    std::string first_error;
    for (std::size_t i = 0; i < scratch_.records.size(); ++i) {
      if (auto st = decode(scratch_, i, view_); !st) {
        if (first_error.empty()) first_error = st.error().message;
        continue;
      }
      fn(view_);
    }
    if (!first_error.empty()) return Error{first_error};
    return scratch_.records.size();
  }
  return std::size_t{0};
}

Status RingReader::refresh_sites() {
  if (!registry_error_.empty()) return Error{registry_error_};
  const std::uint64_t area = info_.sites_bytes;
  std::vector<std::byte> entry;
  for (;;) {
    const std::uint64_t at = sites_scanned_;
    if (at + ring::kRecordAlign > area) return Ok{};
    std::uint64_t commit = 0;
    if (!detail::guarded([&] {
          commit = reinterpret_cast<const std::atomic<std::uint64_t>*>(sites_area_ + at)
                       ->load(std::memory_order_acquire);
        }))
      return Error{registry_error_ = info_.path + ": file shrank while reading the site registry"};
    const std::uint32_t length = ring::commit_length(commit);
    if (length == 0) return Ok{};
    const auto kind = static_cast<ring::EntryKind>(ring::commit_kind(commit));
    const std::uint32_t fixed =
        kind == ring::EntryKind::site ? ring::kSiteEntryBytes : ring::kLoggerEntryBytes;
    if (length % ring::kRecordAlign != 0 || length > area - at || length < fixed ||
        (kind != ring::EntryKind::site && kind != ring::EntryKind::logger))
      return Error{registry_error_ =
                       info_.path + ": site registry entry at offset " + std::to_string(at) + " is invalid"};
    entry.resize(length);
    if (!detail::guarded([&] { std::memcpy(entry.data(), sites_area_ + at, length); }))
      return Error{registry_error_ = info_.path + ": file shrank while reading the site registry"};
    auto field = [&](std::size_t off, auto& out) { std::memcpy(&out, entry.data() + off, sizeof out); };
    if (kind == ring::EntryKind::site) {
      std::uint32_t id = 0, line = 0, format_len = 0;
      std::uint8_t level = 0, arg_count = 0;
      std::uint16_t file_len = 0, function_len = 0;
      field(offsetof(ring::SiteEntry, id), id);
      field(offsetof(ring::SiteEntry, line), line);
      field(offsetof(ring::SiteEntry, level), level);
      field(offsetof(ring::SiteEntry, arg_count), arg_count);
      field(offsetof(ring::SiteEntry, file_len), file_len);
      field(offsetof(ring::SiteEntry, function_len), function_len);
      field(offsetof(ring::SiteEntry, format_len), format_len);
      const std::uint64_t strings = std::uint64_t{file_len} + function_len + format_len + arg_count;
      if (id == 0 || id > (1u << 24) || level >= kLevelCount || fixed + strings > length)
        return Error{registry_error_ =
                         info_.path + ": site entry at offset " + std::to_string(at) + " is invalid"};
      auto s = std::make_unique<SiteInfo>();
      const char* p = reinterpret_cast<const char*>(entry.data()) + fixed;
      s->id = id;
      s->line = line;
      s->level = static_cast<Level>(level);
      s->file.assign(p, file_len);
      s->function.assign(p += file_len, function_len);
      s->format.assign(p += function_len, format_len);
      s->arg_types.assign(p += format_len, arg_count);
      if (id <= area / ring::kSiteEntryBytes) {
        if (sites_.size() < id) sites_.resize(id);
        sites_[id - 1] = std::move(s);
      } else {
        sparse_sites_[id] = std::move(s);
      }
    } else {
      std::uint32_t id = 0;
      std::uint16_t name_len = 0;
      field(offsetof(ring::LoggerEntry, id), id);
      field(offsetof(ring::LoggerEntry, name_len), name_len);
      if (id == 0 || id > 0xFFFF || fixed + std::uint64_t{name_len} > length)
        return Error{registry_error_ =
                         info_.path + ": logger entry at offset " + std::to_string(at) + " is invalid"};
      if (loggers_.size() < id) loggers_.resize(id);
      loggers_[id - 1] =
          std::make_unique<std::string>(reinterpret_cast<const char*>(entry.data()) + fixed, name_len);
    }
    sites_scanned_ = at + length;
  }
}

const SiteInfo* RingReader::site(std::uint32_t id) {
  if (id == 0) return nullptr;
  if (id > sites_.size() || !sites_[id - 1]) (void)refresh_sites();
  if (id <= sites_.size()) return sites_[id - 1].get();
  const auto it = sparse_sites_.find(id);
  return it == sparse_sites_.end() ? nullptr : it->second.get();
}

const std::string* RingReader::logger(std::uint16_t id) {
  if (id == 0) return nullptr;
  if (id > loggers_.size() || !loggers_[id - 1]) (void)refresh_sites();
  return id <= loggers_.size() ? loggers_[id - 1].get() : nullptr;
}

Result<std::vector<std::string>> list_rings(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Error{dir + ": cannot list: " + errno_text(errno)};
  std::vector<std::string> out;
  const std::string_view suffix = ring::kFileSuffix;
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name.empty() || name[0] == '.' || name.size() <= suffix.size() || !name.ends_with(suffix)) continue;
    std::string path = dir + "/" + std::string(name);
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) out.push_back(std::move(path));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::string demangle(std::string_view mangled) {
  std::string name(mangled);
  int status = 0;
  char* out = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
  if (status != 0 || out == nullptr) return name;
  std::string result(out);
  std::free(out);
  return result;
}

}  // namespace shmlog
