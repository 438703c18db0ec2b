#include "transforms/admission.hpp"

#include <algorithm>

namespace shmlog::sidecar {

bool Admission::Counts::any() const {
  for (int i = 0; i < kLevelCount; ++i)
    if (sampled[static_cast<std::size_t>(i)] + limited[static_cast<std::size_t>(i)] > 0) return true;
  return false;
}

bool Admission::admit(Level level, Clock::time_point now) {
  const auto i = static_cast<std::size_t>(level);
  if (level >= Level::error) return true;
  // Sampling by count, not by chance: one in N exactly, the first one included, so a rare
  // record at a sampled level still shows up.
  const std::uint32_t n = settings_.keep_one_in[i];
  if (n > 1 && seen_[i]++ % n != 0) {
    ++pending_.sampled[i];
    ++totals_.sampled[i];
    return false;
  }
  if (settings_.rate_limit > 0) {
    const double burst = std::max(1.0, settings_.rate_limit);  // a second's worth
    if (tokens_ < 0) {
      tokens_ = burst;
      refilled_ = now;
    }
    const double elapsed = std::chrono::duration<double>(now - refilled_).count();
    tokens_ = std::min(burst, tokens_ + elapsed * settings_.rate_limit);
    refilled_ = now;
    if (tokens_ < 1) {
      ++pending_.limited[i];
      ++totals_.limited[i];
      return false;
    }
    tokens_ -= 1;
  }
  return true;
}

Admission::Counts Admission::take_counts() {
  Counts c = pending_;
  pending_ = Counts{};
  return c;
}

}  // namespace shmlog::sidecar
