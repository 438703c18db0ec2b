#include <shmlog/reader.hpp>

#include <cstring>
#include <fstream>
#include <string>

#include <time.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace shmlog {
namespace {

__extension__ typedef unsigned __int128 u128;  // 64x64-bit products without overflow

std::uint64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

bool same_boot(const std::uint8_t (&id)[16]) {
  std::ifstream f("/proc/sys/kernel/random/boot_id");
  std::string text;
  std::getline(f, text);
  std::uint8_t mine[16] = {};
  std::size_t n = 0;
  for (std::size_t i = 0; i + 1 < text.size() && n < 16;) {
    auto hex = [](char c) { return c >= 'a' ? c - 'a' + 10 : c - '0'; };
    if (text[i] == '-') {
      ++i;
      continue;
    }
    mine[n++] = static_cast<std::uint8_t>(hex(text[i]) << 4 | hex(text[i + 1]));
    i += 2;
  }
  return n == 16 && std::memcmp(mine, id, 16) == 0;
}

}  // namespace

ClockConverter::ClockConverter(const ring::FileHeader& h)
    : source_(static_cast<ring::ClockSource>(h.clock_source)),
      start_ns_(h.start_ns),
      anchor_(h.tsc_anchor),
      hz_(h.tsc_hz),
      same_boot_(source_ == ring::ClockSource::tsc && same_boot(h.boot_id)) {
  refresh();
}

void ClockConverter::refresh() {
#if defined(__x86_64__)
  if (!same_boot_) return;
  const std::uint64_t ticks = __rdtsc();
  const std::uint64_t now = realtime_ns();
  // Over a second or more the two clocks' read jitter is below a part per million.
  if (ticks > anchor_ && now > start_ns_ + 1'000'000'000u)
    hz_ = static_cast<std::uint64_t>(static_cast<u128>(ticks - anchor_) * 1'000'000'000u / (now - start_ns_));
#endif
}

std::uint64_t ClockConverter::to_ns(std::uint64_t raw) const {
  if (source_ != ring::ClockSource::tsc) return raw;
  if (hz_ == 0) return start_ns_;
  if (raw >= anchor_)
    return start_ns_ + static_cast<std::uint64_t>(static_cast<u128>(raw - anchor_) * 1'000'000'000u / hz_);
  const auto back = static_cast<std::uint64_t>(static_cast<u128>(anchor_ - raw) * 1'000'000'000u / hz_);
  return back < start_ns_ ? start_ns_ - back : 0;
}

}  // namespace shmlog
