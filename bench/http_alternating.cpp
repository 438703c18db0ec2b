#include "http_alternating.hpp"

#include "bench_support.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>

namespace shmlog_bench {

namespace {

std::vector<double> sorted(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// The q-quantile of sorted values, interpolated between neighbours.
double quantile(const std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const double at = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(at);
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (at - static_cast<double>(lo));
}

double slowdown_pct(double rate, double before, double after) {
  const double base = (before + after) / 2;
  return base > 0 ? (1 - rate / base) * 100 : 0;
}

}  // namespace

Alternator::Alternator(int port, pid_t sidecar, RingProgress progress, const HttpBenchOptions& o)
    : port_(port), sidecar_(sidecar), progress_(std::move(progress)), o_(o) {
  thread_ = std::thread([this] { run(); });
}

Alternator::~Alternator() {
  stop();
}

void Alternator::stop() {
  {
    const std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Alternator::Point Alternator::point() const {
  Point p;
  p.progress = progress_.sample();
  p.all_ns = cpu_ns_all_threads(sidecar_).value_or(0);
  p.drain_ns = cpu_ns(sidecar_).value_or(0);
  return p;
}

bool Alternator::sleep_until(Clock::time_point t) {
  std::unique_lock lock(mu_);
  return !wake_.wait_until(lock, t, [this] { return stopping_; });
}

void Alternator::absorb(const ClientLoad& load) {
  latencies_ms_.insert(latencies_ms_.end(), load.latencies_ms().begin(), load.latencies_ms().end());
  requests_failed_ += load.request_failures();
  for (const TailCount& t : load.tails()) {
    tails_.events += t.events;
    tails_.dropped += t.dropped;
    tails_.dropped_events += t.dropped_events;
    tails_.bytes += t.bytes;
  }
  on_s_ += load.served_s();
  if (client_failure_.empty()) client_failure_ = load.failure();
}

// Off, on, off, on, ... from the moment the drain is seen to move until the rings are empty.
// Each window's first settle_s is not measured: the clients of the window before are still
// being let go there (a tail's server thread notices its closed connection at its next write),
// and this window's are connecting.
void Alternator::run() {
  const auto window = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o_.window_s));
  const auto settle = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o_.settle_s));
  const std::uint64_t first = progress_.sample().read;
  for (;;) {
    const auto s = progress_.sample();
    if (s.read != first || s.drained()) break;
    if (!sleep_until(Clock::now() + std::chrono::milliseconds(1))) return;
  }
  for (unsigned i = 0;; ++i) {
    const bool on = i % 2 == 1;
    const auto start = Clock::now();
    std::optional<ClientLoad> load;
    if (on) load.emplace(port_, o_);
    bool go_on = sleep_until(start + settle);
    const Point a = point();
    go_on = go_on && sleep_until(start + window);
    const Point b = point();
    ring_bytes_ = b.progress.written;
    if (load) {
      load->stop();
      absorb(*load);
    }
    if (!go_on) return;  // cut short: not a window
    Window w;
    w.on = on;
    const double seconds = seconds_between(a.progress.at, b.progress.at);
    if (seconds > 0) {
      w.bytes_per_s = static_cast<double>(b.progress.read - a.progress.read) / seconds;
      const double all = static_cast<double>(b.all_ns - a.all_ns) / 1e9;
      w.drain_core = static_cast<double>(b.drain_ns - a.drain_ns) / 1e9 / seconds;
      w.server_core = std::max(0.0, all / seconds - w.drain_core);
    }
    // The drain may have ended inside the last window, and a sidecar that exited reads as zero.
    w.counted = !b.progress.drained() && b.progress.read > a.progress.read && b.all_ns >= a.all_ns &&
                b.drain_ns >= a.drain_ns;
    windows_.push_back(w);
    if (b.progress.drained()) return;
  }
}

std::vector<double> Alternator::slowdowns() const {
  std::vector<double> out;
  for (std::size_t k = 1; k + 1 < windows_.size(); ++k) {
    const Window &before = windows_[k - 1], &w = windows_[k], &after = windows_[k + 1];
    if (w.on && w.counted && before.counted && after.counted)
      out.push_back(slowdown_pct(w.bytes_per_s, before.bytes_per_s, after.bytes_per_s));
  }
  return out;
}

std::vector<double> Alternator::placebo() const {
  std::vector<double> out;
  for (std::size_t k = 2; k + 2 < windows_.size(); ++k) {
    const Window &before = windows_[k - 2], &w = windows_[k], &after = windows_[k + 2];
    if (!w.on && w.counted && before.counted && after.counted)
      out.push_back(slowdown_pct(w.bytes_per_s, before.bytes_per_s, after.bytes_per_s));
  }
  return out;
}

void Alternator::put_fields(CaseOut& r, std::uint64_t records) const {
  const double bytes_per_record =
      records > 0 ? static_cast<double>(ring_bytes_) / static_cast<double>(records) : 0;
  std::vector<double> on_rate, off_rate, on_server, off_server, on_drain, off_drain;
  for (const Window& w : windows_) {
    if (!w.counted) continue;
    (w.on ? on_rate : off_rate).push_back(bytes_per_record > 0 ? w.bytes_per_s / bytes_per_record : 0);
    (w.on ? on_server : off_server).push_back(w.server_core * 100);
    (w.on ? on_drain : off_drain).push_back(w.drain_core * 100);
  }
  const auto s = sorted(slowdowns());
  const auto p = sorted(placebo());
  r.put("window_s", o_.window_s, 3);
  r.put("settle_s", o_.settle_s, 3);
  r.put_count("windows", windows_.size());
  r.put_count("windows_compared", s.size());
  r.put("window_slowdown_pct", quantile(s, 0.5), 1);
  r.put("window_slowdown_p25", quantile(s, 0.25), 1);
  r.put("window_slowdown_p75", quantile(s, 0.75), 1);
  std::string each;
  for (const double v : slowdowns()) each += (each.empty() ? "" : ",") + fixed(v, 1);
  r.put_json("window_slowdown_each", "[" + each + "]");
  r.put_count("placebo_compared", p.size());
  r.put("placebo_slowdown_pct", quantile(p, 0.5), 1);
  r.put("records_per_s_off", quantile(sorted(off_rate), 0.5), 0);
  r.put("records_per_s_on", quantile(sorted(on_rate), 0.5), 0);
  // Where the core went: the drain thread's share and the other threads' (the HTTP server's).
  r.put("drain_core_pct_off", quantile(sorted(off_drain), 0.5), 1);
  r.put("drain_core_pct_on", quantile(sorted(on_drain), 0.5), 1);
  r.put("server_core_pct_off", quantile(sorted(off_server), 0.5), 1);
  r.put("server_core_pct_on", quantile(sorted(on_server), 0.5), 1);
  r.put("on_s", on_s_, 3);
  r.put_count("requests", latencies_ms_.size());
  r.put("requests_per_s", on_s_ > 0 ? static_cast<double>(latencies_ms_.size()) / on_s_ : 0.0, 1);
  r.put_count("request_failures", requests_failed_);
  const Percentiles lat = percentiles(latencies_ms_);
  r.put("request_p50_ms", lat.p50, 3);
  r.put("request_p99_ms", lat.p99, 3);
  r.put_count("tail_events", tails_.events);
  r.put_count("tail_dropped", tails_.dropped);
  r.put("tail_events_per_s", on_s_ > 0 ? static_cast<double>(tails_.events) / on_s_ : 0.0, 0);
}

std::string Alternator::failure() const {
  if (!client_failure_.empty()) return client_failure_;
  if (slowdowns().empty()) return "no window could be compared (more --alternating-records?)";
  return {};
}

}  // namespace shmlog_bench
