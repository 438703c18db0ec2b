// `shmlog sidecar`: the long-running drain of the sidecar container.
#pragma once

#include "cli/command.hpp"

#include <CLI/CLI.hpp>

namespace shmlog::cli {

void add_sidecar_command(CLI::App& app, Action& action);

}  // namespace shmlog::cli
