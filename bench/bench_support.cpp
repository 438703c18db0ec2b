#include "bench_support.hpp"

#include <algorithm>
#include <cstdio>
#include <thread>

#include <pthread.h>
#include <sched.h>

namespace shmlog_bench {

TscClock TscClock::calibrate(std::chrono::milliseconds window) {
  using clock = std::chrono::steady_clock;
  // Bracket each clock read with two TSC reads and keep the midpoint of the narrowest of a few
  // tries: a vCPU descheduled inside a bracket (milliseconds on a busy host) would otherwise
  // shift one end of the window and the rate by several percent.
  auto sample = [] {
    std::uint64_t best_width = ~std::uint64_t{0}, best_mid = 0;
    clock::time_point best_t{};
    for (int i = 0; i < 16; ++i) {
      const std::uint64_t a = tsc_now();
      const auto t = clock::now();
      const std::uint64_t b = tsc_now();
      if (b - a < best_width) {
        best_width = b - a;
        best_mid = a + (b - a) / 2;
        best_t = t;
      }
    }
    return std::pair{best_mid, best_t};
  };
  const auto [tsc0, t0] = sample();
  auto [tsc1, t1] = sample();
  while (t1 - t0 < window) std::tie(tsc1, t1) = sample();
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
  TscClock c;
  c.ns_per_tick_ = static_cast<double>(ns) / static_cast<double>(tsc1 - tsc0);
  return c;
}

bool pin_current_thread(int cpu) {
  if (cpu < 0 || cpu >= online_cpus()) return false;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

int online_cpus() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

Percentiles percentiles(std::vector<double> samples) {
  Percentiles p;
  if (samples.empty()) return p;
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    auto i = static_cast<std::size_t>(q * static_cast<double>(samples.size()));
    return samples[std::min(i, samples.size() - 1)];
  };
  p.p50 = at(0.5);
  p.p90 = at(0.9);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = samples.back();
  return p;
}

std::string fixed1(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

}  // namespace shmlog_bench
