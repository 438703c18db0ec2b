// `shmlog ring tail PATH... [-f] [--level L] [--lanes N,...]`: prints the records a ring holds
// that no consumer has taken yet, as the sidecar would write them (one JSON line each), without
// taking them: rings are opened as an observer, so a running sidecar is not disturbed.
#pragma once

#include <shmlog/level.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace shmlog::cli {

struct TailOptions {
  std::vector<std::string> paths;    // ring files or directories of them
  bool follow = false;               // keep printing new records (and new rings) until SIGINT/SIGTERM
  Level min_level = Level::trace;    // records below it are not printed
  std::vector<std::uint32_t> lanes;  // only these lanes; empty: all
};

// Returns kExitOk, kExitFailed if a ring, lane or record could not be read (each named on
// stderr; the rest is still printed), kExitUsage if a PATH does not exist.
int run_tail(const TailOptions& options);

}  // namespace shmlog::cli
