// The reader against files that are not what they claim: it says what is wrong and never
// crashes, whatever the file or whatever happens to it while mapped.
#include "support/test_dir.hpp"

#include <shmlog/logger.hpp>
#include <shmlog/reader.hpp>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

using namespace shmlog;

namespace {

std::string open_error(const std::string& path) {
  auto r = RingReader::open(path, OpenMode::observer);
  return r ? std::string() : r.error().message;
}

// A copy of a real ring with `patch` applied to its bytes.
template <typename F>
std::string patched_copy(const test::TempDir& dir, const std::string& ring, const char* name, F patch) {
  std::string bytes = test::read_file(ring);
  patch(bytes);
  const std::string path = dir.file(name);
  test::write_file(path, bytes);
  return path;
}

template <typename T>
void put(std::string& bytes, std::size_t offset, T value) {
  std::memcpy(bytes.data() + offset, &value, sizeof value);
}

std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

TEST_CASE("header problems are named") {
  test::TempDir rings, dir;
  const auto ring = test::start_ring(rings);
  Logger log;
  log.info("something");
  using H = ring::FileHeader;
  CHECK(open_error(patched_copy(dir, ring, "magic.ring", [](std::string& b) {
          b[0] = 'X';
        })).find("not a shmlog ring file") != std::string::npos);
  CHECK(open_error(patched_copy(dir, ring, "v2.ring", [](std::string& b) {
          put<std::uint32_t>(b, offsetof(H, layout_version), 2);
        })).find("layout version 2 is not supported") != std::string::npos);
  CHECK(open_error(patched_copy(dir, ring, "lanes.ring", [](std::string& b) {
          put<std::uint32_t>(b, offsetof(H, lane_count), 0);
        })).find("lane count 0") != std::string::npos);
  CHECK(open_error(patched_copy(dir, ring, "pow2.ring", [](std::string& b) {
          put<std::uint64_t>(b, offsetof(H, lane_bytes), 65535);
        })).find("not a power of two") != std::string::npos);
  CHECK(open_error(patched_copy(dir, ring, "offs.ring", [](std::string& b) {
          put<std::uint64_t>(b, offsetof(H, data_offset), 64);
        })).find("offsets do not match") != std::string::npos);
  CHECK(open_error(patched_copy(dir, ring, "short.ring", [](std::string& b) {
          b.resize(b.size() - 4096);
        })).find("truncated?") != std::string::npos);
  CHECK(open_error(patched_copy(dir, ring, "tiny.ring", [](std::string& b) {
          b.resize(100);
        })).find("too small to be a ring file") != std::string::npos);
  CHECK(open_error(dir.file("missing.ring")).find("cannot open") != std::string::npos);
  CHECK(open_error(dir.path()).find("not a regular file") != std::string::npos);
}

TEST_CASE("a record with a length past its lane is an error naming lane and position") {
  test::TempDir rings, dir;
  auto config = test::test_config();
  const auto ring = test::start_ring(rings, config);
  Logger log;
  std::thread([&] { log.info("on lane one or more"); }).join();
  auto real = RingReader::open(ring, OpenMode::observer);
  REQUIRE(real);
  std::uint32_t lane = 1;
  while (real.value()->lane_state(lane).write_pos == 0) ++lane;
  const ring::Layout layout{config.lanes, config.ring_bytes / config.lanes, config.sites_bytes};
  const auto path = patched_copy(dir, ring, "len.ring", [&](std::string& b) {
    put<std::uint64_t>(b, layout.data_offset() + lane * layout.lane_bytes,
                       ring::make_commit(1u << 20, ring::RecordKind::log, 2, 0));
  });
  auto r = RingReader::open(path, OpenMode::observer);
  REQUIRE(r);
  auto n = r.value()->drain(lane, 10, [](const RecordView&) {});
  REQUIRE_FALSE(n);
  CHECK(n.error().message.find("lane " + std::to_string(lane) +
                               " at position 0: record length out of bounds") != std::string::npos);
}

TEST_CASE("a file shrunk under the mapping is an error, not a SIGBUS") {
  test::TempDir rings;
  const auto ring = test::start_ring(rings);
  Logger log;
  for (int i = 0; i < 10; ++i) log.info("record {}", i);
  auto r = RingReader::open(ring, OpenMode::consumer);
  REQUIRE(r);
  // Switch this process to a fresh ring first: the producer must not touch the shrunk file.
  test::TempDir other;
  test::start_ring(other);
  REQUIRE(::truncate(ring.c_str(), 4096) == 0);  // header and lane descriptors stay, data goes
  auto n = r.value()->drain(0, 10, [](const RecordView&) {});
  REQUIRE_FALSE(n);
  CHECK(n.error().message.find("shrank") != std::string::npos);
  CHECK(r.value()->lane_state(0).owner_tid == ring::kSharedLaneOwner);  // still readable
}

TEST_CASE("liveness: the writer's lock, seen from another open file description") {
  test::TempDir rings, dir;
  const auto ring = test::start_ring(rings);
  auto live = RingReader::open(ring, OpenMode::observer);
  REQUIRE(live);
  CHECK(live.value()->writer_alive());
  CHECK(live.value()->writer_state() == ring::WriterState::live);
  const auto copy = dir.file("copy.ring");
  std::filesystem::copy_file(ring, copy);
  auto dead = RingReader::open(copy, OpenMode::observer);
  REQUIRE(dead);
  CHECK_FALSE(dead.value()->writer_alive());
  shutdown();
  CHECK(live.value()->writer_state() == ring::WriterState::closed);
  CHECK(live.value()->writer_alive());  // closed but the process still holds the file
}

TEST_CASE("the ring file appears complete, mode 0660, named for service and pid") {
  test::TempDir rings;
  const auto ring = test::start_ring(rings);
  struct stat st {};
  REQUIRE(::stat(ring.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0660);
  const std::string name = std::filesystem::path(ring).filename();
  CHECK(name.rfind("unit-test." + std::to_string(::getpid()) + ".", 0) == 0);
  CHECK(name.ends_with(".ring"));
  auto listed = list_rings(rings.path());
  REQUIRE(listed);
  CHECK(listed->size() == 1);
  test::write_file(rings.file(".half-made.ring.tmp"), "x");
  test::write_file(rings.file("notes.txt"), "x");
  CHECK(list_rings(rings.path())->size() == 1);
  CHECK_FALSE(list_rings(rings.file("nope")));
}

TEST_CASE("timestamps come out as wall-clock nanoseconds") {
  test::TempDir rings;
  const auto ring = test::start_ring(rings);
  Logger log;
  const std::uint64_t before = now_ns();
  log.info("now");
  const std::uint64_t after = now_ns();
  auto r = RingReader::open(ring, OpenMode::consumer);
  REQUIRE(r);
  std::uint64_t ts = 0;
  for (std::uint32_t lane = 0; lane < r.value()->info().lane_count; ++lane)
    (void)r.value()->drain(lane, 10, [&](const RecordView& v) { ts = v.timestamp_ns; });
  // The TSC conversion uses a quick calibration; allow a millisecond of slack either side.
  CHECK(ts + 1'000'000 >= before);
  CHECK(ts <= after + 1'000'000);
}

#if defined(__x86_64__)
TEST_CASE("a TSC ring's tick rate is re-measured while it is read") {
  test::TempDir rings;
  const auto ring = test::start_ring(rings);
  const std::string bytes = test::read_file(ring);
  alignas(64) std::byte copy[sizeof(ring::FileHeader)];
  REQUIRE(bytes.size() >= sizeof copy);
  std::memcpy(copy, bytes.data(), sizeof copy);
  auto* h = reinterpret_cast<ring::FileHeader*>(copy);
  if (h->clock_source != static_cast<std::uint32_t>(ring::ClockSource::tsc)) {
    MESSAGE("no invariant TSC here: the ring stamps realtime, nothing to refine");
    return;
  }
  // The header as a writer with a 1 % wrong calibration would have left it, anchored now.
  const std::uint64_t true_hz = h->tsc_hz;
  h->tsc_anchor = __rdtsc();
  h->start_ns = now_ns();
  h->tsc_hz = true_hz + true_hz / 100;
  ClockConverter clock(*h);
  auto error_us = [&] {
    const std::uint64_t before = now_ns();
    const std::uint64_t converted = clock.to_ns(__rdtsc());
    const std::uint64_t after = now_ns();
    return (static_cast<double>(converted) - static_cast<double>(before / 2 + after / 2)) / 1e3;
  };
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  const double stale = error_us();
  clock.maybe_refresh();  // due: the first refresh after construction
  // The rate, not just the offset, is right now: the error stays small as time goes on.
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  const double refreshed = error_us();
  MESSAGE("conversion error after 1.2 s: " << stale << " us with the bad rate, " << refreshed
                                           << " us 0.6 s after re-measuring");
  CHECK(stale < -5000);              // 1 % slow over 1.2 s is about -12 ms
  CHECK(std::abs(refreshed) < 200);  // a 1 % wrong rate would be -18 ms by now
}
#endif

TEST_CASE("only one process-wide drainer holds the consumer lock") {
  test::TempDir rings;
  const auto ring = test::start_ring(rings);
  auto a = RingReader::open(ring, OpenMode::consumer);
  auto b = RingReader::open(ring, OpenMode::consumer);
  auto o = RingReader::open(ring, OpenMode::observer);
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(o);
  CHECK(a.value()->try_lock_consumer());
  CHECK_FALSE(b.value()->try_lock_consumer());
  CHECK_FALSE(o.value()->try_lock_consumer());
  a.value().reset();  // closing the file releases it
  CHECK(b.value()->try_lock_consumer());
  CHECK_FALSE(o.value()->set_min_level(Level::error));
}

TEST_CASE("a batch asked for fewer bytes than a record still takes that record, and only it") {
  test::TempDir rings;
  const auto ring = test::start_ring(rings);
  Logger log;
  const std::string big(6000, 'b');  // under the test config's string cap
  log.info("big {}", big);
  log.info("small {}", 1);
  auto r = RingReader::open(ring, OpenMode::consumer);
  REQUIRE(r);
  std::size_t records = 0, first_bytes = 0;
  for (std::uint32_t lane = 0; lane < r.value()->info().lane_count; ++lane) {
    Batch batch;
    REQUIRE(r.value()->read_batch(lane, 16, 64, batch));  // 64 bytes asked, a 6 KB record
    if (batch.records.empty()) continue;
    records += batch.records.size();
    first_bytes = batch.used;
    CHECK(batch.bytes.size() < 8192);  // grown to the record, not to a quarter lane (16 KiB)
    RecordView v;
    REQUIRE(r.value()->decode(batch, 0, v));
    CHECK(v.args.at(0).s.size() == big.size());
    REQUIRE(r.value()->commit(batch));
    Batch next;
    REQUIRE(r.value()->read_batch(lane, 16, 64, next));
    CHECK(next.records.size() == 1);  // the small one, on its own
  }
  CHECK(records == 1);
  CHECK(first_bytes > 6000);
}
