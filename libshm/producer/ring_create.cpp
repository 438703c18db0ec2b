// Creating a ring file: build it under a temporary name, take the liveness lock, then rename,
// so a reader listing the directory only ever sees complete files of live (or once-live) writers.
#include "producer/open_ring.hpp"
#include "time_source.hpp"

#include <shmlog/logger.hpp>

#include <algorithm>
#include <boost/interprocess/file_mapping.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <string>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace shmlog::detail {
namespace {

__extension__ typedef unsigned __int128 u128;  // 64x64-bit products without overflow

std::string errno_text(int err) {
  return std::string(std::strerror(err));
}

std::string program_name() {
  std::ifstream comm("/proc/self/comm");
  std::string name;
  std::getline(comm, name);
  return name.empty() ? std::string("app") : name;
}

std::string file_safe(std::string_view s) {
  std::string out;
  for (char c : s) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    out.push_back(ok ? c : '_');
  }
  return out.empty() ? std::string("app") : out;
}

void copy_identity(char (&dst)[ring::kIdentityBytes], std::string_view src) {
  std::size_t n = std::min(src.size(), ring::kIdentityBytes - 1);
  std::memcpy(dst, src.data(), n);
  dst[n] = '\0';
}

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

// An invariant TSC ticks at a constant rate on every core, in every state: only then may the hot
// path stamp records with it.
bool invariant_tsc() {
#if defined(__x86_64__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(0x80000007u, &a, &b, &c, &d) == 0) return false;
  return (d & (1u << 8)) != 0;
#else
  return false;
#endif
}

// A short calibration (2 ms between two bracketed clock pairs, so about 10 ppm): readers of the
// same boot refine it over the ring's lifetime (ClockConverter::refresh).
void calibrate_tsc(ring::FileHeader& h) {
#if defined(__x86_64__)
  const ClockPair start = clock_pair();
  while (realtime_ns() - start.ns < 2'000'000) {
  }
  const ClockPair end = clock_pair();
  h.tsc_anchor = start.tsc;
  h.start_ns = start.ns;
  h.tsc_hz = static_cast<std::uint64_t>(static_cast<u128>(end.tsc - start.tsc) * 1'000'000'000u /
                                        (end.ns - start.ns));
#else
  (void)h;
#endif
}

// Maps every page now, while nobody can see the file: otherwise the first lap through each lane
// takes a page fault (microseconds) on the app's thread, in the middle of a log call.
void prefault(std::byte* base, std::uint64_t bytes) {
#ifdef MADV_POPULATE_WRITE
  if (::madvise(base, bytes, MADV_POPULATE_WRITE) == 0) return;
#endif
  const long page = ::sysconf(_SC_PAGESIZE);
  for (std::uint64_t off = 0; off < bytes; off += static_cast<std::uint64_t>(page > 0 ? page : 4096))
    reinterpret_cast<volatile std::byte*>(base)[off] = std::byte{0};  // the file is zero already
}

std::uint64_t floor_pow2(std::uint64_t v) {
  std::uint64_t p = 1;
  while (p * 2 <= v) p *= 2;
  return p;
}

}  // namespace

void attach_writer(LaneWriter& w, OpenRing& r, std::uint32_t lane, LaneMode mode, std::uint32_t tid) {
  w.data = r.lane_data(lane);
  w.desc = &r.lanes[lane];
  w.consumer_waiting = &r.header->consumer_waiting;
  w.mask = r.layout.lane_bytes - 1;
  w.write_pos = w.desc->write_pos.load(std::memory_order_acquire);
  w.seq = w.desc->next_seq.load(std::memory_order_acquire);
  const std::uint64_t read = w.desc->read_pos.load(std::memory_order_acquire);
  w.headroom = r.headroom_bytes;
  w.limit_low = read + r.layout.lane_bytes - ring::kRecordAlign - r.headroom_bytes;
  w.tid = tid;
  // Only an owner takes the inline path, so only an owner carries the live generation.
  w.generation = mode == LaneMode::own ? r.generation : 0;
  w.mode_generation = r.generation;
  w.mode = mode;
  w.context_flags = t_context.flags;
  w.max_string = r.max_string_bytes;
  w.block_timeout_us = r.block_timeout_us;
  w.max_record = r.max_record_bytes;
}

Result<std::unique_ptr<OpenRing>> create_ring(const Config& config, std::uint16_t generation) {
  auto r = std::make_unique<OpenRing>();
  const std::string service = config.service.empty() ? program_name() : config.service;
  const std::uint64_t start = realtime_ns();
  const pid_t pid = getpid();

  ring::Layout layout{};
  layout.lane_count = config.lanes;
  layout.lane_bytes =
      std::clamp(floor_pow2(config.ring_bytes / config.lanes), ring::kMinLaneBytes, ring::kMaxLaneBytes);
  layout.sites_bytes = (config.sites_bytes + 4095) & ~std::uint64_t{4095};
  r->layout = layout;

  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "%llx", static_cast<unsigned long long>(start));
  const std::string name = file_safe(service) + "." + std::to_string(pid) + "." + stamp + ring::kFileSuffix;
  const std::string tmp = config.dir + "/." + name + ".tmp";
  r->path = config.dir + "/" + name;

  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0660);
  if (fd < 0) return Error{"cannot create " + tmp + ": " + errno_text(errno)};
  auto fail = [&](std::string what) -> Error {
    ::close(fd);
    ::unlink(tmp.c_str());
    return Error{std::move(what)};
  };
  // The umask may have taken group bits away; the sidecar reads and writes through the group.
  if (::fchmod(fd, 0660) != 0) return fail("cannot chmod " + tmp + ": " + errno_text(errno));
  // Reserve every block now: a sparse file on a full volume would SIGBUS the app on first touch.
  const auto bytes = static_cast<off_t>(layout.file_bytes());
  if (int err = ::posix_fallocate(fd, 0, bytes); err != 0) {
    if (err != EOPNOTSUPP && err != EINVAL)
      return fail("cannot allocate " + std::to_string(bytes) + " bytes for " + tmp + ": " + errno_text(err));
    if (::ftruncate(fd, bytes) != 0) return fail("cannot size " + tmp + ": " + errno_text(errno));
  }

  try {
    boost::interprocess::file_mapping file(tmp.c_str(), boost::interprocess::read_write);
    boost::interprocess::mapped_region region(file, boost::interprocess::read_write, 0, layout.file_bytes());
    r->region.swap(region);
  } catch (const std::exception& e) {
    return fail("cannot map " + tmp + ": " + e.what());
  }

  auto* base = static_cast<std::byte*>(r->region.get_address());
  prefault(base, layout.file_bytes());
  auto* h = new (base) ring::FileHeader{};  // the file is zero; this only starts the object's lifetime
  h->magic = ring::kMagic;
  h->layout_version = ring::kLayoutVersion;
  h->header_bytes = sizeof(ring::FileHeader);
  h->cache_line_bytes = ring::kCacheLine;
  h->lane_count = layout.lane_count;
  h->lane_bytes = layout.lane_bytes;
  h->lanes_offset = layout.lanes_offset();
  h->data_offset = layout.data_offset();
  h->sites_offset = layout.sites_offset();
  h->sites_bytes = layout.sites_bytes;
  h->file_bytes = layout.file_bytes();
  h->writer_pid = pid;
  h->start_ns = start;
  r->tsc = invariant_tsc();
  h->clock_source =
      static_cast<std::uint32_t>(r->tsc ? ring::ClockSource::tsc : ring::ClockSource::realtime_ns);
  if (r->tsc) calibrate_tsc(*h);
  read_boot_id(h->boot_id);
  copy_identity(h->service, service);
  copy_identity(h->pod, env_or("POD_NAME", ""));
  copy_identity(h->pod_namespace, env_or("POD_NAMESPACE", ""));
  copy_identity(h->container, env_or("CONTAINER_NAME", ""));
  char hostname[256] = {};
  ::gethostname(hostname, sizeof hostname - 1);
  copy_identity(h->host, env_or("NODE_NAME", hostname));
  h->min_level.store(static_cast<std::uint32_t>(config.level), std::memory_order_relaxed);
  h->writer_state.store(static_cast<std::uint32_t>(ring::WriterState::live), std::memory_order_relaxed);

  r->header = h;
  r->lanes = reinterpret_cast<ring::LaneDescriptor*>(base + layout.lanes_offset());
  for (std::uint32_t i = 0; i < layout.lane_count; ++i) new (&r->lanes[i]) ring::LaneDescriptor{};
  r->data = base + layout.data_offset();
  r->sites = base + layout.sites_offset();
  r->lanes[ring::kSharedLane].owner_tid.store(ring::kSharedLaneOwner, std::memory_order_relaxed);
  r->headroom_bytes =
      (layout.lane_bytes * config.headroom_percent / 100) & ~std::uint64_t{ring::kRecordAlign - 1};
  r->max_record_bytes = static_cast<std::uint32_t>(layout.lane_bytes / ring::kMaxRecordShare);
  r->max_string_bytes = std::min(config.max_string_bytes, r->max_record_bytes / 2);
  r->block_timeout_us =
      config.overflow == OverflowPolicy::block
          ? static_cast<std::uint32_t>(std::max<std::int64_t>(1, config.block_timeout.count()))
          : 0;

  flock lock{};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = ring::kWriterLockByte;
  lock.l_len = 1;
  if (::fcntl(fd, F_OFD_SETLK, &lock) != 0) return fail("cannot lock " + tmp + ": " + errno_text(errno));
  std::atomic_thread_fence(std::memory_order_release);
  if (::rename(tmp.c_str(), r->path.c_str()) != 0)
    return fail("cannot rename " + tmp + " to " + r->path + ": " + errno_text(errno));
  r->lock_fd = fd;

  r->generation = generation;
  attach_writer(r->shared, *r, ring::kSharedLane, LaneMode::shared, 0);
  return r;
}

}  // namespace shmlog::detail
