// `shmlog webhook`: the mutating admission webhook (webhook/), serving AdmissionReview v1 over
// TLS with the injection of `shmlog inject` until SIGTERM or SIGINT.
#pragma once

#include "cli/command.hpp"

#include <CLI/CLI.hpp>

namespace shmlog::cli {

void add_webhook_command(CLI::App& app, Action& action);

}  // namespace shmlog::cli
