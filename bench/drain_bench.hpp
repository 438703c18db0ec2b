// shmlog-bench drain: the sidecar's benchmark. It runs the real `shmlog sidecar` binary against
// real producers (shmlog-loadgen, exec'd) and prints one JSON line per case, then a summary:
//
//   drain_1p, drain_2p, drain_4p  throughput to files on one core, rings pre-filled by P producers
//   latency_10k                   log call to line in the file, at 10,000 records/s
//   idle                          the sidecar's CPU with one live producer that logs nothing
//
// Every case also reports the sidecar's peak private memory. See bench/README.md for the method.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace shmlog_bench {

struct DrainOptions {
  bool json = false;
  std::uint64_t records = 2'000'000;  // per drain_Np case, over all producers
  std::vector<std::string> cases;     // empty: all
  std::string sidecar;                // the `shmlog` binary; default: the one built with the bench
  std::string loadgen;                // the `shmlog-loadgen` binary; likewise
  double latency_rate = 10'000;       // records/s of latency_10k
  double seconds = 5;                 // how long latency_10k writes and idle watches
  bool keep = false;                  // keep the temporary directories
};

// Adds the `drain` subcommand to `app`, filling `options`; returns it (check ->parsed()).
CLI::App* add_drain_command(CLI::App& app, DrainOptions& options);

// Runs the selected cases and prints their lines; the exit status (non-zero if a case failed).
int run_drain_bench(const DrainOptions& options);

}  // namespace shmlog_bench
