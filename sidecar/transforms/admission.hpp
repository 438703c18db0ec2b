// Which records of a service are written: per-level sampling (keep one in N) and a per-service
// rate limit (a token bucket), with what each let go counted, so that thinning the logs is
// never silent. Records at ERROR and above always pass: they are the ones people look for.
#pragma once

#include <shmlog/level.hpp>

#include <array>
#include <chrono>
#include <cstdint>

namespace shmlog::sidecar {

struct AdmissionSettings {
  // Keep one record in keep_one_in[level] (1: all). From --sample "debug=0.1,trace=0.01".
  std::array<std::uint32_t, kLevelCount> keep_one_in{1, 1, 1, 1, 1, 1};
  double rate_limit = 0;  // records per second per service below ERROR; 0: no limit
};

class Admission {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Admission(const AdmissionSettings& settings) : settings_(settings) {}

  // Whether a record at `level` is written; counts it under sampled or limited otherwise.
  bool admit(Level level, Clock::time_point now);

  // What was let go since the last take_counts(), by level.
  struct Counts {
    std::array<std::uint64_t, kLevelCount> sampled{};
    std::array<std::uint64_t, kLevelCount> limited{};
    bool any() const;
  };
  Counts take_counts();
  const Counts& totals() const { return totals_; }

 private:
  AdmissionSettings settings_;
  std::array<std::uint64_t, kLevelCount> seen_{};
  double tokens_ = -1;  // < 0: not started
  Clock::time_point refilled_{};
  Counts pending_, totals_;
};

}  // namespace shmlog::sidecar
