// shmlog-bench http: the drain of drain_1p (drain_bench.hpp, run_prefilled_drain) with and without
// HTTP clients asking the sidecar for its status and tailing its records. What each case
// measures and how: bench/README.md, section "shmlog-bench http".
#include "http_bench.hpp"

#include "bench_support.hpp"
#include "cases.hpp"
#include "drain_bench.hpp"
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

const std::vector<std::string> kCaseNames = {"drain_quiet", "drain_served"};

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

// What one live tail received.
struct TailCount {
  int status = 0;  // of the response; 0 if none came
  std::optional<Clock::time_point> connected;
  std::uint64_t events = 0;          // `event: record`
  std::uint64_t dropped = 0;         // the sum of the `event: dropped` data's N
  std::uint64_t dropped_events = 0;  // how many such events
  std::uint64_t bytes = 0;
};

// Counts the events of a text/event-stream as its chunks arrive. Only the start of a line tells
// what it is, so no more of it is kept: a record's data line is never copied whole.
class SseCounter {
 public:
  explicit SseCounter(TailCount& count) : count_(count) {}

  void feed(const char* data, std::size_t n) {
    for (const char* p = data; p < data + n;) {
      const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(data + n - p)));
      const char* end = nl != nullptr ? nl : data + n;
      if (head_.size() < kHead)
        head_.append(p, std::min(static_cast<std::size_t>(end - p), kHead - head_.size()));
      if (nl == nullptr) return;  // the line goes on in the next chunk
      line(head_);
      head_.clear();
      p = nl + 1;
    }
  }

 private:
  // "data: {\"dropped\":" and 20 digits fit.
  static constexpr std::size_t kHead = 64;

  void line(std::string_view l) {
    if (l.empty()) {
      in_dropped_ = false;  // the event ends
    } else if (l == "event: record") {
      ++count_.events;
    } else if (l == "event: dropped") {
      ++count_.dropped_events;
      in_dropped_ = true;
    } else if (in_dropped_ && l.starts_with("data: ")) {
      constexpr std::string_view kKey = "\"dropped\":";
      if (const auto at = l.find(kKey); at != std::string_view::npos)
        count_.dropped += std::strtoull(std::string(l.substr(at + kKey.size())).c_str(), nullptr, 10);
    }
  }

  TailCount& count_;
  std::string head_;
  bool in_dropped_ = false;
};

// The clients of drain_served, threads of the bench process pinned to core 0 (the sidecar has
// core 1): one asks GET /status and GET /metrics in turn at an even pace, the others each follow
// GET /api/tail. They start when the sidecar says its port and stop when it says "all records
// written".
class ClientLoad {
 public:
  ClientLoad(int port, const HttpBenchOptions& o)
      : port_(port), rate_(o.requests_per_s), keep_alive_(o.keep_alive), tails_(o.tail_clients) {
    started_ = Clock::now();
    cpu0_ns_ = cpu_ns_all_threads(::getpid()).value_or(0);
    for (std::size_t i = 0; i < tails_.size(); ++i) {
      tail_clients_.push_back(std::make_unique<httplib::Client>("127.0.0.1", port_));
      tail_clients_.back()->set_connection_timeout(5, 0);
      tail_clients_.back()->set_read_timeout(30, 0);  // at most a keep-alive comment's 15 s of silence
    }
    if (rate_ > 0) threads_.emplace_back([this] { ask_status(); });
    for (std::size_t i = 0; i < tails_.size(); ++i) threads_.emplace_back([this, i] { tail(i); });
  }
  ClientLoad(const ClientLoad&) = delete;
  ClientLoad& operator=(const ClientLoad&) = delete;
  ~ClientLoad() { stop(); }

  void stop() {
    if (stopped_) return;
    {
      const std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    // A tail waiting for its next chunk is woken by its socket's shutdown, not by the flag.
    for (auto& c : tail_clients_) c->stop();
    stopped_ = Clock::now();
    cpu1_ns_ = cpu_ns_all_threads(::getpid()).value_or(0);
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  void put_fields(CaseOut& r, Clock::time_point sidecar_started, std::uint64_t records) const {
    const double served_s = seconds_between(started_, stopped_.value_or(started_));
    r.put("served_from_s", seconds_between(sidecar_started, started_), 3);
    r.put("served_s", served_s, 3);
    r.put("requests_per_s_asked", rate_, 0);
    r.put_bool("keep_alive", keep_alive_);
    r.put_count("requests", latencies_ms_.size());
    r.put("requests_per_s", served_s > 0 ? static_cast<double>(latencies_ms_.size()) / served_s : 0.0, 1);
    r.put_count("request_failures", request_failures_);
    const Percentiles p = percentiles(latencies_ms_);
    r.put("request_p50_ms", p.p50, 3);
    r.put("request_p99_ms", p.p99, 3);
    r.put("request_max_ms", p.max, 3);
    r.put_count("status_body_bytes", status_body_bytes_);
    r.put_count("metrics_body_bytes", metrics_body_bytes_);
    TailCount sum;
    std::optional<Clock::time_point> last_connected;
    for (const TailCount& t : tails_) {
      sum.events += t.events;
      sum.dropped += t.dropped;
      sum.dropped_events += t.dropped_events;
      sum.bytes += t.bytes;
      if (t.connected) last_connected = std::max(last_connected.value_or(*t.connected), *t.connected);
    }
    r.put_count("tail_clients", tails_.size());
    if (last_connected) r.put("tail_connected_s", seconds_between(sidecar_started, *last_connected), 3);
    r.put_count("tail_events", sum.events);
    r.put_count("tail_dropped", sum.dropped);
    r.put_count("tail_dropped_events", sum.dropped_events);
    r.put("tail_mb", static_cast<double>(sum.bytes) / 1e6, 1);
    // Records a tail received or was told it lost, of all it could have seen: below 100 by what was
    // drained before it subscribed, and by the last batch offered when it was stopped.
    if (!tails_.empty() && records > 0)
      r.put(
          "tail_coverage_pct",
          static_cast<double>(sum.events + sum.dropped) / static_cast<double>(records * tails_.size()) * 100,
          1);
    // The clients' CPU on core 0: near served_s, they were what limited what the tails took.
    r.put("client_cpu_s", static_cast<double>(cpu1_ns_ - cpu0_ns_) / 1e9, 3);
    r.put_bool("clients_pinned", clients_pinned_.load());
  }

  // Why the served case does not count: a tail refused, a request that failed.
  std::string failure() const {
    for (const TailCount& t : tails_)
      if (t.status != 200)
        return "a live tail got " +
               (t.status == 0 ? std::string("no answer") : "HTTP " + std::to_string(t.status));
    if (request_failures_ > 0) return std::to_string(request_failures_) + " status requests failed";
    if (rate_ > 0 && latencies_ms_.empty()) return "no status request was answered";
    return {};
  }

 private:
  void pin_thread() {
    if (!pin_current_thread(kProducerCpu)) clients_pinned_ = false;
  }

  // Evenly paced: each request is due one period after the one before, whatever the last took;
  // one that comes back late is followed at once, so the rate holds while the mean latency is
  // under a period. Far behind (a stalled server), the schedule starts over rather than burst.
  void ask_status() {
    pin_thread();
    httplib::Client c("127.0.0.1", port_);
    c.set_keep_alive(keep_alive_);
    c.set_connection_timeout(5, 0);
    c.set_read_timeout(10, 0);
    const auto period =
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate_));
    auto next = Clock::now();
    for (std::uint64_t i = 0;; ++i) {
      {
        std::unique_lock lock(mu_);
        wake_.wait_until(lock, next, [this] { return stopping_; });
        if (stopping_) return;
      }
      const bool status = i % 2 == 0;
      const auto t0 = Clock::now();
      const auto res = c.Get(status ? "/status" : "/metrics");
      const auto t1 = Clock::now();
      if (res && res->status == 200) {
        latencies_ms_.push_back(seconds_between(t0, t1) * 1e3);
        (status ? status_body_bytes_ : metrics_body_bytes_) = res->body.size();
      } else {
        ++request_failures_;
      }
      next += period;
      if (t1 - next > 1s) next = t1;
    }
  }

  void tail(std::size_t i) {
    pin_thread();
    TailCount& t = tails_[i];
    SseCounter counter(t);
    (void)tail_clients_[i]->Get(
        "/api/tail",
        [&](const httplib::Response& res) {
          t.status = res.status;
          t.connected = Clock::now();
          return res.status == 200 && !stopping_flag();
        },
        [&](const char* data, std::size_t n) {
          t.bytes += n;
          counter.feed(data, n);
          return !stopping_flag();
        });
  }

  bool stopping_flag() {
    const std::lock_guard lock(mu_);
    return stopping_;
  }

  int port_;
  double rate_;
  bool keep_alive_;
  Clock::time_point started_;
  std::optional<Clock::time_point> stopped_;
  std::uint64_t cpu0_ns_ = 0, cpu1_ns_ = 0;
  std::atomic<bool> clients_pinned_{true};
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // under mu_
  // Each written by its own thread, read after the join.
  std::vector<double> latencies_ms_;
  std::uint64_t request_failures_ = 0;
  std::size_t status_body_bytes_ = 0, metrics_body_bytes_ = 0;
  std::vector<TailCount> tails_;
  std::vector<std::unique_ptr<httplib::Client>> tail_clients_;
  std::vector<std::thread> threads_;
};

// One run of a case: run_prefilled_drain (drain_1p's measure and line check), plus the sidecar's
// CPU over all its threads when it says "all records written" (beside cpu_s, the drain thread's:
// the difference is the HTTP server's), and in drain_served the clients from its port on.
CaseOut run_case(const HttpBenchOptions& o, std::string_view name, unsigned run) {
  const bool served = name == "drain_served";
  std::optional<ClientLoad> load;
  std::optional<std::uint64_t> all_threads_ns;
  Clock::time_point sidecar_started;
  CaseOut r = run_prefilled_drain(o, std::string(name), o.producers, o.records, [&](Sidecar& s) {
    sidecar_started = s.started;
    if (s.written_at) {
      if (!all_threads_ns) all_threads_ns = cpu_ns_all_threads(s.child.pid());
      if (load) load->stop();
    } else if (served && !load) {
      if (const auto port = served_port(s.said)) load.emplace(*port, o);
    }
  });
  r.fields.insert(r.fields.begin(), {"run", std::to_string(run)});
  r.numbers["run"] = run;
  if (all_threads_ns) {
    r.put("cpu_s_all_threads", static_cast<double>(*all_threads_ns) / 1e9, 3);
    if (const auto cpu = r.number("cpu_s"))
      r.put("server_cpu_s", std::max(0.0, static_cast<double>(*all_threads_ns) / 1e9 - *cpu), 3);
  }
  if (!served) return r;
  if (!load) return r.fail("the drain ended before the clients started (more --records?)");
  load->stop();
  load->put_fields(r, sidecar_started, o.records);
  if (const std::string why = load->failure(); !why.empty()) r.fail(why);
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

// The target, reported and not enforced: the drain while served at most 5% slower than
// quiet, medians over the runs. Beside it each run's own pair, to see the noise.
void print_summary(const std::vector<CaseOut>& results, const HttpBenchOptions& o) {
  const auto quiet = values_of(results, "drain_quiet", "records_per_s");
  const auto served = values_of(results, "drain_served", "records_per_s");
  std::optional<double> slowdown;
  if (!quiet.empty() && !served.empty() && median(quiet) > 0)
    slowdown = (median(quiet) - median(served)) / median(quiet) * 100;
  std::map<double, std::pair<std::optional<double>, std::optional<double>>> by_run;
  for (const CaseOut& r : results) {
    if (!r.error.empty()) continue;
    auto& pair = by_run[r.number("run").value_or(0)];
    (r.name == "drain_quiet" ? pair.first : pair.second) = r.number("records_per_s");
  }
  std::string per_run;
  for (const auto& [run, pair] : by_run)
    if (pair.first && pair.second && *pair.first > 0)
      per_run += (per_run.empty() ? "" : ",") + fixed((*pair.first - *pair.second) / *pair.first * 100, 1);
  const auto achieved = values_of(results, "drain_served", "requests_per_s");
  const std::optional<double> requests_per_s =
      achieved.empty() ? std::nullopt : std::optional(median(achieved));
  const auto m = [&](std::string_view name, const char* key, int decimals) {
    return median_or_null(values_of(results, name, key), decimals);
  };
  print_summary_fields(
      {
          {"runs", std::to_string(o.runs)},
          {"records_per_s_quiet", median_or_null(quiet, 0)},
          {"records_per_s_served", median_or_null(served, 0)},
          {"slowdown_pct", number_or_null(slowdown, 1)},
          {"target_5pct", target_or_null(slowdown, [](double v) { return v <= 5.0; })},
          {"slowdown_pct_per_run", "[" + per_run + "]"},
          {"cpu_records_per_s_quiet", m("drain_quiet", "cpu_records_per_s", 0)},
          {"cpu_records_per_s_served", m("drain_served", "cpu_records_per_s", 0)},
          {"server_cpu_s_quiet", m("drain_quiet", "server_cpu_s", 3)},
          {"server_cpu_s_served", m("drain_served", "server_cpu_s", 3)},
          {"requests", m("drain_served", "requests", 0)},
          {"requests_per_s", m("drain_served", "requests_per_s", 1)},
          // The target speaks of 200 requests/s: a slowdown measured under much less says little.
          {"load_as_asked",
           target_or_null(requests_per_s, [&](double v) { return v >= 0.95 * o.requests_per_s; })},
          {"request_p50_ms", m("drain_served", "request_p50_ms", 3)},
          {"request_p99_ms", m("drain_served", "request_p99_ms", 3)},
          {"tail_events", m("drain_served", "tail_events", 0)},
          {"tail_dropped", m("drain_served", "tail_dropped", 0)},
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
  cmd->add_option("--runs", o.runs, "Quiet/served pairs; the pair's order flips each run")
      ->capture_default_str()
      ->check(CLI::Range(1u, 100u));
  cmd->add_option("--rate", o.requests_per_s, "GET /status and /metrics per second in drain_served (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 10'000.0));
  cmd->add_flag("--keep-alive", o.keep_alive,
                "Ask /status and /metrics on one kept-alive connection instead of one per request");
  cmd->add_option("--tail-clients", o.tail_clients, "Live tails in drain_served (the sidecar takes 8)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 8u));
  return cmd;
}

int run_http_bench(const HttpBenchOptions& o) {
  // Quiet and served take turns, the pair's order flipping each run, so a slow minute of a
  // shared host lands on both alike and neither always runs first.
  std::vector<std::string> order;
  for (unsigned run = 0; run < o.runs; ++run) {
    order.insert(order.end(), kCaseNames.begin(), kCaseNames.end());
    if (run % 2 == 1) std::swap(order[order.size() - 2], order.back());
  }
  std::map<std::string, unsigned, std::less<>> runs_of;
  return run_sidecar_bench(
      "http", o, order,
      [&](std::string_view name) { return run_case(o, name, ++runs_of[std::string(name)]); },
      [&](const std::vector<CaseOut>& results) { print_summary(results, o); });
}

}  // namespace shmlog_bench
