// The shmlog cases: the method API, the macro, a disabled level, two producers at once, and the
// method API against a consumer that sleeps when idle as the sidecar does.
#include "cases.hpp"
#include "ring_consumer.hpp"

#include <shmlog/logger.hpp>
#include <shmlog/reader.hpp>

#include <chrono>
#include <latch>
#include <thread>

namespace shmlog_bench {
namespace {

// Each call shape is a real call site in a function of its own, as a log line in an app is; the
// call costs the same in every case (the floor's and spdlog's are built the same way).
[[gnu::noinline]] void log_method(const shmlog::Logger& log, std::uint64_t i, std::uint64_t j, double d) {
  log.info("Logging int: {}, int: {}, double: {}", i, j, d);
}
[[gnu::noinline]] void log_macro(const shmlog::Logger& log, std::uint64_t i, std::uint64_t j, double d) {
  SHMLOG_INFO(log, "Logging int: {}, int: {}, double: {}", i, j, d);
}
// Below the runtime minimum (INFO): what a call costs when it is filtered out.
[[gnu::noinline]] void log_disabled(const shmlog::Logger& log, std::uint64_t i, std::uint64_t j, double d) {
  log.debug("Logging int: {}, int: {}, double: {}", i, j, d);
}
using LogFn = void (*)(const shmlog::Logger&, std::uint64_t, std::uint64_t, double);

std::uint64_t dropped_records(const std::string& ring_path) {
  auto reader = shmlog::RingReader::open(ring_path, shmlog::OpenMode::observer);
  if (!reader) return 0;
  std::uint64_t n = 0;
  for (std::uint32_t lane = 0; lane < reader.value()->info().lane_count; ++lane)
    for (std::uint64_t d : reader.value()->lane_state(lane).dropped) n += d;
  return n;
}

// Writes a little more than one lap of this thread's lane, waiting for the consumer every 256
// records, so every page of the lane is mapped in the writer's (and the reader's) page tables
// before timing starts: a first-touch page fault is not what the benchmark measures.
void write_lap(const CaseSetup& s, const shmlog::Logger& log, LogFn fn) {
  const std::uint64_t records = s.lane_bytes / 64 + s.lane_bytes / 256;
  for (std::uint64_t n = 0; n < records; ++n) {
    fn(log, n, n, 0.5);
    if (n % 256 == 255) shmlog::flush(std::chrono::seconds(2));
  }
  shmlog::flush(std::chrono::seconds(2));
}

CaseResult single_producer(const CaseSetup& s, std::string name, LogFn fn, IdleMode idle, bool lap,
                           std::uint32_t seed) {
  CaseResult r;
  r.name = std::move(name);
  const std::uint64_t dropped_before = dropped_records(s.ring_path);
  RingConsumer consumer(s.ring_path, idle, kConsumerCpu);
  if (!consumer.ok()) {
    r.error = consumer.error();
    return r;
  }
  const shmlog::Logger log{"bench"};
  bool pinned = false;
  std::thread producer([&] {
    pinned = pin_current_thread(kProducerCpu);
    if (lap) write_lap(s, log, fn);
    r.per_call_ns = run_bursts(s.plan, s.clock, seed,
                               [&](std::uint64_t i, std::uint64_t j, double d) { fn(log, i, j, d); });
  });
  producer.join();
  shmlog::flush(std::chrono::seconds(2));
  consumer.stop();
  r.notes.emplace_back("sink", json_string("ring"));
  r.counts.emplace_back("dropped", dropped_records(s.ring_path) - dropped_before);
  r.pinned = pinned && consumer.pinned();
  if (idle == IdleMode::futex) r.counts.emplace_back("consumer_sleeps", consumer.futex_waits());
  r.counts.emplace_back("consumer_read_errors", consumer.read_errors());
  return r;
}

IdleMode draining(const CaseSetup& s) {
  return s.consumer_polls ? IdleMode::sleep_poll : IdleMode::spin;
}
std::string draining_note(const CaseSetup& s) {
  return json_string(s.consumer_polls ? "read_batch+commit, sleeps 1 ms when idle"
                                      : "spinning read_batch+commit");
}

}  // namespace

CaseResult run_shmlog_method(const CaseSetup& s) {
  auto r = single_producer(s, "shmlog", log_method, draining(s), true, 1);
  r.notes.emplace_back("consumer", draining_note(s));
  return r;
}

CaseResult run_shmlog_macro(const CaseSetup& s) {
  auto r = single_producer(s, "shmlog_macro", log_macro, draining(s), true, 2);
  r.notes.emplace_back("consumer", draining_note(s));
  return r;
}

CaseResult run_shmlog_disabled(const CaseSetup& s) {
  auto r = single_producer(s, "shmlog_disabled", log_disabled, draining(s), false, 3);
  r.notes.emplace_back("call", json_string("debug below runtime level info"));
  r.notes.emplace_back("consumer", draining_note(s));
  return r;
}

CaseResult run_shmlog_sleeping_consumer(const CaseSetup& s) {
  auto r = single_producer(s, "shmlog_sleeping_consumer", log_method, IdleMode::futex, true, 4);
  r.notes.emplace_back("consumer", json_string("sleeps on wake_futex when idle, like the sidecar"));
  return r;
}

// Two producers on cores 0 and 1, so the consumer has no core of its own: it runs unpinned and
// sleeps 1 ms whenever a sweep finds nothing (a spinning one would steal a producer's core).
CaseResult run_shmlog_two_threads(const CaseSetup& s) {
  CaseResult r;
  r.name = "shmlog_2threads";
  const std::uint64_t dropped_before = dropped_records(s.ring_path);
  RingConsumer consumer(s.ring_path, IdleMode::sleep_poll, -1);
  if (!consumer.ok()) {
    r.error = consumer.error();
    return r;
  }
  const shmlog::Logger log{"bench"};
  std::latch lapped(2);
  std::vector<double> samples[2];
  bool pinned[2] = {false, false};
  std::thread producers[2];
  for (int k = 0; k < 2; ++k) {
    producers[k] = std::thread([&, k] {
      pinned[k] = pin_current_thread(k);
      write_lap(s, log, log_method);
      lapped.arrive_and_wait();
      samples[k] = run_bursts(s.plan, s.clock, 10 + static_cast<std::uint32_t>(k),
                              [&](std::uint64_t i, std::uint64_t j, double d) { log_method(log, i, j, d); });
    });
  }
  for (auto& t : producers) t.join();
  shmlog::flush(std::chrono::seconds(2));
  consumer.stop();
  r.per_call_ns = std::move(samples[0]);
  r.per_call_ns.insert(r.per_call_ns.end(), samples[1].begin(), samples[1].end());
  r.notes.emplace_back("sink", json_string("ring"));
  r.notes.emplace_back("threads", "2");
  r.counts.emplace_back("dropped", dropped_records(s.ring_path) - dropped_before);
  r.counts.emplace_back("consumer_read_errors", consumer.read_errors());
  r.pinned = pinned[0] && pinned[1];
  r.notes.emplace_back("consumer", json_string("unpinned, polls every 1 ms"));
  return r;
}

}  // namespace shmlog_bench
