// `shmlog settings`: every SHMLOG_* variable with its default and what it allows, from the one
// table the code parses them with (so the README's table is generated, never typed).
#pragma once

#include "cli/command.hpp"

#include <CLI/CLI.hpp>

namespace shmlog::cli {

void add_settings_command(CLI::App& app, Action& action);

}  // namespace shmlog::cli
