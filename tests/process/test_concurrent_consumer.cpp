// (e) A consumer process drains while the producer process writes: at the end it has taken every
// record exactly once, in per-lane order. The consumer starts first and finds the ring by
// listing the directory, as the sidecar does.
#include "process_util.hpp"
#include "support/test_dir.hpp"

#include <shmlog/reader.hpp>

#include <algorithm>
#include <thread>

#include <doctest/doctest.h>
#include <sys/wait.h>

using namespace shmlog;
using namespace shmlog::test;

namespace {

int consume(const std::string& dir, const std::string& stop, const std::string& out, const Expect& expect) {
  std::string path;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (path.empty()) {
    auto rings = list_rings(dir);
    if (rings && !rings.value().empty()) path = rings.value().front();
    if (std::chrono::steady_clock::now() > deadline) {
      write_file(out + ".error", "no ring appeared in " + dir);
      return 3;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  auto opened = RingReader::open(path, OpenMode::consumer);
  if (!opened) {
    write_file(out + ".error", opened.error().message);
    return 3;
  }
  std::vector<Taken> taken;
  for (bool stopping = false;;) {
    std::size_t found = 0;
    const std::string problem = take_pass(*opened.value(), expect, taken, found, 101);
    if (!problem.empty()) {
      write_file(out + ".error", problem);
      return 4;
    }
    if (found != 0) continue;
    if (stopping) break;
    stopping = file_exists(stop);
    if (!stopping) std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return save_taken(out, taken) ? 0 : 5;
}

}  // namespace

TEST_CASE("a consumer process takes every record of a concurrent producer process once, in lane order") {
  constexpr std::uint32_t kThreads = 4;
  constexpr std::uint64_t kPerThread = 25000;
  const Expect expect{kThreads, 32, false};
  TempDir dir("shmlog-concurrent");
  const std::string stop = dir.file("stop"), out = dir.file("taken");
  Child consumer = Child::fork_call([&] { return consume(dir.path(), stop, out, expect); });
  Child producer = Child::spawn(
      producer_argv(dir.path(), {"--threads", std::to_string(kThreads), "--count", std::to_string(kPerThread),
                                 "--payload", "32", "--overflow", "block", "--block-timeout-ms", "5000",
                                 "--ring-bytes", "512KiB", "--lanes", "8"}),
      dir.file("producer.stderr"));
  std::string why;
  const std::string path = expect_ring(producer, why);
  REQUIRE_MESSAGE(!path.empty(), why);
  const auto status = producer.wait(milliseconds(60000));
  REQUIRE_MESSAGE(status, "the producer did not finish in time");
  CHECK_MESSAGE((WIFEXITED(*status) && WEXITSTATUS(*status) == 0), describe_status(*status));
  write_file(stop, "");
  const auto done = consumer.wait(milliseconds(30000));
  REQUIRE_MESSAGE(done, "the consumer did not stop");
  REQUIRE_MESSAGE((WIFEXITED(*done) && WEXITSTATUS(*done) == 0), describe_status(*done)
                                                                     << ": " << read_file(out + ".error"));

  auto r = RingReader::open(path, OpenMode::observer);
  REQUIRE_MESSAGE(r, error_of(r));
  for (std::uint32_t lane = 0; lane < r.value()->info().lane_count; ++lane)
    for (auto d : r.value()->lane_state(lane).dropped)
      REQUIRE_MESSAGE(d == 0, "lane " << lane << " dropped records");

  const std::vector<Taken> taken = load_taken(out);
  CHECK(taken.size() == kThreads * kPerThread);
  const std::string order = check_lanes_from_start(taken);
  CHECK_MESSAGE(order.empty(), order);
  std::vector<std::uint64_t> ids;
  std::uint64_t furthest = 0;
  for (const auto& t : taken) {
    ids.push_back(t.id);
    furthest = std::max(furthest, t.position);
  }
  std::sort(ids.begin(), ids.end());
  CHECK((!ids.empty() && ids.front() == 0 && ids.back() == kThreads * kPerThread - 1));
  // The lanes held far less than was written: the consumer must have drained while it ran.
  CHECK(furthest > 4 * r.value()->info().lane_bytes);
}
