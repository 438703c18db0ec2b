// The references shmlog is held against: spdlog's async logger (what an app would use instead)
// and the floor (the least a shared-memory log call can cost).
#include "cases.hpp"
#include "floor_ring.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/null_sink.h>
#include <x86intrin.h>

namespace shmlog_bench {
namespace {

[[gnu::noinline]] void log_spdlog(spdlog::logger& log, std::uint64_t i, std::uint64_t j, double d) {
  log.info("Logging int: {}, int: {}, double: {}", i, j, d);
}

// The same values a shmlog record of this call carries, minus what the library adds (the clock
// read, the sequence number): a site id and the three arguments, in a 64-byte slot.
struct FloorBody {
  std::uint64_t site;
  std::uint64_t i;
  std::uint64_t j;
  double d;
  std::uint64_t unused[3];
};
static_assert(sizeof(FloorBody) == sizeof(FloorRing::Slot::body));

[[gnu::noinline]] void log_floor(FloorRing& ring, std::uint64_t i, std::uint64_t j, double d) {
  const FloorBody body{7, i, j, d, {}};
  ring.write(&body, sizeof body);
}
// The floor plus the one thing every record needs that a copy does not: a TSC timestamp, as
// shmlog takes it (rdtsc). The difference to `floor` is the price of the clock read alone.
[[gnu::noinline]] void log_floor_tsc(FloorRing& ring, std::uint64_t i, std::uint64_t j, double d) {
  const FloorBody body{7, i, j, d, {__rdtsc(), 0, 0}};
  ring.write(&body, sizeof body);
}
using FloorFn = void (*)(FloorRing&, std::uint64_t, std::uint64_t, double);

CaseResult floor_case(const CaseSetup& s, std::string name, FloorFn fn, std::uint32_t seed) {
  CaseResult r;
  r.name = std::move(name);
  FloorRing ring(s.temp_dir + "/" + r.name + ".ring", s.lane_bytes);
  if (!ring.ok()) {
    r.error = ring.error();
    return r;
  }
  std::atomic<bool> stop{false};
  std::atomic<bool> consumer_pinned{false};
  std::thread consumer([&] {
    consumer_pinned.store(pin_current_thread(kConsumerCpu));
    FloorRing::Slot out{};
    while (!stop.load(std::memory_order_relaxed)) {
      if (ring.read(out)) continue;
      if (s.consumer_polls)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      else
        _mm_pause();
    }
    while (ring.read(out)) {
    }
  });
  bool pinned = false;
  std::thread producer([&] {
    pinned = pin_current_thread(kProducerCpu);
    // One lap and a bit, waiting for the consumer every 256 records, as for shmlog.
    const std::uint64_t records = ring.slots() + ring.slots() / 4;
    for (std::uint64_t n = 0; n < records; ++n) {
      fn(ring, n, n, 0.5);
      if (n % 256 == 255)
        while (!ring.drained()) _mm_pause();
    }
    r.per_call_ns = run_bursts(s.plan, s.clock, seed,
                               [&](std::uint64_t i, std::uint64_t j, double d) { fn(ring, i, j, d); });
  });
  producer.join();
  stop.store(true, std::memory_order_relaxed);
  consumer.join();
  r.notes.emplace_back("sink", json_string("mmap file, 64-byte copy + release store"));
  r.notes.emplace_back("consumer", json_string(s.consumer_polls ? "sleeps 1 ms when idle" : "spinning"));
  r.counts.emplace_back("dropped", ring.dropped());
  r.pinned = pinned && consumer_pinned.load();
  return r;
}

}  // namespace

CaseResult run_spdlog_async(const CaseSetup& s) {
  CaseResult r;
  r.name = "spdlog_async";
  constexpr std::size_t kQueueItems = 8192;
  std::atomic<bool> worker_pinned{false};
  auto pool = std::make_shared<spdlog::details::thread_pool>(
      kQueueItems, 1, [&] { worker_pinned.store(pin_current_thread(kConsumerCpu)); });
  spdlog::sink_ptr sink;
  if (s.spdlog_file_sink)
    sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(s.temp_dir + "/spdlog.log", true);
  else
    sink = std::make_shared<spdlog::sinks::null_sink_mt>();
  auto logger =
      std::make_shared<spdlog::async_logger>("bench", sink, pool, spdlog::async_overflow_policy::block);

  bool pinned = false;
  std::thread producer([&] {
    pinned = pin_current_thread(kProducerCpu);
    // Warm the queue's slots and the sink like a lap of a shmlog lane does.
    for (std::uint64_t n = 0; n < kQueueItems + kQueueItems / 4; ++n) log_spdlog(*logger, n, n, 0.5);
    while (pool->queue_size() != 0) std::this_thread::sleep_for(std::chrono::microseconds(100));
    r.per_call_ns = run_bursts(s.plan, s.clock, 5, [&](std::uint64_t i, std::uint64_t j, double d) {
      log_spdlog(*logger, i, j, d);
    });
  });
  producer.join();
  logger->flush();
  const std::size_t overruns = pool->overrun_counter();
  logger.reset();
  pool.reset();  // joins the worker once the queue is empty
  r.notes.emplace_back("sink", json_string(s.spdlog_file_sink ? "file" : "null"));
  r.notes.emplace_back("queue_items", std::to_string(kQueueItems));
  r.notes.emplace_back("overflow", json_string("block"));
  r.counts.emplace_back("overruns", overruns);
  r.pinned = pinned && worker_pinned.load();
  return r;
}

CaseResult run_floor(const CaseSetup& s) {
  return floor_case(s, "floor", log_floor, 6);
}

CaseResult run_floor_tsc(const CaseSetup& s) {
  auto r = floor_case(s, "floor_rdtsc", log_floor_tsc, 7);
  r.notes.emplace_back("clock", json_string("rdtsc in the record"));
  return r;
}

}  // namespace shmlog_bench
