// shmlog-bench: the producer hot path of shmlog next to spdlog's async logger and a floor, with
// Quill's published method (see bench_support.hpp and docs in bench/README.md).
//
//   shmlog-bench producer --json            # one JSON line per case, then a summary line
//   shmlog-bench producer --cases shmlog,floor --bursts 500
//   shmlog-bench drain --json                # the sidecar: throughput, latency, idle, memory
//   shmlog-bench loki --json                 # the sidecar shipping to a local Loki receiver
//   shmlog-bench http --json                 # the drain while its HTTP endpoint is asked and tailed
#include "bench_support.hpp"
#include "cases.hpp"
#include "drain_bench.hpp"
#ifdef SHMLOG_BENCH_LOKI
#include "loki_bench.hpp"
#endif
#ifdef SHMLOG_BENCH_HTTP
#include "http_bench.hpp"
#endif

#include <shmlog/config.hpp>
#include <shmlog/logger.hpp>
#include <shmlog/reader.hpp>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

namespace shmlog_bench {
namespace {

struct CaseEntry {
  const char* name;
  CaseResult (*run)(const CaseSetup&);
};
// Printed in this order (they take turns in rounds, see run_interleaved); the summary compares
// shmlog against floor and spdlog_async.
constexpr CaseEntry kCases[] = {
    {"shmlog", run_shmlog_method},
    {"shmlog_macro", run_shmlog_macro},
    {"spdlog_async", run_spdlog_async},
    {"floor", run_floor},
    {"floor_rdtsc", run_floor_tsc},
    {"shmlog_disabled", run_shmlog_disabled},
    {"shmlog_2threads", run_shmlog_two_threads},
    {"shmlog_sleeping_consumer", run_shmlog_sleeping_consumer},
};

struct Options {
  bool json = false;
  BurstPlan plan;
  std::string ring_bytes = "8MiB";
  std::string evict_bytes = "0";
  std::vector<std::string> cases;
  std::string spdlog_sink = "file";
  std::string consumer = "spin";
  std::size_t rounds = 5;
  bool keep = false;
};

// mkdtemp under /dev/shm (tmpfs, as a pod's `medium: Memory` emptyDir is) if it exists.
std::optional<std::string> make_temp_dir() {
  std::string base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
  std::string pattern = base + "/shmlog-bench.XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) return std::nullopt;
  return pattern;
}

std::string json_line(const CaseResult& r, const Percentiles& p, const BurstPlan& plan) {
  std::string s = "{\"case\":" + json_string(r.name);
  if (!r.error.empty()) return s + ",\"error\":" + json_string(r.error) + "}";
  s += ",\"p50_ns\":" + fixed1(p.p50) + ",\"p90_ns\":" + fixed1(p.p90) + ",\"p99_ns\":" + fixed1(p.p99) +
       ",\"p999_ns\":" + fixed1(p.p999) + ",\"max_ns\":" + fixed1(p.max) +
       ",\"bursts\":" + std::to_string(r.per_call_ns.size()) +
       ",\"burst_size\":" + std::to_string(plan.burst_size);
  s += ",\"pinned\":" + std::string(r.pinned ? "true" : "false");
  for (const auto& [key, value] : r.notes) s += "," + json_string(key) + ":" + value;
  for (const auto& [key, n] : r.counts) s += "," + json_string(key) + ":" + std::to_string(n);
  return s + "}";
}

void print_table_header() {
  std::printf("%-26s %9s %9s %9s %9s %10s %7s  %s\n", "case", "p50 ns", "p90 ns", "p99 ns", "p99.9 ns",
              "max ns", "bursts", "notes");
}

void print_table_row(const CaseResult& r, const Percentiles& p) {
  if (!r.error.empty()) {
    std::printf("%-26s error: %s\n", r.name.c_str(), r.error.c_str());
    return;
  }
  std::string notes = r.pinned ? "pinned" : "NOT pinned";
  for (const auto& [key, value] : r.notes) notes += " " + key + "=" + value;
  for (const auto& [key, n] : r.counts) notes += " " + key + "=" + std::to_string(n);
  std::printf("%-26s %9.1f %9.1f %9.1f %9.1f %10.1f %7zu  %s\n", r.name.c_str(), p.p50, p.p90, p.p99, p.p999,
              p.max, r.per_call_ns.size(), notes.c_str());
}

void print_summary(const std::map<std::string, Percentiles>& got, const TscClock& clock,
                   const BurstPlan& plan, std::size_t rounds, bool json) {
  auto p = [&](const char* name) -> const Percentiles* {
    auto it = got.find(name);
    return it == got.end() ? nullptr : &it->second;
  };
  const Percentiles* shm = p("shmlog");
  const Percentiles* floor = p("floor");
  const Percentiles* spd = p("spdlog_async");
  auto number = [](std::optional<double> v, int decimals) {
    if (!v) return std::string("null");
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, *v);
    return std::string(buf);
  };
  auto boolean = [](std::optional<bool> v) { return v ? (*v ? "true" : "false") : "null"; };
  std::optional<double> over_floor, spd_over;
  std::optional<bool> floor_ok, p999_ok, spd_ok;
  if (shm && floor && floor->p50 > 0) {
    over_floor = shm->p50 / floor->p50;
    floor_ok = *over_floor <= 1.6;
  }
  if (shm && spd && shm->p50 > 0) {
    spd_over = spd->p50 / shm->p50;
    spd_ok = *spd_over >= 20.0;
  }
  if (shm) p999_ok = shm->p999 <= 250.0;
  if (json) {
    std::printf(
        "{\"case\":\"summary\",\"shmlog_p50_over_floor_p50\":%s,\"spdlog_p50_over_shmlog_p50\":%s,"
        "\"shmlog_p999_ns\":%s,\"target_p50_within_1.6x_floor\":%s,\"target_p999_within_250ns\":%s,"
        "\"target_20x_below_spdlog\":%s,\"clock\":\"rdtscp\",\"tsc_ghz\":%.3f,\"cpus\":%d,"
        "\"pause_us\":[%lld,%lld],\"evict_bytes\":%zu,\"rounds\":%zu}\n",
        number(over_floor, 2).c_str(), number(spd_over, 1).c_str(),
        number(shm ? std::optional(shm->p999) : std::nullopt, 1).c_str(), boolean(floor_ok), boolean(p999_ok),
        boolean(spd_ok), clock.ghz(), online_cpus(), static_cast<long long>(plan.pause_min.count()),
        static_cast<long long>(plan.pause_max.count()), plan.evict_bytes, rounds);
    return;
  }
  std::printf(
      "\nsummary (clock rdtscp at %.3f GHz, %d cpus, pauses %lld-%lld us, evict %zu bytes, %zu rounds):\n",
      clock.ghz(), online_cpus(), static_cast<long long>(plan.pause_min.count()),
      static_cast<long long>(plan.pause_max.count()), plan.evict_bytes, rounds);
  std::printf("  shmlog p50 / floor p50    = %-6s (target <= 1.6: %s)\n", number(over_floor, 2).c_str(),
              boolean(floor_ok));
  std::printf("  spdlog p50 / shmlog p50   = %-6s (target >= 20: %s)\n", number(spd_over, 1).c_str(),
              boolean(spd_ok));
  std::printf("  shmlog p99.9              = %-6s ns (target <= 250: %s)\n",
              number(shm ? std::optional(shm->p999) : std::nullopt, 1).c_str(), boolean(p999_ok));
}

// Runs every case in `rounds` slices of its bursts, the cases taking turns (and the order
// rotating each round), so a slow minute on a shared host lands on all of them alike instead of
// on whichever case ran then. Samples and counts are joined per case.
std::vector<CaseResult> run_interleaved(const std::vector<const CaseEntry*>& cases, const CaseSetup& setup,
                                        std::size_t rounds) {
  rounds = std::max<std::size_t>(1, std::min(rounds, setup.plan.bursts));
  std::vector<CaseResult> joined(cases.size());
  for (std::size_t round = 0; round < rounds; ++round) {
    CaseSetup slice = setup;
    slice.plan.bursts = setup.plan.bursts / rounds + (round < setup.plan.bursts % rounds ? 1 : 0);
    for (std::size_t k = 0; k < cases.size(); ++k) {
      const std::size_t i = (k + round) % cases.size();
      if (::isatty(STDERR_FILENO))
        std::fprintf(stderr, "\rround %zu/%zu: %-26s", round + 1, rounds, cases[i]->name);
      CaseResult r = cases[i]->run(slice);
      CaseResult& all = joined[i];
      if (round == 0) {
        all = std::move(r);
        continue;
      }
      if (!r.error.empty() && all.error.empty()) all.error = r.error;
      all.per_call_ns.insert(all.per_call_ns.end(), r.per_call_ns.begin(), r.per_call_ns.end());
      all.pinned = all.pinned && r.pinned;
      for (std::size_t c = 0; c < all.counts.size() && c < r.counts.size(); ++c)
        all.counts[c].second += r.counts[c].second;
    }
  }
  if (::isatty(STDERR_FILENO)) std::fprintf(stderr, "\r%50s\r", "");
  return joined;
}

int run_producer_bench(const Options& opt) {
  auto ring_bytes = shmlog::parse_bytes(opt.ring_bytes);
  if (!ring_bytes) {
    std::fprintf(stderr, "shmlog-bench: --ring-bytes \"%s\": %s\n", opt.ring_bytes.c_str(),
                 ring_bytes.error().message.c_str());
    return 2;
  }
  auto evict_bytes = shmlog::parse_bytes(opt.evict_bytes);
  if (!evict_bytes) {
    std::fprintf(stderr, "shmlog-bench: --evict-bytes \"%s\": %s\n", opt.evict_bytes.c_str(),
                 evict_bytes.error().message.c_str());
    return 2;
  }
  auto dir = make_temp_dir();
  if (!dir) {
    std::perror("shmlog-bench: mkdtemp");
    return 1;
  }
  shmlog::Config cfg;  // the defaults, whatever SHMLOG_* says: runs stay comparable
  cfg.dir = *dir;
  cfg.service = "shmlog-bench";
  cfg.ring_bytes = ring_bytes.value();
  cfg.level = shmlog::Level::info;
  if (auto st = shmlog::init(cfg); !st) {
    std::fprintf(stderr, "shmlog-bench: %s\n", st.error().message.c_str());
    return 2;
  }
  if (shmlog::sink_name() != "ring") {
    std::fprintf(stderr, "shmlog-bench: no ring in %s, nothing to measure\n", dir->c_str());
    return 1;
  }

  CaseSetup setup;
  setup.plan = opt.plan;
  setup.plan.evict_bytes = static_cast<std::size_t>(evict_bytes.value());
  setup.clock = TscClock::calibrate();
  setup.temp_dir = *dir;
  setup.ring_path = shmlog::ring_path();
  setup.spdlog_file_sink = opt.spdlog_sink == "file";
  setup.consumer_polls = opt.consumer == "poll";
  if (auto r = shmlog::RingReader::open(setup.ring_path, shmlog::OpenMode::observer); r)
    setup.lane_bytes = r.value()->info().lane_bytes;
  else {
    std::fprintf(stderr, "shmlog-bench: %s\n", r.error().message.c_str());
    return 1;
  }

  std::vector<const CaseEntry*> selected;
  for (const CaseEntry& c : kCases)
    if (opt.cases.empty() || std::find(opt.cases.begin(), opt.cases.end(), c.name) != opt.cases.end())
      selected.push_back(&c);
  const std::vector<CaseResult> results = run_interleaved(selected, setup, opt.rounds);

  if (!opt.json) print_table_header();
  std::map<std::string, Percentiles> got;
  bool failed = false;
  for (const CaseResult& r : results) {
    const Percentiles p = percentiles(r.per_call_ns);
    if (r.error.empty())
      got[r.name] = p;
    else
      failed = true;
    if (opt.json)
      std::printf("%s\n", json_line(r, p, opt.plan).c_str());
    else
      print_table_row(r, p);
  }
  print_summary(got, setup.clock, setup.plan, opt.rounds, opt.json);

  shmlog::shutdown();
  if (opt.keep)
    std::fprintf(stderr, "shmlog-bench: kept %s\n", dir->c_str());
  else
    std::filesystem::remove_all(*dir);
  return failed ? 1 : 0;
}

}  // namespace

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20) {  // a child's stderr in an error: newlines, tabs
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
      continue;
    }
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace shmlog_bench

int main(int argc, char** argv) {
  using namespace shmlog_bench;
  Options opt;
  CLI::App app{"shmlog benchmarks"};
  app.require_subcommand(1);
  CLI::App* producer = app.add_subcommand(
      "producer", "Producer hot path: shmlog vs spdlog async vs a floor, Quill's burst method");
  producer->add_flag("--json", opt.json, "One JSON object per line per case, then a summary line");
  producer->add_option("--bursts", opt.plan.bursts, "Measured bursts per case")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  producer->add_option("--burst-size", opt.plan.burst_size, "Log calls per burst")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  producer->add_option("--warmup", opt.plan.warmup_bursts, "Bursts run and discarded first, in every round")
      ->capture_default_str();
  producer
      ->add_option("--rounds", opt.rounds,
                   "Slices each case's bursts into this many rounds, the cases taking turns")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  producer->add_option("--ring-bytes", opt.ring_bytes, "shmlog ring size (all lanes), e.g. 8MiB")
      ->capture_default_str();
  producer
      ->add_option("--evict-bytes", opt.evict_bytes,
                   "Write a buffer this large in every pause (e.g. 32MiB) to start bursts with cold "
                   "caches and TLB")
      ->capture_default_str();
  std::int64_t pause_min = opt.plan.pause_min.count(), pause_max = opt.plan.pause_max.count();
  producer->add_option("--pause-min-us", pause_min, "Shortest busy-wait between bursts")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  producer->add_option("--pause-max-us", pause_max, "Longest busy-wait between bursts")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  std::vector<std::string> names;
  for (const CaseEntry& c : kCases) names.emplace_back(c.name);
  producer->add_option("--cases", opt.cases, "Comma-separated cases to run (default: all)")
      ->delimiter(',')
      ->check(CLI::IsMember(names));
  producer->add_option("--spdlog-sink", opt.spdlog_sink, "spdlog's sink")
      ->capture_default_str()
      ->check(CLI::IsMember({"file", "null"}));
  producer
      ->add_option("--consumer", opt.consumer,
                   "How the shmlog and floor consumers wait for records: spin on core 1, or poll "
                   "(sleep 1 ms when idle)")
      ->capture_default_str()
      ->check(CLI::IsMember({"spin", "poll"}));
  producer->add_flag("--keep", opt.keep, "Keep the temporary directory (ring and log files)");
  DrainOptions drain_opt;
  CLI::App* drain = add_drain_command(app, drain_opt);
#ifdef SHMLOG_BENCH_LOKI
  LokiBenchOptions loki_opt;
  CLI::App* loki = add_loki_command(app, loki_opt);
#endif
#ifdef SHMLOG_BENCH_HTTP
  HttpBenchOptions http_opt;
  CLI::App* http = add_http_command(app, http_opt);
#endif
  CLI11_PARSE(app, argc, argv);
  if (drain->parsed()) return run_drain_bench(drain_opt);
#ifdef SHMLOG_BENCH_LOKI
  if (loki->parsed()) return run_loki_bench(loki_opt);
#endif
#ifdef SHMLOG_BENCH_HTTP
  if (http->parsed()) return run_http_bench(http_opt);
#endif
  if (pause_max < pause_min) {
    std::fprintf(stderr, "shmlog-bench: --pause-max-us must be >= --pause-min-us\n");
    return 2;
  }
  opt.plan.pause_min = std::chrono::microseconds(pause_min);
  opt.plan.pause_max = std::chrono::microseconds(pause_max);
  if (producer->parsed()) return run_producer_bench(opt);
  return 2;
}
