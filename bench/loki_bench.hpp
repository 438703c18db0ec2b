// shmlog-bench loki: the sidecar's Loki shipper against a local Loki push receiver (the library of
// tools/loki_receiver, serving in the bench process on core 0). One JSON line per case, then a
// summary:
//
//   ship_backlog  a spool of N JSON lines already on disk, shipped by a sidecar on core 1 with no
//                 rings to drain: entries/s, CPU per million entries, bytes on the wire per entry
//   ship_live     one producer at a fixed rate while one sidecar drains and ships
//
// Every case also reports the sidecar's peak private memory. See bench/README.md for the method.
// Built only when the receiver library is (the shmlog program is built: SHMLOG_BUILD_SIDECAR).
#pragma once

#include "sidecar_run.hpp"

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace shmlog_bench {

// --json, --cases, --sidecar, --loadgen, --keep: SidecarBenchOptions.
struct LokiBenchOptions : SidecarBenchOptions {
  std::uint64_t entries = 2'000'000;  // ship_backlog's spool, written by 2 producers
  double live_rate = 50'000;          // records/s of ship_live
  double seconds = 5;                 // how long ship_live writes
  // --loki-set encoding=json,batch-bytes=4MiB: `--loki-encoding json --loki-batch-bytes 4MiB` on
  // the shipping sidecar's command line; none: the sidecar's defaults.
  std::vector<std::string> loki_settings;
};

// Adds the `loki` subcommand to `app`, filling `options`; returns it (check ->parsed()).
CLI::App* add_loki_command(CLI::App& app, LokiBenchOptions& options);

// Runs the selected cases and prints their lines; the exit status (non-zero if a case failed).
int run_loki_bench(const LokiBenchOptions& options);

}  // namespace shmlog_bench
