// The shmlog program. Each subcommand lives in its own module, which registers its options and
// says what to run; main() only parses and dispatches.
#include "cli/command.hpp"
#include "cli/inject_command.hpp"
#include "cli/probe_command.hpp"
#include "cli/ring_command.hpp"
#include "cli/settings_command.hpp"
#include "cli/sidecar_command.hpp"
#include "cli/status_command.hpp"
#include "cli/wait_apps_command.hpp"
#include "cli/webhook_command.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  try {
    CLI::App app{"shmlog: crash-safe shared-memory logging for C++ on Kubernetes", "shmlog"};
    app.set_version_flag("--version", "shmlog " SHMLOG_VERSION, "Print the version and exit");
    app.require_subcommand(1);

    shmlog::cli::Action action;
    // One line per subcommand. The sidecar's own commands (the drain loop, status, inject,
    // webhook) register here as they are written.
    shmlog::cli::add_ring_command(app, action);
    shmlog::cli::add_settings_command(app, action);
    shmlog::cli::add_status_command(app, action);
    shmlog::cli::add_sidecar_command(app, action);
    shmlog::cli::add_probe_command(app, action);
    shmlog::cli::add_wait_apps_command(app, action);
    shmlog::cli::add_inject_command(app, action);
    shmlog::cli::add_webhook_command(app, action);

    CLI11_PARSE(app, argc, argv);
    return action ? action() : shmlog::cli::kExitOk;
  } catch (const std::exception& e) {  // out of memory and the like: say so, never abort
    std::fprintf(stderr, "shmlog: %s\n", e.what());
    return shmlog::cli::kExitFailed;
  }
}
