// shmlog-bench loki: the real `shmlog sidecar` shipping to a Loki push receiver that serves in the
// bench process (tools/loki_receiver, counting only). What each case measures and how:
// bench/README.md, section "shmlog-bench loki". Starting and watching the processes:
// sidecar_run.hpp.
#include "loki_bench.hpp"

#include "bench_support.hpp"
#include "cases.hpp"
#include "loki_receiver/loki_receiver.hpp"
#include "sidecar_run.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <unistd.h>

namespace shmlog_bench {
namespace {

using namespace std::chrono_literals;
using shmlog::loki::Receiver;

constexpr unsigned kBacklogProducers = 2;

// The receiver in this process: Loki's default limits, counting only (its memory stays bounded).
std::unique_ptr<Receiver> start_receiver(std::string& error) {
  shmlog::loki::ReceiverOptions options;
  options.keep_entries = false;
  auto started = Receiver::start(std::move(options));
  if (!started) {
    error = "cannot start the Loki receiver: " + started.error().message;
    return nullptr;
  }
  return std::move(started.value());
}

// `shmlog sidecar --dir RINGS --out OUT --loki-url URL` on core 1; the other Loki settings are
// the sidecar's defaults unless --loki-set says otherwise.
Spawn shipping_sidecar(const LokiBenchOptions& o, const std::string& ring_dir, const std::string& out,
                       const Receiver& rx) {
  Spawn spec = sidecar_spawn(o.sidecar, ring_dir, out);
  spec.argv.insert(spec.argv.end(), {"--loki-url", rx.url()});
  for (const std::string& setting : o.loki_settings) {
    const auto eq = setting.find('=');
    spec.argv.insert(spec.argv.end(), {"--loki-" + setting.substr(0, eq), setting.substr(eq + 1)});
  }
  return spec;
}

void put_loki_settings(CaseOut& r, const LokiBenchOptions& o) {
  if (o.loki_settings.empty()) return;
  std::string joined;
  for (const std::string& setting : o.loki_settings) joined += (joined.empty() ? "" : ",") + setting;
  r.put_text("loki_settings", joined);
}

double process_cpu_s(pid_t pid) {
  return static_cast<double>(cpu_ns_all_threads(pid).value_or(0)) / 1e9;
}

// Waits until the receiver has accepted `n` entries (then returns when), the sidecar ends, entries
// are refused (a 400 or 422: the sidecar drops them, `n` cannot be reached), or `deadline`
// passes; reads the sidecar's stderr and samples its memory meanwhile, and calls `each` (if any)
// at least every 50 ms.
std::optional<Clock::time_point> wait_for_accepted(Sidecar& s, const Receiver& rx, std::uint64_t n,
                                                   Clock::time_point deadline,
                                                   const std::function<void()>& each = {}) {
  while (!g_interrupted && s.talking() && Clock::now() < deadline) {
    s.wait(-1, 0ms);
    if (each) each();
    const int ms = std::clamp(s.memory->ms_to_next_sample(), 1, 50);
    if (rx.wait_for_entries(static_cast<std::size_t>(n), std::chrono::milliseconds(ms))) return Clock::now();
    const auto st = rx.stats();
    if (st.rejected_entries > 0 || st.responses_by_status.contains(400) ||
        st.responses_by_status.contains(422))
      break;
  }
  return std::nullopt;
}

std::string statuses_json(const shmlog::loki::ReceiverStats& st) {
  std::string s = "{";
  for (const auto& [status, count] : st.responses_by_status)
    s += (s.size() > 1 ? ",\"" : "\"") + std::to_string(status) + "\":" + std::to_string(count);
  return s + "}";
}

// What the receiver saw, when the sidecar has exited: the wire, the requests and their answers;
// the case fails unless exactly `n` entries were accepted and none refused.
void put_receiver_fields(CaseOut& r, const shmlog::loki::ReceiverStats& st, std::uint64_t n) {
  const auto entries = static_cast<double>(std::max<std::uint64_t>(n, 1));
  r.put("wire_bytes_per_entry", static_cast<double>(st.bytes_on_wire) / entries, 1);
  r.put("decoded_bytes_per_entry", static_cast<double>(st.bytes_decoded) / entries, 1);
  r.put_count("wire_bytes", st.bytes_on_wire);
  r.put_count("requests", st.requests);
  r.put("entries_per_request",
        st.requests > 0 ? static_cast<double>(n) / static_cast<double>(st.requests) : 0.0, 0);
  r.put_json("statuses", statuses_json(st));
  r.put_count("accepted", st.accepted_entries);
  r.put_count("duplicates", st.duplicates);
  r.put_count("rejected", st.rejected_entries);
  r.put_count("streams", st.streams);
  if (st.accepted_entries != n || st.rejected_entries != 0)
    r.fail("the receiver accepted " + std::to_string(st.accepted_entries) + " entries and rejected " +
           std::to_string(st.rejected_entries) + ", expected " + std::to_string(n) + " accepted");
}

std::string not_reached(const Receiver& rx, std::uint64_t n, const Sidecar& s) {
  const auto st = rx.stats();
  if (g_interrupted) return "interrupted";
  return "the receiver has " + std::to_string(st.accepted_entries) + " of " + std::to_string(n) +
         " entries after " + fixed(seconds_between(s.started, Clock::now()), 1) + " s (" +
         std::to_string(st.requests) + " requests, answers " + statuses_json(st) + ", " +
         std::to_string(st.rejected_entries) + " entries rejected)" +
         (s.talking() ? "" : "; the sidecar ended") + ": " + tail_of(s.said);
}

// ship_backlog: (a) 2 producers pre-fill rings with N records and a sidecar drains them into the
// spool, <out>/bench.log, and exits; (b) a second sidecar on core 1, with an empty ring directory
// and the spool as its --out, ships the backlog to the receiver. Timed from its exec to the
// receiver holding N entries.
CaseOut run_ship_backlog(const LokiBenchOptions& o) {
  CaseOut r{"ship_backlog"};
  const std::uint64_t n = o.entries;
  r.put_count("entries", n);
  std::string error;
  CaseDirs d;
  if (!make_dirs("shmlog-loki", o.keep, d, error)) return r.fail(error);
  if (prefill_rings(o.loadgen, d, kBacklogProducers, n, error) == 0) return r.fail(error);
  {
    Sidecar spooler;
    Spawn spec = sidecar_spawn(o.sidecar, d.rings->path(), d.out);
    spec.argv.insert(spec.argv.end(), {"--rotate-bytes", "1GiB"});
    if (!launch_sidecar(spec, d.rings->path(), spooler, error)) return r.fail(error);
    rusage ru{};
    if (!drain_and_exit(spooler, spooler.started + 60s + std::chrono::seconds(n / 100'000), ru, error))
      return r.fail("spool: " + error);
  }
  put_loki_settings(r, o);
  const OutputSize spool = measure_output(d.out);
  r.put_count("spool_bytes", spool.bytes);
  r.put("spool_bytes_per_entry", static_cast<double>(spool.bytes) / static_cast<double>(n), 1);
  if (spool.lines != n)
    return r.fail("the spool has " + std::to_string(spool.lines) + " lines, expected " + std::to_string(n));
  const std::string no_rings = d.work->path() + "/no-rings";
  std::error_code ec;
  std::filesystem::create_directory(no_rings, ec);
  if (ec) return r.fail("cannot create " + no_rings + ": " + ec.message());

  const auto rx = start_receiver(error);
  if (!rx) return r.fail(error);
  Sidecar s;
  const double bench_cpu0 = process_cpu_s(::getpid());
  if (!launch_sidecar(shipping_sidecar(o, no_rings, d.out, *rx), no_rings, s, error)) return r.fail(error);
  const auto done = wait_for_accepted(s, *rx, n, s.started + 60s + std::chrono::seconds(n / 50'000));
  if (!done) return r.fail(not_reached(*rx, n, s));
  const double cpu = process_cpu_s(s.child.pid());
  const double bench_cpu = process_cpu_s(::getpid()) - bench_cpu0;
  s.memory->sample();
  const double wall = seconds_between(s.started, *done);
  const auto entries = static_cast<double>(n);
  r.put("entries_per_s", entries / wall, 0);
  r.put("wall_s", wall, 3);
  r.put("cpu_s", cpu, 3);
  r.put("cpu_s_per_million_entries", cpu / entries * 1e6, 3);
  r.put("entries_per_cpu_s", cpu > 0 ? entries / cpu : 0.0, 0);
  // The bench process's CPU over the same time: the receiver's workers (decoding, counting) on
  // core 0; near a core's worth, the receiver may be what limits the rate.
  r.put("receiver_cpu_s", bench_cpu, 3);
  const bool stopped = stop_sidecar(s, 120s, error);
  put_receiver_fields(r, rx->stats(), n);
  r.put("private_mib", s.memory->private_mib(), 1);
  r.put_count("memory_samples", s.memory->samples());
  r.put_bool("pinned", s.child.pinned());
  r.put_text("spool_fs", fs_type(d.out));
  if (!stopped) r.fail(error);
  return r;
}

// ship_live: the sidecar on core 1 drains and ships at once while one producer on core 0 writes
// at --rate for --seconds (rings of the library's default size).
CaseOut run_ship_live(const LokiBenchOptions& o) {
  CaseOut r{"ship_live"};
  const auto n = static_cast<std::uint64_t>(std::llround(o.live_rate * o.seconds));
  r.put("rate", o.live_rate, 0);
  r.put_count("entries", n);
  put_loki_settings(r, o);
  std::string error;
  CaseDirs d;
  if (!make_dirs("shmlog-loki", o.keep, d, error)) return r.fail(error);
  const auto rx = start_receiver(error);
  if (!rx) return r.fail(error);
  Sidecar s;
  Spawn sidecar = shipping_sidecar(o, d.rings->path(), d.out, *rx);
  sidecar.argv.insert(sidecar.argv.end(), {"--rotate-bytes", "1GiB"});
  if (!launch_sidecar(sidecar, d.rings->path(), s, error) || !wait_until_draining(s, error))
    return r.fail(error);

  Spawn spec;
  spec.argv = loadgen_argv(o.loadgen, 1, n);
  spec.argv.insert(spec.argv.end(), {"--rate", fixed(o.live_rate, 3), "--flush-ms", "2000"});
  spec.env = {"SHMLOG_DIR=" + d.rings->path()};  // otherwise the library's defaults
  spec.cpu = kProducerCpu;
  spec.output_file = d.work->path() + "/loadgen.txt";
  const double cpu0 = process_cpu_s(s.child.pid());
  const auto t0 = Clock::now();
  Child gen = Child::exec(spec, error);
  if (!gen.running()) return r.fail(error);
  const bool producer_pinned = gen.pinned();

  // (time, accepted) every 50 ms while the producer runs: the rate in its steady part.
  std::vector<std::pair<Clock::time_point, std::uint64_t>> samples;
  std::optional<int> gen_status;
  std::optional<Clock::time_point> gen_ended;  // when the bench saw the producer gone
  const auto done = wait_for_accepted(
      s, *rx, n,
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds)) + 60s, [&] {
        if (gen_status) return;
        gen_status = gen.try_reap();
        if (gen_status) gen_ended = Clock::now();
        if (!gen_status) samples.emplace_back(Clock::now(), rx->stats().accepted_entries);
      });
  if (!done) return r.fail(not_reached(*rx, n, s));
  const double cpu = process_cpu_s(s.child.pid()) - cpu0;
  const double wall = seconds_between(t0, *done);
  if (!gen_status) gen_status = wait_for(gen, 10s);
  if (!loadgen_ok(gen_status, spec.output_file, error)) return r.fail(error);

  // The steady rate, over the last 40% of the producer's run: the shipper finds a new file when it
  // lists the spool (every second), then catches up; by then it ships as fast as lines come.
  const auto first = std::find_if(samples.begin(), samples.end(), [](const auto& p) { return p.second > 0; });
  if (first != samples.end()) r.put("first_entry_s", seconds_between(t0, first->first), 3);
  const auto steady_from =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(0.6 * o.seconds));
  const auto from = std::find_if(first, samples.end(), [&](const auto& p) { return p.first >= steady_from; });
  if (from != samples.end() && seconds_between(from->first, samples.back().first) >= 0.5)
    r.put("entries_per_s",
          static_cast<double>(samples.back().second - from->second) /
              seconds_between(from->first, samples.back().first),
          0);
  else
    r.put_json("entries_per_s", "null");  // too short a run, or nothing arrived while the producer ran
  // How far the receiver was behind when the producer had written everything, in seconds of writing.
  if (!samples.empty())
    r.put("lag_s_at_producer_exit",
          (static_cast<double>(n) - static_cast<double>(samples.back().second)) / o.live_rate, 3);
  r.put("entries_per_s_overall", static_cast<double>(n) / wall, 0);
  // From the producer's exit to the receiver holding every entry (0 if that came first).
  r.put("catch_up_s", gen_ended ? std::max(0.0, seconds_between(*gen_ended, *done)) : 0.0, 3);
  r.put("wall_s", wall, 3);
  r.put("cpu_pct", cpu / wall * 100.0, 2);
  r.put("cpu_s_per_million_entries", cpu / static_cast<double>(n) * 1e6, 3);
  const bool stopped = stop_sidecar(s, 60s, error);
  put_receiver_fields(r, rx->stats(), n);
  r.put("private_mib", s.memory->private_mib(), 1);
  r.put("private_mib_without_rings", s.memory->private_mib_without_rings(), 1);
  r.put_bool("pinned", s.child.pinned() && producer_pinned);
  if (!stopped) r.fail(error);
  return r;
}

// The targets, reported and not enforced: ship_backlog at least 500,000 entries/s with
// the sidecar on one core, and at most 32 MiB of private memory in the sidecar while it ships.
void print_summary(const std::vector<CaseOut>& results, bool json) {
  std::optional<double> rate_min, per_cpu_min, mem;
  for (const CaseOut& r : results) {
    if (!r.error.empty()) continue;
    if (r.name == "ship_backlog") {
      rate_min = r.number("entries_per_s");
      per_cpu_min = r.number("entries_per_cpu_s");
    }
    if (auto v = r.number("private_mib")) mem = std::max(mem.value_or(0), *v);
  }
  print_summary_fields(
      {
          {"entries_per_s_min", number_or_null(rate_min, 0)},
          {"target_500k_entries_per_s_one_core", target_or_null(rate_min, [](double v) { return v >= 5e5; })},
          {"entries_per_cpu_s_min", number_or_null(per_cpu_min, 0)},
          {"private_mib_max", number_or_null(mem, 1)},
          {"target_private_within_32mib", target_or_null(mem, [](double v) { return v <= 32.0; })},
          {"cpus", std::to_string(online_cpus())},
      },
      json);
}

const std::vector<std::string> kCaseNames = {"ship_backlog", "ship_live"};

}  // namespace

CLI::App* add_loki_command(CLI::App& app, LokiBenchOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "loki", "The sidecar's Loki shipping: entries/s on one core, CPU and wire bytes per entry, memory");
  add_sidecar_bench_options(cmd, o, kCaseNames);
  cmd->add_option("--entries", o.entries, "Entries of ship_backlog's spool")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--rate", o.live_rate, "Records per second of ship_live")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seconds", o.seconds, "How long ship_live writes")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option(
         "--loki-set", o.loki_settings,
         "Comma-separated NAME=VALUE: --loki-NAME VALUE for the shipping sidecar (e.g. encoding=json); "
         "default: the sidecar's own")
      ->delimiter(',')
      ->check(CLI::Validator(
          [](const std::string& v) {
            const auto eq = v.find('=');
            return eq == std::string::npos || eq == 0 ? std::string("expected NAME=VALUE") : std::string();
          },
          "NAME=VALUE"));
  return cmd;
}

int run_loki_bench(const LokiBenchOptions& o) {
  return run_sidecar_bench(
      "loki", o, kCaseNames,
      [&](std::string_view name) { return name == "ship_backlog" ? run_ship_backlog(o) : run_ship_live(o); },
      [&](const std::vector<CaseOut>& results) { print_summary(results, o.json); });
}

}  // namespace shmlog_bench
