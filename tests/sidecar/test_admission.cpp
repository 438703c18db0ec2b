// Sampling and the rate limit: exactly one in N, never ERROR and above, every let-go counted.
#include "transforms/admission.hpp"

#include <doctest/doctest.h>

using namespace shmlog;
using namespace shmlog::sidecar;
using Clock = Admission::Clock;

TEST_CASE("sampling keeps exactly one in N per level, the first included") {
  AdmissionSettings s;
  s.keep_one_in[static_cast<std::size_t>(Level::debug)] = 10;
  Admission a(s);
  const auto now = Clock::now();
  int kept_debug = 0, kept_info = 0;
  for (int i = 0; i < 1000; ++i) {
    if (a.admit(Level::debug, now)) {
      CHECK(i % 10 == 0);
      ++kept_debug;
    }
    kept_info += a.admit(Level::info, now);
  }
  CHECK(kept_debug == 100);
  CHECK(kept_info == 1000);
  const auto counts = a.take_counts();
  CHECK(counts.sampled[static_cast<std::size_t>(Level::debug)] == 900);
  CHECK(counts.sampled[static_cast<std::size_t>(Level::info)] == 0);
  CHECK_FALSE(a.take_counts().any());  // taken
  CHECK(a.totals().sampled[static_cast<std::size_t>(Level::debug)] == 900);
}

TEST_CASE("the rate limit lets a second's worth through, then the rate; ERROR always passes") {
  AdmissionSettings s;
  s.rate_limit = 100;
  Admission a(s);
  auto t = Clock::now();
  int kept = 0;
  for (int i = 0; i < 1000; ++i) kept += a.admit(Level::info, t);
  CHECK(kept == 100);  // the burst
  for (int i = 0; i < 50; ++i) CHECK(a.admit(Level::error, t));
  t += std::chrono::milliseconds(500);  // half a second: 50 more
  kept = 0;
  for (int i = 0; i < 1000; ++i) kept += a.admit(Level::warning, t);
  CHECK(kept == 50);
  const auto counts = a.take_counts();
  CHECK(counts.limited[static_cast<std::size_t>(Level::info)] == 900);
  CHECK(counts.limited[static_cast<std::size_t>(Level::warning)] == 950);
  CHECK(counts.limited[static_cast<std::size_t>(Level::error)] == 0);
}
