// The clocks the ring's timestamps come from, shared by the writer (which stamps records and
// calibrates the TSC) and the reader (which converts and refines): one place reads them.
#pragma once

#include <cstdint>

namespace shmlog::detail {

// CLOCK_REALTIME in nanoseconds since the Unix epoch.
std::uint64_t realtime_ns();

// This boot's id (/proc/sys/kernel/random/boot_id) as 16 bytes; all zero when unreadable. TSC
// values are only comparable within one boot.
void read_boot_id(std::uint8_t (&out)[16]);

// One TSC reading paired with one realtime reading. The TSC is read on both sides of the
// realtime read and the pair with the narrowest bracket of a few tries is kept, so a preemption
// or a slow clock_gettime (common in VMs) does not skew the pair.
struct ClockPair {
  std::uint64_t tsc = 0;
  std::uint64_t ns = 0;
};
ClockPair clock_pair();

}  // namespace shmlog::detail
