// What every subcommand module gives main(): it registers its subcommand on the app and, when
// that subcommand is the one parsed, stores what to run.
#pragma once

#include <functional>

namespace shmlog::cli {

// Runs the parsed subcommand; returns the process's exit status.
using Action = std::function<int()>;

// Exit statuses shared by the subcommands (CLI11 uses its own, all above 100, for bad arguments).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;  // ran, but something it read was bad (named on stderr)
inline constexpr int kExitUsage = 2;   // could not start: a PATH that does not exist, ...

}  // namespace shmlog::cli
