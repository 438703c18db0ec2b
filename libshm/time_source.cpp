#include "time_source.hpp"

#include <fstream>
#include <string>

#include <time.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace shmlog::detail {

std::uint64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

void read_boot_id(std::uint8_t (&out)[16]) {
  for (auto& b : out) b = 0;
  std::ifstream f("/proc/sys/kernel/random/boot_id");
  std::string text;
  std::getline(f, text);
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::uint8_t id[16] = {};
  std::size_t n = 0;
  for (std::size_t i = 0; i + 1 < text.size() && n < 16;) {
    const int hi = hex(text[i]), lo = hex(text[i + 1]);
    if (hi < 0) {  // the dashes
      ++i;
      continue;
    }
    if (lo < 0) return;
    id[n++] = static_cast<std::uint8_t>(hi << 4 | lo);
    i += 2;
  }
  if (n != 16) return;
  for (std::size_t i = 0; i < 16; ++i) out[i] = id[i];
}

ClockPair clock_pair() {
  ClockPair best;
#if defined(__x86_64__)
  std::uint64_t best_width = ~std::uint64_t{0};
  for (int i = 0; i < 5; ++i) {
    const std::uint64_t before = __rdtsc();
    const std::uint64_t ns = realtime_ns();
    const std::uint64_t after = __rdtsc();
    if (after - before < best_width) {
      best_width = after - before;
      best = {before + (after - before) / 2, ns};
    }
  }
#else
  best.ns = realtime_ns();
#endif
  return best;
}

}  // namespace shmlog::detail
