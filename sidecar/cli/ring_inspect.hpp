// `shmlog ring inspect PATH... [--json]`: what a ring file says about itself and its writer,
// lane by lane, without touching it (read-only mapping).
#pragma once

#include <string>
#include <vector>

namespace shmlog::cli {

struct InspectOptions {
  std::vector<std::string> paths;  // ring files or directories of them
  bool json = false;               // one JSON document instead of tables
};

// Prints every ring; a ring that cannot be read is named on stderr and the rest still shown.
// Returns kExitOk, kExitFailed if any ring could not be read, kExitUsage if a PATH does not exist.
int run_inspect(const InspectOptions& options);

}  // namespace shmlog::cli
