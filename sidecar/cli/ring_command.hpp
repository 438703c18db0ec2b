// `shmlog ring ...`: the tools for looking at ring files by hand (inspect, tail).
#pragma once

#include "cli/command.hpp"

#include <CLI/CLI.hpp>

namespace shmlog::cli {

// Adds `ring` and its subcommands to `app`; the one parsed sets `action`.
void add_ring_command(CLI::App& app, Action& action);

}  // namespace shmlog::cli
