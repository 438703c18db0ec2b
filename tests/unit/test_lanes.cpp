// Lanes under threads: claiming, reuse, more threads than lanes, wrap-around, full lanes under
// each overflow policy, and several consumers on one ring. Run under ThreadSanitizer too.
#include "support/test_dir.hpp"

#include <shmlog/logger.hpp>
#include <shmlog/reader.hpp>

#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

using namespace shmlog;

namespace {

struct Taken {
  std::uint32_t lane;
  std::uint64_t seq;
  std::int64_t id;
  std::uint32_t tid;
};

// Takes every record of every lane, checking per-lane sequence order.
void take_into(RingReader& r, std::vector<Taken>& out) {
  for (std::uint32_t lane = 0; lane < r.info().lane_count; ++lane) {
    for (;;) {
      auto n = r.drain(lane, 512, [&](const RecordView& v) {
        std::int64_t id = -1;
        for (const auto& c : v.context)
          if (c.key == "id") id = c.value.i;
        out.push_back({v.lane, v.seq, id, v.tid});
      });
      if (!n) FAIL(n.error().message);  // not REQUIRE per call: doctest asserts are slow in loops
      if (*n == 0) break;
    }
  }
}

std::uint64_t total_dropped(RingReader& r, Level level) {
  std::uint64_t sum = 0;
  for (std::uint32_t lane = 0; lane < r.info().lane_count; ++lane)
    sum += r.lane_state(lane).dropped[static_cast<std::size_t>(level)];
  return sum;
}

// Per lane, seq numbers must rise by exactly one between consecutive records taken.
void check_lane_order(const std::vector<Taken>& taken) {
  std::map<std::uint32_t, std::uint64_t> next;
  for (const auto& t : taken) {
    auto it = next.find(t.lane);
    if (it != next.end()) CHECK_MESSAGE(t.seq == it->second, "lane " << t.lane << " seq " << t.seq);
    next[t.lane] = t.seq + 1;
  }
}

}  // namespace

TEST_CASE("each thread claims its own lane, releases it at exit, and the next thread reuses it") {
  test::TempDir dir;
  const auto path = test::start_ring(dir);  // 4 lanes: the shared lane 0 and three to claim
  Logger log;
  auto reader = RingReader::open(path, OpenMode::consumer);
  REQUIRE(reader);
  auto& r = *reader.value();
  std::atomic<int> phase{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t)
    threads.emplace_back([&, t] {
      log.info("thread {}", t, kv("id", t));
      while (phase.load() == 0) std::this_thread::yield();
    });
  while (true) {  // all three hold a lane at once
    int owned = 0;
    for (std::uint32_t lane = 1; lane < 4; ++lane) owned += r.lane_state(lane).owner_tid != 0;
    if (owned == 3) break;
    std::this_thread::yield();
  }
  CHECK(r.lane_state(0).owner_tid == ring::kSharedLaneOwner);
  phase = 1;
  for (auto& t : threads) t.join();
  for (std::uint32_t lane = 1; lane < 4; ++lane) CHECK(r.lane_state(lane).owner_tid == 0);

  // Three more threads, one after another: they reuse released lanes and continue their seqs.
  for (int t = 3; t < 6; ++t) std::thread([&, t] { log.info("again {}", t, kv("id", t)); }).join();
  std::vector<Taken> taken;
  take_into(r, taken);
  REQUIRE(taken.size() == 6);
  check_lane_order(taken);
  std::uint32_t claims = 0;
  for (std::uint32_t lane = 1; lane < 4; ++lane) claims += r.lane_state(lane).claim_count;
  CHECK(claims == 6);
  for (const auto& t : taken) CHECK(t.lane != 0);
}

TEST_CASE("more threads than lanes: the extra threads share lane 0 and nothing is lost") {
  test::TempDir dir;
  auto config = test::test_config();
  config.lanes = 3;  // lane 0 shared, two own lanes
  config.ring_bytes = 3 * 65536;
  config.overflow = OverflowPolicy::block;
  config.block_timeout = std::chrono::seconds(5);
  const auto path = test::start_ring(dir, config);
  Logger log;
  auto reader = RingReader::open(path, OpenMode::consumer);
  REQUIRE(reader);
  constexpr int kThreads = 8, kPerThread = 2000;
  std::atomic<int> done{0};
  std::vector<Taken> taken;
  std::thread consumer([&] {
    while (done.load() < kThreads) take_into(*reader.value(), taken);
    take_into(*reader.value(), taken);
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i)
        log.info("t{} i{}", t, i, kv("id", std::int64_t{t} * kPerThread + i));
      ++done;
    });
  for (auto& t : threads) t.join();
  consumer.join();
  REQUIRE(taken.size() == std::size_t{kThreads} * kPerThread);
  std::set<std::int64_t> ids;
  std::map<std::uint32_t, std::size_t> per_lane;
  for (const auto& t : taken) {
    ids.insert(t.id);
    ++per_lane[t.lane];
  }
  CHECK(ids.size() == taken.size());
  CHECK(per_lane[0] > 0);  // somebody went through the shared lane
  check_lane_order(taken);
  CHECK(total_dropped(*reader.value(), Level::info) == 0);
  // Within a lane, each producing thread's records keep their order.
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::int64_t> last;
  for (const auto& t : taken) {
    auto key = std::make_pair(t.lane, t.tid);
    auto it = last.find(key);
    if (it != last.end()) CHECK(t.id > it->second);
    last[key] = t.id;
  }
}

TEST_CASE("records wrap around a small lane with a padding record, in order, with a consumer") {
  test::TempDir dir;
  auto config = test::test_config();
  config.lanes = 2;
  config.ring_bytes = 2 * 4096;  // 4 KiB lanes: wraps every ~60 records
  config.overflow = OverflowPolicy::block;
  config.block_timeout = std::chrono::seconds(5);
  const auto path = test::start_ring(dir, config);
  Logger log;
  auto reader = RingReader::open(path, OpenMode::consumer);
  REQUIRE(reader);
  std::atomic<bool> done{false};
  std::vector<Taken> taken;
  std::thread consumer([&] {
    while (!done.load()) take_into(*reader.value(), taken);
    take_into(*reader.value(), taken);
  });
  constexpr int kRecords = 20000;
  std::thread producer([&] {
    // Varying sizes so the padding record takes every length.
    for (int i = 0; i < kRecords; ++i)
      log.info("{}", std::string(static_cast<std::size_t>(i % 97), 'p'), kv("id", i));
  });
  producer.join();
  done = true;
  consumer.join();
  REQUIRE(taken.size() == kRecords);
  for (int i = 0; i < kRecords; ++i) REQUIRE(taken[static_cast<std::size_t>(i)].id == i);
  check_lane_order(taken);
}

TEST_CASE("drop-newest: a full lane drops and counts per level; WARNING keeps its headroom") {
  test::TempDir dir;
  auto config = test::test_config();
  config.lanes = 2;
  config.ring_bytes = 2 * 8192;
  config.headroom_percent = 25;
  const auto path = test::start_ring(dir, config);
  Logger log;
  int infos = 0;
  for (; infos < 1000; ++infos) log.info("filler {}", infos);
  log.debug("debug {}", -1);  // as large as the fillers: must not fit either
  for (int i = 0; i < 5; ++i) log.warning("warning {} still fits", i);
  auto reader = RingReader::open(path, OpenMode::consumer);
  REQUIRE(reader);
  auto& r = *reader.value();
  const std::uint64_t dropped_info = total_dropped(r, Level::info);
  CHECK(dropped_info > 0);
  CHECK(dropped_info < 1000);
  CHECK(total_dropped(r, Level::debug) == 1);
  CHECK(total_dropped(r, Level::warning) == 0);
  auto lines = test::drain_lines(path);
  CHECK(lines.size() == 1000 - dropped_info + 5);
  CHECK(test::field(lines.back(), "message") == "warning 4 still fits");
  // Once drained, the lane takes records again.
  log.info("after drain");
  CHECK(test::drain_lines(path).size() == 1);
}

TEST_CASE("block-with-timeout: waits a bounded time without a consumer, never hangs") {
  test::TempDir dir;
  auto config = test::test_config();
  config.lanes = 2;
  config.ring_bytes = 2 * 8192;
  config.overflow = OverflowPolicy::block;
  config.block_timeout = std::chrono::milliseconds(20);
  const auto path = test::start_ring(dir, config);
  Logger log;
  // Fill the lane: the first call that takes the whole timeout found it full.
  auto waited = std::chrono::steady_clock::duration::zero();
  for (int i = 0; i < 1000 && waited < std::chrono::milliseconds(20); ++i) {
    const auto start = std::chrono::steady_clock::now();
    log.warning("fill {}", i);
    waited = std::chrono::steady_clock::now() - start;
  }
  CHECK(waited >= std::chrono::milliseconds(20));
  CHECK(waited < std::chrono::seconds(2));
  auto reader = RingReader::open(path, OpenMode::consumer);
  REQUIRE(reader);
  CHECK(total_dropped(*reader.value(), Level::warning) >= 1);
  std::uint64_t blocked = 0;
  for (std::uint32_t lane = 0; lane < 2; ++lane) blocked += reader.value()->lane_state(lane).blocked;
  CHECK(blocked >= 1);
}

TEST_CASE("two consumers on one ring never take the same record") {
  test::TempDir dir;
  auto config = test::test_config();
  config.overflow = OverflowPolicy::block;
  config.block_timeout = std::chrono::seconds(5);
  const auto path = test::start_ring(dir, config);
  Logger log;
  std::atomic<bool> done{false};
  std::vector<Taken> a, b;
  auto consume = [&](std::vector<Taken>& out) {
    auto reader = RingReader::open(path, OpenMode::consumer);
    REQUIRE(reader);
    while (!done.load()) take_into(*reader.value(), out);
    take_into(*reader.value(), out);
  };
  std::thread ca(consume, std::ref(a)), cb(consume, std::ref(b));
  constexpr int kRecords = 30000;
  std::thread producer([&] {
    for (int i = 0; i < kRecords; ++i) log.info("r {}", i, kv("id", i));
  });
  producer.join();
  done = true;
  ca.join();
  cb.join();
  std::multiset<std::int64_t> all;
  for (auto& t : a) all.insert(t.id);
  for (auto& t : b) all.insert(t.id);
  CHECK(all.size() == kRecords);
  CHECK(std::set<std::int64_t>(all.begin(), all.end()).size() == kRecords);
  INFO("consumer a took " << a.size() << ", b took " << b.size());
}

TEST_CASE("an observer peeks without consuming") {
  test::TempDir dir;
  const auto path = test::start_ring(dir);
  Logger log;
  for (int i = 0; i < 10; ++i) log.info("peek {}", i);
  auto peeked = test::peek_lines(path);
  auto peeked_again = test::peek_lines(path);
  auto taken = test::drain_lines(path);
  CHECK(peeked.size() == 10);
  CHECK(peeked == peeked_again);
  CHECK(peeked == taken);
  CHECK(test::peek_lines(path).empty());
}

TEST_CASE("flush waits for a consumer and gives up after its timeout") {
  test::TempDir dir;
  const auto path = test::start_ring(dir);
  Logger log;
  log.info("pending");
  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(flush(std::chrono::milliseconds(30)));  // nobody drains
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  std::thread consumer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    test::drain_lines(path);
  });
  CHECK(flush(std::chrono::seconds(5)));
  consumer.join();
}
