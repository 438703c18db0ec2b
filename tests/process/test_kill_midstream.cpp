// (a) kill -9 in the middle of a stream: a producer logs as fast as it can from 4 threads and is
// killed at a random moment, 20 times over. Whatever it had committed must come out of the ring
// complete and in order: every record decodes, each lane's seq numbers run from 0 with no gap
// and no repeat, each thread's ids increase, no id appears twice, and the writer is seen dead.
//
// Even iterations drain while the producer runs (so lanes wrap and the kill can land on any
// lap), odd ones only after the kill (a big ring, so the kill can land before it fills).
#include "process_util.hpp"
#include "support/test_dir.hpp"

#include <shmlog/reader.hpp>

#include <csignal>
#include <map>
#include <set>
#include <thread>

#include <doctest/doctest.h>
#include <sys/wait.h>

using namespace shmlog;
using namespace shmlog::test;

TEST_CASE("kill -9 mid-stream leaves only complete records, in order, each once") {
  constexpr int kKills = 20;
  const Expect expect{4, 24, false};
  std::size_t total = 0, caught_mid_record = 0;
  for (int i = 0; i < kKills; ++i) {
    const bool concurrent = i % 2 == 0;
    const std::uint64_t delay_ms = concurrent ? random_between(5, 60) : random_between(0, 15);
    CAPTURE(i);
    CAPTURE(concurrent);
    CAPTURE(delay_ms);
    TempDir dir("shmlog-kill");
    Child producer = Child::spawn(producer_argv(dir.path(), {"--threads", "4", "--lanes", "8", "--ring-bytes",
                                                             concurrent ? "512KiB" : "16MiB", "--payload",
                                                             "24", "--count", "0", "--ready-after", "1"}),
                                  dir.file("producer.stderr"));
    std::string why;
    const std::string path = expect_ring(producer, why);
    REQUIRE_MESSAGE(!path.empty(), why);
    REQUIRE_MESSAGE(producer.expect_line("ready", milliseconds(10000)), producer.transcript());

    auto opened = RingReader::open(path, OpenMode::consumer);
    REQUIRE_MESSAGE(opened, error_of(opened));
    RingReader& reader = *opened.value();
    CHECK(reader.writer_alive());

    std::vector<Taken> taken;
    const auto until = std::chrono::steady_clock::now() + milliseconds(delay_ms);
    if (concurrent) {
      while (std::chrono::steady_clock::now() < until) {
        std::size_t found = 0;
        const std::string problem = take_pass(reader, expect, taken, found);
        REQUIRE_MESSAGE(problem.empty(), problem);
      }
    } else {
      std::this_thread::sleep_until(until);
    }
    producer.kill(SIGKILL);
    const auto status = producer.wait(milliseconds(10000));
    REQUIRE(status);
    CHECK_MESSAGE((WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL), describe_status(*status));
    CHECK_FALSE(reader.writer_alive());

    const std::string problem = take_all(reader, expect, taken, 97);
    REQUIRE_MESSAGE(problem.empty(), problem);
    const std::string order = check_lanes_from_start(taken);
    CHECK_MESSAGE(order.empty(), order);
    std::set<std::uint32_t> threads;
    for (const auto& t : taken) threads.insert(t.thread);
    CHECK_MESSAGE(threads.size() == 4, "records of " << threads.size() << " threads");

    // Nothing committed stays behind, and the reader stops cleanly where the writer stopped.
    std::map<std::uint32_t, const Taken*> last;
    for (const auto& t : taken) last[t.lane] = &t;
    for (std::uint32_t lane = 0; lane < reader.info().lane_count; ++lane) {
      const LaneState s = reader.lane_state(lane);
      CHECK_MESSAGE(s.read_pos >= s.write_pos,
                    "lane " << lane << " read_pos " << s.read_pos << " write_pos " << s.write_pos);
      Batch batch;
      const auto st = reader.read_batch(lane, 16, 1 << 16, batch);
      CHECK_MESSAGE(st, error_of(st));
      CHECK(batch.records.empty());
      if (auto it = last.find(lane); it != last.end())
        caught_mid_record +=
            uncommitted_record_at(path, lane, s.read_pos, it->second->seq + 1, it->second->tid);
    }
    total += taken.size();
  }
  MESSAGE(kKills << " kills, " << total << " records read back, " << caught_mid_record
                 << " lanes held a record begun but never committed");
}
