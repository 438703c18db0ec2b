// CLOCK_REALTIME in nanoseconds: the sidecar's own lines and its heartbeat in the rings.
// (libshm has the same for the writer, internal to the library.)
#pragma once

#include <cstdint>
#include <ctime>

namespace shmlog::sidecar {

inline std::uint64_t wall_clock_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace shmlog::sidecar
