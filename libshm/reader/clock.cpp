#include "time_source.hpp"

#include <shmlog/reader.hpp>

#include <algorithm>
#include <cstring>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace shmlog {
namespace {

__extension__ typedef unsigned __int128 u128;  // 64x64-bit products without overflow

bool same_boot(const std::uint8_t (&id)[16]) {
  std::uint8_t mine[16];
  detail::read_boot_id(mine);
  static constexpr std::uint8_t unknown[16] = {};
  // An unreadable boot id (all zero) on either side proves nothing.
  return std::memcmp(mine, unknown, 16) != 0 && std::memcmp(mine, id, 16) == 0;
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
  if (!same_boot_) return;
  const detail::ClockPair now = detail::clock_pair();
  // Over a second or more the bracketed pair's error is below a part per million.
  if (now.tsc > anchor_ && now.ns > start_ns_ + 1'000'000'000u)
    hz_ = static_cast<std::uint64_t>(static_cast<u128>(now.tsc - anchor_) * 1'000'000'000u /
                                     (now.ns - start_ns_));
}

void ClockConverter::maybe_refresh() {
#if defined(__x86_64__)
  if (!same_boot_ || hz_ == 0) return;
  const std::uint64_t ticks = __rdtsc();
  if (ticks < next_refresh_) return;
  refresh();
  // 1 s, 2 s, 4 s ... 64 s apart: the estimate improves with the ring's age, so early refreshes
  // matter most, and a long-lived ring is re-read once a minute.
  next_refresh_ = ticks + hz_ * refresh_interval_s_;
  refresh_interval_s_ = std::min<std::uint64_t>(refresh_interval_s_ * 2, 64);
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
