// shmlog-bench drain: the real `shmlog sidecar` binary against real producers (shmlog-loadgen,
// fork + exec), one JSON line per case. What each case measures and how: bench/README.md,
// section "shmlog-bench drain". Starting and watching the processes: sidecar_run.hpp.
#include "drain_bench.hpp"

#include "bench_support.hpp"
#include "cases.hpp"
#include "sidecar_run.hpp"

#include <shmlog/config.hpp>
#include <shmlog/logger.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <unistd.h>

namespace shmlog_bench {
namespace {

using namespace std::chrono_literals;

std::int64_t realtime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

bool make_drain_dirs(const SidecarBenchOptions& o, CaseDirs& d, std::string& error) {
  return make_dirs("shmlog-drain", o.keep, d, error);
}

// Starts the sidecar on core 1 with --rotate-bytes 1TiB (its memory sampled from then on).
bool launch_drain_sidecar(const SidecarBenchOptions& o, const CaseDirs& d, Sidecar& s, std::string& error) {
  Spawn spec = sidecar_spawn(o.sidecar, d.rings->path(), d.out);
  spec.argv.insert(spec.argv.end(), {"--rotate-bytes", "1TiB"});
  return launch_sidecar(spec, d.rings->path(), s, error);
}

// launch_drain_sidecar, then waits for its "draining" line: from then on SIGTERM means "drain, then
// exit 0".
bool start_drain_sidecar(const DrainOptions& o, const CaseDirs& d, Sidecar& s, std::string& error) {
  return launch_drain_sidecar(o, d, s, error) && wait_until_draining(s, error);
}

}  // namespace

CaseOut run_prefilled_drain(const SidecarBenchOptions& o, std::string name, unsigned producers,
                            std::uint64_t records,
                            const std::function<void(Sidecar&, const CaseDirs&)>& while_draining) {
  CaseOut r{std::move(name)};
  r.put_count("producers", producers);
  r.put_count("records", records);
  std::string error;
  CaseDirs d;
  if (!make_drain_dirs(o, d, error)) return r.fail(error);
  const std::uint64_t ring_bytes = prefill_rings(o.loadgen, d, producers, records, error);
  if (ring_bytes == 0) return r.fail(error);
  r.put_count("ring_bytes_per_producer", ring_bytes);

  Sidecar s;
  if (!launch_drain_sidecar(o, d, s, error)) return r.fail(error);
  rusage ru{};
  std::function<void()> each;
  if (while_draining) each = [&] { while_draining(s, d); };
  if (!drain_and_exit(s, s.started + 60s + std::chrono::seconds(records / 100'000), ru, error, each))
    return r.fail(error);
  const auto ended = Clock::now();
  if (!s.written_at || !s.written_cpu_ns) return r.fail("the sidecar never said \"all records written\"");
  // Drain time runs from the sidecar's exec to its "all records written": every line is in
  // the file (write() returned). The fdatasync it then does before exit moves the page cache
  // to the disk at the disk's pace; that is reported on its own (sync_exit_s), and the rate
  // counting it too as records_per_s_to_exit.
  const double wall = seconds_between(s.started, *s.written_at);
  const double wall_to_exit = seconds_between(s.started, ended);
  const double cpu = static_cast<double>(*s.written_cpu_ns) / 1e9;
  const double user =
      static_cast<double>(ru.ru_utime.tv_sec) + static_cast<double>(ru.ru_utime.tv_usec) / 1e6;
  const double sys = static_cast<double>(ru.ru_stime.tv_sec) + static_cast<double>(ru.ru_stime.tv_usec) / 1e6;
  const OutputSize size = measure_output(d.out);
  const auto n = static_cast<double>(records);
  r.put_count("lines", size.lines);
  r.put("records_per_s", n / wall, 0);
  r.put("cpu_records_per_s", cpu > 0 ? n / cpu : 0.0, 0);
  r.put("mb_per_s", static_cast<double>(size.bytes) / 1e6 / wall, 1);
  r.put("records_per_s_to_exit", n / wall_to_exit, 0);
  r.put_count("bytes", size.bytes);
  r.put("wall_s", wall, 3);
  r.put("cpu_s", cpu, 3);
  r.put("sync_exit_s", wall_to_exit - wall, 3);
  r.put("user_s_to_exit", user, 3);
  r.put("sys_s_to_exit", sys, 3);
  // Why wall time exceeds CPU time: sleeps (waiting for a wake, writeback throttling) show as
  // voluntary switches, preemption by other work on the core as involuntary ones.
  r.put_count("voluntary_switches", static_cast<std::uint64_t>(ru.ru_nvcsw));
  r.put_count("involuntary_switches", static_cast<std::uint64_t>(ru.ru_nivcsw));
  r.put("private_mib", s.memory->private_mib(), 1);
  r.put("private_mib_without_rings", s.memory->private_mib_without_rings(), 1);
  r.put_count("memory_samples", s.memory->samples());
  r.put_bool("pinned", s.child.pinned());
  r.put_text("out_fs", fs_type(d.out));
  r.put_text("ring_fs", fs_type(d.rings->path()));
  if (size.lines != records)
    r.fail("the output has " + std::to_string(size.lines) + " lines, expected " + std::to_string(records));
  return r;
}

namespace {

// drain_Np: P producers fill their rings with no sidecar running and exit; the sidecar then
// starts on core 1, gets SIGTERM as soon as it says "draining", takes everything and exits.
CaseOut run_drain(const DrainOptions& o, unsigned producers) {
  return run_prefilled_drain(o, "drain_" + std::to_string(producers) + "p", producers, o.records);
}

// "2026-11-21T09:31:44.890133936Z" at the line's "timestamp" key: nanoseconds since the epoch.
std::optional<std::int64_t> line_timestamp_ns(std::string_view line) {
  constexpr std::string_view kKey = "\"timestamp\":\"";
  const auto at = line.find(kKey);
  if (at == std::string_view::npos) return std::nullopt;
  const std::string_view t = line.substr(at + kKey.size());
  auto number = [&](std::size_t pos, std::size_t len) -> int {
    int v = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (i >= t.size() || t[i] < '0' || t[i] > '9') return -1;
      v = v * 10 + (t[i] - '0');
    }
    return v;
  };
  const int year = number(0, 4), month = number(5, 2), day = number(8, 2);
  const int hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return std::nullopt;
  std::int64_t frac = 0;
  std::size_t i = 19;
  int digits = 0;
  if (i < t.size() && t[i] == '.') {
    for (++i; i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i) {
      if (digits == 9) continue;  // below a nanosecond
      frac = frac * 10 + (t[i] - '0');
      ++digits;
    }
  }
  for (; digits < 9; ++digits) frac *= 10;
  if (i >= t.size() || t[i] != 'Z') return std::nullopt;
  namespace chrono = std::chrono;
  const chrono::sys_days date{chrono::year{year} / chrono::month{static_cast<unsigned>(month)} /
                              chrono::day{static_cast<unsigned>(day)}};
  const auto since_epoch =
      date.time_since_epoch() + chrono::hours{hour} + chrono::minutes{minute} + chrono::seconds{second};
  return chrono::duration_cast<chrono::nanoseconds>(since_epoch).count() + frac;
}

struct LineAge {
  std::int64_t timestamp_ns;  // of the log call, from the line
  double age_ms;              // now - timestamp when the bench first read the line
};

// Follows a growing JSON-lines file: each new line's age when first read.
class Tail {
 public:
  explicit Tail(std::string path) : path_(std::move(path)) {}

  // Reads what was appended since the last call; false if a line had no readable timestamp.
  bool read_new(std::vector<LineAge>& ages) {
    if (fd_.get() < 0) fd_.reset(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd_.get() < 0) return true;  // not created yet
    char buf[65536];
    for (ssize_t n; (n = ::read(fd_.get(), buf, sizeof buf)) > 0;) {
      const std::int64_t now = realtime_ns();  // the moment these lines are seen
      partial_.append(buf, static_cast<std::size_t>(n));
      std::size_t start = 0;
      for (std::size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
        const auto ts = line_timestamp_ns(std::string_view(partial_).substr(start, nl - start));
        if (!ts) return false;
        ages.push_back({*ts, static_cast<double>(now - *ts) / 1e6});
      }
      partial_.erase(0, start);
    }
    return true;
  }

 private:
  std::string path_;
  Fd fd_;
  std::string partial_;
};

// Percentiles of the ages of the lines logged from `from_ns` on.
Percentiles age_percentiles(const std::vector<LineAge>& lines, std::int64_t from_ns, std::size_t& count) {
  std::vector<double> ages;
  ages.reserve(lines.size());
  for (const LineAge& l : lines)
    if (l.timestamp_ns >= from_ns) ages.push_back(l.age_ms);
  count = ages.size();
  return percentiles(std::move(ages));
}

// latency_10k: the sidecar runs on core 1; one producer on core 0 writes at the rate for the
// time asked; the bench (on core 0 too) wakes on inotify IN_MODIFY of the output directory and
// reads the new lines. The first lines pay for the producer's start and the sidecar finding its
// ring: the percentiles leave out the first tenth of the run (at most 0.5 s), the *_all fields
// keep them.
CaseOut run_latency(const DrainOptions& o) {
  CaseOut r{"latency_10k"};
  std::string error;
  CaseDirs d;
  if (!make_drain_dirs(o, d, error)) return r.fail(error);
  const Fd watch(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (watch.get() < 0 || ::inotify_add_watch(watch.get(), d.out.c_str(), IN_CREATE | IN_MODIFY) < 0)
    return r.fail(std::string("inotify: ") + std::strerror(errno));
  Sidecar s;
  if (!start_drain_sidecar(o, d, s, error)) return r.fail(error);

  const auto records = static_cast<std::uint64_t>(std::llround(o.latency_rate * o.seconds));
  r.put("rate", o.latency_rate, 0);
  r.put_count("records", records);
  Spawn spec;
  spec.argv = loadgen_argv(o.loadgen, 1, records);
  spec.argv.insert(spec.argv.end(), {"--rate", fixed(o.latency_rate, 3), "--flush-ms", "2000"});
  spec.env = {"SHMLOG_DIR=" + d.rings->path()};  // otherwise the library's defaults
  spec.cpu = kProducerCpu;
  spec.output_file = d.work->path() + "/loadgen.txt";
  Child gen = Child::exec(spec, error);
  if (!gen.running()) return r.fail(error);
  const bool producer_pinned = gen.pinned();

  Tail tail(d.out + "/" + kService + ".log");
  std::vector<LineAge> lines;
  lines.reserve(records);
  std::optional<int> gen_status;
  auto last_line = Clock::now();
  const auto deadline = last_line + std::chrono::duration<double>(o.seconds) + 60s;
  while (lines.size() < records && !g_interrupted && Clock::now() < deadline && s.talking()) {
    if (s.wait(watch.get(), 50ms)) {
      alignas(inotify_event) char events[4096];
      while (::read(watch.get(), events, sizeof events) > 0) {
      }
    }
    const std::size_t before = lines.size();
    if (!tail.read_new(lines)) return r.fail("a line without a readable timestamp in the output");
    if (lines.size() != before) last_line = Clock::now();
    if (!gen_status) gen_status = gen.try_reap();
    if (gen_status && Clock::now() - last_line > 3s) break;  // the producer is done, lines stopped
  }
  if (g_interrupted) return r.fail("interrupted");
  if (!s.talking()) return r.fail("the sidecar ended early: " + tail_of(s.said));
  if (!gen_status) gen_status = wait_for(gen, 10s);
  if (!loadgen_ok(gen_status, spec.output_file, error)) return r.fail(error);
  if (!stop_sidecar(s, 30s, error)) return r.fail(error);

  std::int64_t first_ns = lines.empty() ? 0 : lines.front().timestamp_ns;
  for (const LineAge& l : lines) first_ns = std::min(first_ns, l.timestamp_ns);
  const double warmup_s = std::min(0.5, o.seconds / 10);
  std::size_t count = 0, count_all = 0;
  const auto warm = static_cast<std::int64_t>(warmup_s * 1e9);
  const Percentiles p = age_percentiles(lines, first_ns + warm, count);
  const Percentiles all = age_percentiles(lines, first_ns, count_all);
  double min_ms = 0;
  for (const LineAge& l : lines) min_ms = std::min(min_ms, l.age_ms);
  r.put("p50_ms", p.p50, 3);
  r.put("p99_ms", p.p99, 3);
  r.put("max_ms", p.max, 3);
  r.put_count("count", count);
  r.put("warmup_s", warmup_s, 2);
  r.put("p99_ms_all", all.p99, 3);
  r.put("max_ms_all", all.max, 3);
  r.put_count("lines", count_all);
  if (min_ms < 0) r.put("negative_ms", min_ms, 3);  // the ring's clock is ahead of CLOCK_REALTIME
  r.put_text("tail", "inotify IN_MODIFY; the lines of one read share one now");
  r.put("private_mib", s.memory->private_mib(), 1);
  r.put("private_mib_without_rings", s.memory->private_mib_without_rings(), 1);
  r.put_bool("pinned", s.child.pinned() && producer_pinned);
  if (lines.size() != records)
    r.fail("saw " + std::to_string(lines.size()) + " lines, expected " + std::to_string(records));
  return r;
}

// utime + stime of /proc/PID/stat in clock ticks.
std::optional<std::uint64_t> cpu_ticks(pid_t pid) {
  const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::vector<std::string_view> fields;  // from field 3 (state) on
  std::string_view rest = std::string_view(stat).substr(paren + 1);
  while (!rest.empty()) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    const auto sp = rest.find(' ');
    if (!rest.empty()) fields.push_back(rest.substr(0, sp));
    rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp);
  }
  if (fields.size() < 13) return std::nullopt;
  return std::strtoull(std::string(fields[11]).c_str(), nullptr, 10) +
         std::strtoull(std::string(fields[12]).c_str(), nullptr, 10);
}

// The idle producer: a ring of its own, and no records until the bench closes `hold`.
int idle_producer(const std::string& ring_dir, int hold, int ready) {
  shmlog::Config config;
  config.dir = ring_dir;
  config.service = "bench-idle";
  if (auto st = shmlog::init(config); !st || shmlog::ring_path().empty()) return 3;
  (void)!::write(ready, "r", 1);
  char c = 0;
  while (::read(hold, &c, 1) < 0 && errno == EINTR) {
  }
  shmlog::shutdown();
  return 0;
}

bool sidecar_maps(pid_t pid, const std::string& ring_dir) {
  return read_text("/proc/" + std::to_string(pid) + "/maps").find(ring_dir) != std::string::npos;
}

// idle: the sidecar on core 1 with one producer attached that logs nothing; its CPU time over
// the window from /proc/PID/stat (and schedstat, which counts nanoseconds rather than ticks).
CaseOut run_idle(const DrainOptions& o) {
  CaseOut r{"idle"};
  std::string error;
  CaseDirs d;
  if (!make_drain_dirs(o, d, error)) return r.fail(error);
  Sidecar s;
  if (!start_drain_sidecar(o, d, s, error)) return r.fail(error);

  int hold_pipe[2], ready_pipe[2];
  if (::pipe2(hold_pipe, O_CLOEXEC) != 0) return r.fail(std::string("pipe: ") + std::strerror(errno));
  Fd hold_read(hold_pipe[0]), hold(hold_pipe[1]);
  if (::pipe2(ready_pipe, O_CLOEXEC) != 0) return r.fail(std::string("pipe: ") + std::strerror(errno));
  Fd ready(ready_pipe[0]), ready_write(ready_pipe[1]);
  const std::string rings = d.rings->path();
  Child producer = Child::fork_run(
      [&] {
        hold.reset();
        ready.reset();
        return idle_producer(rings, hold_read.get(), ready_write.get());
      },
      error);
  if (!producer.running()) return r.fail(error);
  hold_read.reset();
  ready_write.reset();

  // Ready once the producer has its ring and the sidecar has mapped it; then a moment to settle.
  auto until = Clock::now() + 10s;
  bool ready_seen = false;
  while (!ready_seen && !g_interrupted && Clock::now() < until && s.talking())
    ready_seen = s.wait(ready.get(), 100ms);
  if (!ready_seen) return r.fail("the idle producer did not start");
  until = Clock::now() + 10s;
  while (!sidecar_maps(s.child.pid(), rings) && !g_interrupted && Clock::now() < until && s.talking())
    s.wait(-1, 10ms);
  if (!sidecar_maps(s.child.pid(), rings)) return r.fail("the sidecar did not open the idle producer's ring");
  for (const auto settle = Clock::now() + 500ms; Clock::now() < settle && !g_interrupted;) s.wait(-1, 50ms);

  const auto ticks0 = cpu_ticks(s.child.pid());
  const auto ns0 = cpu_ns(s.child.pid());
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  while (Clock::now() < end && !g_interrupted && s.talking()) s.wait(-1, end - Clock::now());
  const auto ticks1 = cpu_ticks(s.child.pid());
  const auto ns1 = cpu_ns(s.child.pid());
  const double wall = seconds_between(t0, Clock::now());
  if (g_interrupted) return r.fail("interrupted");
  if (!ticks0 || !ticks1 || !s.talking()) return r.fail("the sidecar ended early: " + tail_of(s.said));

  hold.reset();  // the producer detaches and exits
  const auto detach_by = Clock::now() + 5s;
  std::optional<int> status;
  while (!(status = producer.try_reap()) && Clock::now() < detach_by && !g_interrupted) s.wait(-1, 10ms);
  if (!status || *status != 0) return r.fail("the idle producer did not end well");
  if (!stop_sidecar(s, 30s, error)) return r.fail(error);

  const auto tick_s = 1.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
  r.put("cpu_pct", static_cast<double>(*ticks1 - *ticks0) * tick_s / wall * 100.0, 2);
  if (ns0 && ns1) r.put("cpu_pct_schedstat", static_cast<double>(*ns1 - *ns0) / 1e9 / wall * 100.0, 3);
  r.put("seconds", wall, 2);
  r.put("tick_ms", tick_s * 1e3, 0);
  r.put("private_mib", s.memory->private_mib(), 1);
  r.put("private_mib_without_rings", s.memory->private_mib_without_rings(), 1);
  r.put_bool("pinned", s.child.pinned());
  return r;
}

// The targets, reported and not enforced: >= 1M records/s on one core (the slowest
// drain case), p99 <= 5 ms at 10k/s, idle <= 1% of a core, private memory <= 20 MiB. The memory
// target is judged where the rings have the library's default size (latency_10k, idle): the
// sidecar's batch buffers are a quarter of each lane it reads, so the drain cases' pre-filled
// 2-lane rings of up to 512 MiB make it hold far more; their peaks are reported beside it.
void print_summary(const std::vector<CaseOut>& results, bool json) {
  std::optional<double> drain_min, drain_exit_min, p99, idle, mem, mem_drain, mem_drain_rings;
  for (const CaseOut& r : results) {
    if (!r.error.empty()) continue;
    const bool drain = r.name.starts_with("drain_");
    if (auto v = r.number("records_per_s"); v && drain) drain_min = std::min(drain_min.value_or(*v), *v);
    if (auto v = r.number("records_per_s_to_exit"); v && drain)
      drain_exit_min = std::min(drain_exit_min.value_or(*v), *v);
    if (r.name == "latency_10k") p99 = r.number("p99_ms");
    if (r.name == "idle") idle = r.number("cpu_pct");
    if (auto v = r.number("private_mib"); v && !drain) mem = std::max(mem.value_or(0), *v);
    if (auto v = r.number("private_mib_without_rings"); v && drain)
      mem_drain = std::max(mem_drain.value_or(0), *v);
    if (auto v = r.number("private_mib"); v && drain)
      mem_drain_rings = std::max(mem_drain_rings.value_or(0), *v);
  }
  print_summary_fields(
      {
          {"drain_records_per_s_min", number_or_null(drain_min, 0)},
          {"target_1m_records_per_s_one_core", target_or_null(drain_min, [](double v) { return v >= 1e6; })},
          {"drain_records_per_s_to_exit_min", number_or_null(drain_exit_min, 0)},
          {"latency_p99_ms", number_or_null(p99, 3)},
          {"target_p99_within_5ms", target_or_null(p99, [](double v) { return v <= 5.0; })},
          {"idle_cpu_pct", number_or_null(idle, 2)},
          {"target_idle_within_1pct", target_or_null(idle, [](double v) { return v <= 1.0; })},
          {"private_mib_default_rings", number_or_null(mem, 1)},
          {"target_private_within_20mib", target_or_null(mem, [](double v) { return v <= 20.0; })},
          {"private_mib_drain_without_rings", number_or_null(mem_drain, 1)},
          {"private_mib_drain", number_or_null(mem_drain_rings, 1)},
          {"cpus", std::to_string(online_cpus())},
      },
      json);
}

const std::vector<std::string> kCaseNames = {"drain_1p", "drain_2p", "drain_4p", "latency_10k", "idle"};

CaseOut run_case(const DrainOptions& o, std::string_view name) {
  if (name == "drain_1p") return run_drain(o, 1);
  if (name == "drain_2p") return run_drain(o, 2);
  if (name == "drain_4p") return run_drain(o, 4);
  if (name == "latency_10k") return run_latency(o);
  return run_idle(o);
}

}  // namespace

CLI::App* add_drain_command(CLI::App& app, DrainOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "drain", "The sidecar: drain throughput on one core, latency at 10k records/s, idle CPU, memory");
  add_sidecar_bench_options(cmd, o, kCaseNames);
  cmd->add_option("--records", o.records, "Records of each drain_Np case, over all its producers")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--rate", o.latency_rate, "Records per second of latency_10k")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seconds", o.seconds, "How long latency_10k writes and idle watches")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  return cmd;
}

int run_drain_bench(const DrainOptions& o) {
  return run_sidecar_bench(
      "drain", o, kCaseNames, [&](std::string_view name) { return run_case(o, name); },
      [&](const std::vector<CaseOut>& results) { print_summary(results, o.json); });
}

}  // namespace shmlog_bench
