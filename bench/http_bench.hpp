// shmlog-bench http: what the sidecar's HTTP endpoint costs the drain. The drain of pre-filled
// rings of drain_1p, with nobody asking and while clients in the bench process (core 0) ask for
// /status and /metrics 200 times a second and 5 live tails follow every record; one JSON line per
// case and run, then a summary:
//
//   drain_quiet        the drain, the endpoint up and idle
//   drain_served       the drain while the clients ask and tail, from start to end
//   drain_alternating  a longer drain, the clients on and off in turns of a quarter second
//
// The summary's slowdown_pct is drain_alternating's: each "on" window against the "off" windows
// beside it (target: at most 5%). Whole runs minutes apart, quiet against served, are reported
// too. See bench/README.md, section "shmlog-bench http", for the method.
// Built only when the shmlog program is (SHMLOG_BUILD_SIDECAR), with cpp-httplib as the client.
#pragma once

#include "sidecar_run.hpp"

#include <CLI/CLI.hpp>
#include <cstdint>

namespace shmlog_bench {

// --json, --cases, --sidecar, --loadgen, --keep: SidecarBenchOptions.
struct HttpBenchOptions : SidecarBenchOptions {
  std::uint64_t records = 2'000'000;  // per case, as drain_1p
  unsigned producers = 1;             // that pre-fill the rings
  unsigned runs = 3;                  // quiet/served pairs, the pair's order flipping each run
  double requests_per_s = 200;        // GET /status and GET /metrics, alternating, evenly paced
  // A connection per request, as a probe or curl asks (the dearer way for the server); kept
  // alive, as a scraper or the page asks, with --keep-alive.
  bool keep_alive = false;
  unsigned tail_clients = 5;  // GET /api/tail with no filter, read as fast as they can
  // drain_alternating: about 3 s of drain at ~1M records/s, a dozen windows. Its ~1.1 GB of
  // output stays under the kernel's background writeback threshold here (10% of 24 GiB), as
  // drain_1p's does: a longer drain would measure writeback, not the HTTP server.
  std::uint64_t alternating_records = 3'000'000;
  double window_s = 0.25;  // clients on for one window, off for the next
  double settle_s = 0.08;  // of each window, not measured: the clients before leave, these come
};

// Adds the `http` subcommand to `app`, filling `options`; returns it (check ->parsed()).
CLI::App* add_http_command(CLI::App& app, HttpBenchOptions& options);

// Runs the selected cases and prints their lines; the exit status (non-zero if a case failed).
int run_http_bench(const HttpBenchOptions& options);

}  // namespace shmlog_bench
