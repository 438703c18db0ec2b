// shmlog-bench http: the drain of drain_1p (drain_bench.hpp, run_prefilled_drain) with and without
// HTTP clients asking the sidecar for its status and tailing its records. What each case
// measures and how: bench/README.md, section "shmlog-bench http".
#include "http_bench.hpp"

#include "bench_support.hpp"
#include "cases.hpp"
#include "drain_bench.hpp"
#include "http_alternating.hpp"
#include "http_clients.hpp"
#include "ring_progress.hpp"
#include "sidecar_run.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <httplib.h>
#include <unistd.h>

namespace shmlog_bench {
namespace {

using namespace std::chrono_literals;

const std::vector<std::string> kCaseNames = {"drain_quiet", "drain_served", "drain_alternating"};

// The port of the sidecar's "status at http://127.0.0.1:PORT/" line, once it has said it.
std::optional<int> served_port(const std::string& said) {
  constexpr std::string_view kSaid = "status at http://127.0.0.1:";
  const auto at = said.find(kSaid);
  if (at == std::string::npos || said.find('/', at + kSaid.size()) == std::string::npos) return std::nullopt;
  const int port = std::atoi(said.c_str() + at + kSaid.size());
  return port > 0 ? std::optional(port) : std::nullopt;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t mid = v.size() / 2;
  return v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

// Every drain_alternating window compared, over all runs: the summary's figures.
struct WindowTotals {
  std::vector<double> slowdowns, placebo;
};

// One run of a case: run_prefilled_drain (drain_1p's measure and line check), plus the sidecar's
// CPU over all its threads when it says "all records written" (beside cpu_s, the drain thread's:
// the difference is the HTTP server's). drain_served has the clients from the sidecar's port on;
// drain_alternating, a longer drain, has them on and off in windows from its "draining" line.
CaseOut run_case(const HttpBenchOptions& o, std::string_view name, unsigned run, WindowTotals& totals) {
  const bool served = name == "drain_served";
  const bool alternating = name == "drain_alternating";
  std::optional<ClientLoad> load;
  std::optional<Alternator> alternator;
  std::string alternator_error;
  std::optional<std::uint64_t> all_threads_ns;
  Clock::time_point sidecar_started;
  const std::uint64_t records = alternating ? o.alternating_records : o.records;
  CaseOut r =
      run_prefilled_drain(o, std::string(name), o.producers, records, [&](Sidecar& s, const CaseDirs& d) {
        sidecar_started = s.started;
        if (s.written_at) {
          if (!all_threads_ns) all_threads_ns = cpu_ns_all_threads(s.child.pid());
          if (load) load->stop();
          if (alternator) alternator->stop();
        } else if (served && !load) {
          if (const auto port = served_port(s.said)) load.emplace(*port, o);
        } else if (alternating && !alternator && alternator_error.empty() && s.draining()) {
          const auto port = served_port(s.said);
          if (!port) {
            alternator_error = "the sidecar said \"draining\" before its port";
          } else if (auto progress = RingProgress::open(d.rings->path(), alternator_error)) {
            alternator.emplace(*port, s.child.pid(), std::move(*progress), o);
          }
        }
      });
  r.fields.insert(r.fields.begin(), {"run", std::to_string(run)});
  r.numbers["run"] = run;
  if (all_threads_ns) {
    r.put("cpu_s_all_threads", static_cast<double>(*all_threads_ns) / 1e9, 3);
    if (const auto cpu = r.number("cpu_s"))
      r.put("server_cpu_s", std::max(0.0, static_cast<double>(*all_threads_ns) / 1e9 - *cpu), 3);
  }
  if (served) {
    if (!load) return r.fail("the drain ended before the clients started (more --records?)");
    load->stop();
    load->put_fields(r, sidecar_started, records);
    if (const std::string why = load->failure(); !why.empty()) r.fail(why);
  } else if (alternating) {
    if (!alternator) return r.fail(alternator_error.empty() ? "the windows never started" : alternator_error);
    alternator->stop();
    alternator->put_fields(r, records);
    if (const std::string why = alternator->failure(); !why.empty()) return r.fail(why);
    if (r.error.empty()) {
      const auto s = alternator->slowdowns();
      const auto p = alternator->placebo();
      totals.slowdowns.insert(totals.slowdowns.end(), s.begin(), s.end());
      totals.placebo.insert(totals.placebo.end(), p.begin(), p.end());
    }
  }
  return r;
}

std::vector<double> values_of(const std::vector<CaseOut>& results, std::string_view name, const char* key) {
  std::vector<double> v;
  for (const CaseOut& r : results)
    if (r.error.empty() && r.name == name)
      if (const auto x = r.number(key)) v.push_back(*x);
  return v;
}

std::string median_or_null(const std::vector<double>& v, int decimals) {
  return v.empty() ? "null" : fixed(median(v), decimals);
}

// Percentiles of values in one pass: "null" for none.
std::string quantile_or_null(std::vector<double> v, double q, int decimals) {
  if (v.empty()) return "null";
  std::sort(v.begin(), v.end());
  const double at = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(at);
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return fixed(v[lo] + (v[hi] - v[lo]) * (at - static_cast<double>(lo)), decimals);
}

// The target, reported and not enforced: the drain while served at most 5% slower than
// with nobody asking. slowdown_pct is the median over every drain_alternating window compared
// (each against its neighbours, a fraction of a second away), with its quartiles and the
// placebo's beside it to show the noise; the whole-run pairs of drain_quiet and drain_served
// follow, each run's own pair listed, for what whole runs minutes apart say on this host.
void print_summary(const std::vector<CaseOut>& results, const HttpBenchOptions& o,
                   const WindowTotals& totals) {
  const std::optional<double> slowdown =
      totals.slowdowns.empty() ? std::nullopt : std::optional(median(totals.slowdowns));
  const auto quiet = values_of(results, "drain_quiet", "records_per_s");
  const auto served = values_of(results, "drain_served", "records_per_s");
  std::optional<double> whole_runs;
  if (!quiet.empty() && !served.empty() && median(quiet) > 0)
    whole_runs = (median(quiet) - median(served)) / median(quiet) * 100;
  std::map<double, std::pair<std::optional<double>, std::optional<double>>> by_run;
  for (const CaseOut& r : results) {
    if (!r.error.empty() || (r.name != "drain_quiet" && r.name != "drain_served")) continue;
    auto& pair = by_run[r.number("run").value_or(0)];
    (r.name == "drain_quiet" ? pair.first : pair.second) = r.number("records_per_s");
  }
  std::string per_run;
  for (const auto& [run, pair] : by_run)
    if (pair.first && pair.second && *pair.first > 0)
      per_run += (per_run.empty() ? "" : ",") + fixed((*pair.first - *pair.second) / *pair.first * 100, 1);
  const auto achieved = values_of(results, "drain_alternating", "requests_per_s");
  const std::optional<double> requests_per_s =
      achieved.empty() ? std::nullopt : std::optional(median(achieved));
  const auto m = [&](std::string_view name, const char* key, int decimals) {
    return median_or_null(values_of(results, name, key), decimals);
  };
  print_summary_fields(
      {
          {"runs", std::to_string(o.runs)},
          {"slowdown_pct", number_or_null(slowdown, 1)},
          {"target_5pct", target_or_null(slowdown, [](double v) { return v <= 5.0; })},
          {"slowdown_p25", quantile_or_null(totals.slowdowns, 0.25, 1)},
          {"slowdown_p75", quantile_or_null(totals.slowdowns, 0.75, 1)},
          {"windows_compared", std::to_string(totals.slowdowns.size())},
          {"placebo_slowdown_pct", quantile_or_null(totals.placebo, 0.5, 1)},
          {"placebo_p25", quantile_or_null(totals.placebo, 0.25, 1)},
          {"placebo_p75", quantile_or_null(totals.placebo, 0.75, 1)},
          {"records_per_s_off", m("drain_alternating", "records_per_s_off", 0)},
          {"records_per_s_on", m("drain_alternating", "records_per_s_on", 0)},
          {"drain_core_pct_off", m("drain_alternating", "drain_core_pct_off", 1)},
          {"drain_core_pct_on", m("drain_alternating", "drain_core_pct_on", 1)},
          {"server_core_pct_on", m("drain_alternating", "server_core_pct_on", 1)},
          {"requests_per_s", number_or_null(requests_per_s, 1)},
          // The target speaks of 200 requests/s: a slowdown measured under much less says little.
          {"load_as_asked",
           target_or_null(requests_per_s, [&](double v) { return v >= 0.95 * o.requests_per_s; })},
          {"request_p50_ms", m("drain_alternating", "request_p50_ms", 3)},
          {"request_p99_ms", m("drain_alternating", "request_p99_ms", 3)},
          {"tail_events_per_s", m("drain_alternating", "tail_events_per_s", 0)},
          {"records_per_s_quiet", median_or_null(quiet, 0)},
          {"records_per_s_served", median_or_null(served, 0)},
          {"slowdown_pct_whole_runs", number_or_null(whole_runs, 1)},
          {"slowdown_pct_per_run", "[" + per_run + "]"},
          {"server_cpu_s_quiet", m("drain_quiet", "server_cpu_s", 3)},
          {"server_cpu_s_served", m("drain_served", "server_cpu_s", 3)},
          {"tail_coverage_pct", m("drain_served", "tail_coverage_pct", 1)},
          {"private_mib_quiet", m("drain_quiet", "private_mib", 1)},
          {"private_mib_served", m("drain_served", "private_mib", 1)},
          {"private_mib_without_rings_quiet", m("drain_quiet", "private_mib_without_rings", 1)},
          {"private_mib_without_rings_served", m("drain_served", "private_mib_without_rings", 1)},
          {"cpus", std::to_string(online_cpus())},
      },
      o.json);
}

}  // namespace

CLI::App* add_http_command(CLI::App& app, HttpBenchOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "http", "The sidecar's HTTP endpoint: drain throughput while status is asked and records tailed");
  add_sidecar_bench_options(cmd, o, kCaseNames);
  cmd->add_option("--records", o.records, "Records of each case's drain")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--producers", o.producers, "Producers that pre-fill the rings")
      ->capture_default_str()
      ->check(CLI::Range(1u, 16u));
  cmd->add_option("--runs", o.runs, "Runs of quiet/served pairs (their order flipping) and drain_alternating")
      ->capture_default_str()
      ->check(CLI::Range(1u, 100u));
  cmd->add_option("--rate", o.requests_per_s, "GET /status and /metrics per second while served (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 10'000.0));
  cmd->add_flag("--keep-alive", o.keep_alive,
                "Ask /status and /metrics on one kept-alive connection instead of one per request");
  cmd->add_option("--tail-clients", o.tail_clients, "Live tails while served (the sidecar takes 8)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 8u));
  cmd->add_option("--alternating-records", o.alternating_records, "Records of drain_alternating's drain")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--window", o.window_s, "Seconds of each on or off window of drain_alternating")
      ->capture_default_str()
      ->check(CLI::Range(0.05, 10.0));
  cmd->add_option("--settle", o.settle_s, "Seconds at the start of each window that are not measured")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 5.0));
  cmd->final_callback([&o] {
    if (o.settle_s >= o.window_s) throw CLI::ValidationError("--settle", "must be shorter than --window");
  });
  return cmd;
}

int run_http_bench(const HttpBenchOptions& o) {
  // Quiet and served take turns, the pair's order flipping each run, so a slow minute of a
  // shared host lands on both alike and neither always runs first.
  // drain_alternating compares within itself and just follows.
  std::vector<std::string> order;
  for (unsigned run = 0; run < o.runs; ++run) {
    order.insert(order.end(), {"drain_quiet", "drain_served"});
    if (run % 2 == 1) std::swap(order[order.size() - 2], order.back());
    order.emplace_back("drain_alternating");
  }
  std::map<std::string, unsigned, std::less<>> runs_of;
  WindowTotals totals;
  return run_sidecar_bench(
      "http", o, order,
      [&](std::string_view name) { return run_case(o, name, ++runs_of[std::string(name)], totals); },
      [&](const std::vector<CaseOut>& results) { print_summary(results, o, totals); });
}

}  // namespace shmlog_bench
