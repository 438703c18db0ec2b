// The injection options shared by `shmlog inject` and `shmlog webhook`: one declaration, so both
// take the same flags with the same checks and help.
#pragma once

#include "inject/injector.hpp"

#include <CLI/CLI.hpp>

namespace shmlog::cli {

// Adds --native/--legacy, --image, --ring-bytes, --cpu-request, --memory-request,
// --memory-limit, --cpu-limit, --loki-url, --config-map and --disk-rings to `cmd`, filling
// `options` (which must outlive the parse). Bad values are CLI11 usage errors naming the flag.
void add_inject_options(CLI::App& cmd, inject::InjectOptions& options);

}  // namespace shmlog::cli
