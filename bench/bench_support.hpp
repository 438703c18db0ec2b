// What every benchmark case shares: the TSC clock, CPU pinning, the pause between bursts, the
// burst loop itself and the percentiles. The method is Quill's hot-path benchmark
// (benchmarks/hot_path_latency in odygrd/quill): time a whole burst with rdtscp, divide by the
// burst size, busy-wait a random 2.0-2.2 ms, repeat; percentiles over all bursts.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <x86intrin.h>

namespace shmlog_bench {

// rdtscp waits for every earlier instruction to finish before it reads the counter, so the end
// stamp of a burst cannot run ahead of the burst's last log call.
inline std::uint64_t tsc_now() noexcept {
  unsigned aux = 0;
  return __rdtscp(&aux);
}

// TSC ticks per nanosecond, measured against steady_clock. The TSC is invariant on every CPU
// this runs on (constant_tsc + nonstop_tsc), so one calibration holds for the whole run.
class TscClock {
 public:
  static TscClock calibrate(std::chrono::milliseconds window = std::chrono::milliseconds{50});
  double ns_per_tick() const { return ns_per_tick_; }
  double ghz() const { return 1.0 / ns_per_tick_; }

 private:
  double ns_per_tick_ = 1.0;
};

// Pins the calling thread to one CPU. False when that CPU does not exist or the call fails
// (the case then says so in its output instead of pretending).
bool pin_current_thread(int cpu);
int online_cpus();

// The pause between bursts: a busy-wait, as Quill does, so the core neither sleeps nor gets
// rescheduled between bursts (a sleep would measure wake-up and cold caches instead). With
// `evict_bytes`, the pause first writes one byte per cache line of a buffer that large: the
// caches and TLB then hold someone else's data when the burst starts, as they do when an app
// does real work between two log lines (--evict-bytes, off by default).
class BurstPause {
 public:
  BurstPause(std::chrono::microseconds min, std::chrono::microseconds max, std::uint32_t seed,
             std::size_t evict_bytes = 0)
      : rng_(seed), dist_(min.count(), max.count()), evict_(evict_bytes) {}
  void wait() {
    const auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(dist_(rng_));
    for (std::size_t i = 0; i < evict_.size(); i += 64) evict_[i] = static_cast<char>(evict_[i] + 1);
    while (std::chrono::steady_clock::now() < end) {
    }
  }

 private:
  std::mt19937 rng_;
  std::uniform_int_distribution<std::chrono::microseconds::rep> dist_;
  std::vector<char> evict_;
};

struct BurstPlan {
  std::size_t warmup_bursts = 200;  // run exactly like the measured ones, then discarded
  std::size_t bursts = 2500;
  std::size_t burst_size = 20;
  std::chrono::microseconds pause_min{2000};
  std::chrono::microseconds pause_max{2200};
  std::size_t evict_bytes = 0;  // see BurstPause
};

// Runs warm-up and measured bursts of `call(i, j, d)` (i: burst number, j: index in the burst,
// d: a double derived from i, the arguments of Quill's benchmark). Returns the average
// nanoseconds per call of each measured burst.
template <typename Call>
std::vector<double> run_bursts(const BurstPlan& plan, const TscClock& clock, std::uint32_t seed,
                               Call&& call) {
  std::vector<double> per_call_ns;
  per_call_ns.reserve(plan.bursts);
  BurstPause pause(plan.pause_min, plan.pause_max, seed, plan.evict_bytes);
  const double scale = clock.ns_per_tick() / static_cast<double>(plan.burst_size);
  for (std::size_t burst = 0; burst < plan.warmup_bursts + plan.bursts; ++burst) {
    const std::uint64_t i = burst;
    const double d = static_cast<double>(burst) + 0.1 * static_cast<double>(burst);
    const std::uint64_t start = tsc_now();
    for (std::uint64_t j = 0; j < plan.burst_size; ++j) call(i, j, d);
    const std::uint64_t end = tsc_now();
    if (burst >= plan.warmup_bursts) per_call_ns.push_back(static_cast<double>(end - start) * scale);
    pause.wait();
  }
  return per_call_ns;
}

struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
};
// Quill's convention: the sample at index floor(p * n) of the sorted samples.
Percentiles percentiles(std::vector<double> samples);

// "12.3" with one decimal: enough for nanoseconds, stable for diffs of JSON lines.
std::string fixed1(double v);

}  // namespace shmlog_bench
