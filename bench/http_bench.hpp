// shmlog-bench http: what the sidecar's HTTP endpoint costs the drain. The same drain of
// pre-filled rings as drain_1p, once with nobody asking and once while clients in the bench
// process (core 0) ask for /status and /metrics 200 times a second and 5 live tails follow every
// record; one JSON line per case and run, then a summary:
//
//   drain_quiet   the drain, the endpoint up and idle
//   drain_served  the drain while the clients ask and tail
//
// The summary's slowdown_pct compares their median records/s (target: at most 5%). See
// bench/README.md, section "shmlog-bench http", for the method.
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
  // A connection per request, as a probe or curl asks. Kept alive (as a scraper does), the
  // sidecar's answers wait ~40 ms each (Nagle on its two writes meets the client's delayed ACK)
  // and one client cannot ask 200 times a second.
  bool keep_alive = false;
  unsigned tail_clients = 5;  // GET /api/tail with no filter, read as fast as they can
};

// Adds the `http` subcommand to `app`, filling `options`; returns it (check ->parsed()).
CLI::App* add_http_command(CLI::App& app, HttpBenchOptions& options);

// Runs the selected cases and prints their lines; the exit status (non-zero if a case failed).
int run_http_bench(const HttpBenchOptions& options);

}  // namespace shmlog_bench
