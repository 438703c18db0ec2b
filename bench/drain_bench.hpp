// shmlog-bench drain: the sidecar's benchmark. It runs the real `shmlog sidecar` binary against
// real producers (shmlog-loadgen, exec'd) and prints one JSON line per case, then a summary:
//
//   drain_1p, drain_2p, drain_4p  throughput to files on one core, rings pre-filled by P producers
//   latency_10k                   log call to line in the file, at 10,000 records/s
//   idle                          the sidecar's CPU with one live producer that logs nothing
//
// Every case also reports the sidecar's peak private memory. See bench/README.md for the method.
#pragma once

#include "sidecar_run.hpp"

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <string>

namespace shmlog_bench {

// --json, --cases, --sidecar, --loadgen, --keep: SidecarBenchOptions.
struct DrainOptions : SidecarBenchOptions {
  std::uint64_t records = 2'000'000;  // per drain_Np case, over all producers
  double latency_rate = 10'000;       // records/s of latency_10k
  double seconds = 5;                 // how long latency_10k writes and idle watches
};

// One drain of pre-filled rings, measured as drain_Np is (bench/README.md): P producers write
// `records` into rings with no sidecar and exit; the sidecar starts on core 1, gets SIGTERM once
// it says "draining", takes everything and exits. The case is named `name` and has drain_Np's
// fields; it fails unless the output holds exactly `records` lines. `while_draining` (if set) is
// given the sidecar and the case's directories whenever the sidecar says something and at least
// every 100 ms until it exits.
CaseOut run_prefilled_drain(const SidecarBenchOptions& options, std::string name, unsigned producers,
                            std::uint64_t records,
                            const std::function<void(Sidecar&, const CaseDirs&)>& while_draining = {});

// Adds the `drain` subcommand to `app`, filling `options`; returns it (check ->parsed()).
CLI::App* add_drain_command(CLI::App& app, DrainOptions& options);

// Runs the selected cases and prints their lines; the exit status (non-zero if a case failed).
int run_drain_bench(const DrainOptions& options);

}  // namespace shmlog_bench
