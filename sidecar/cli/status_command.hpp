// `shmlog status [--dir DIR] [--json]`: every ring of the directory at a glance, one row each:
// its writer (alive, dead, closed), lanes in use, fill, drops, and whether a sidecar drains it.
// Read-only (observer mode): running it never changes a ring.
#pragma once

#include "cli/command.hpp"

#include <CLI/CLI.hpp>
#include <chrono>
#include <string>

namespace shmlog::cli {

struct StatusOptions {
  std::string dir;  // empty: $SHMLOG_DIR, else the sidecar's default (/var/run/shmlog)
  bool json = false;
  std::string url;  // a running sidecar's endpoint: read its /status instead of the ring files
  // A drainer whose last heartbeat is older than this is shown as stale. The sidecar beats once
  // a second, so 10 s is many missed beats, not one slow round.
  std::chrono::milliseconds stale_after{10000};
};

// Prints the table (or JSON document). Returns kExitOk when the directory could be listed, even
// if some ring files in it are unreadable (each gets a row saying why); kExitUsage when DIR does
// not exist or cannot be listed.
int run_status(const StatusOptions& options);

void add_status_command(CLI::App& app, Action& action);

}  // namespace shmlog::cli
