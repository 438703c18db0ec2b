// `shmlog wait-apps`: waits until no ring in the directory has a live writer. The preStop hook of
// a plain (pre-1.29, "legacy") sidecar container: Kubernetes stops every container of a pod at
// once, and holding the sidecar's SIGTERM back until the apps have exited lets them log their
// last lines to a sidecar that is still fully running. (The sidecar also keeps draining after
// SIGTERM until they detach; this makes the order explicit and visible in the pod's events.)
#pragma once

#include "cli/command.hpp"

#include <CLI/CLI.hpp>
#include <chrono>
#include <string>

namespace shmlog::cli {

struct WaitAppsOptions {
  std::string dir;  // empty: $SHMLOG_DIR, else /var/run/shmlog
  std::chrono::milliseconds timeout{25000};
};

// kExitOk once no ring has a live, attached writer (an empty or missing directory counts);
// kExitFailed when the timeout passes first (the attached rings are named on stderr).
int run_wait_apps(const WaitAppsOptions& options);

void add_wait_apps_command(CLI::App& app, Action& action);

}  // namespace shmlog::cli
