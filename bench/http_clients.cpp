#include "http_clients.hpp"

#include "bench_support.hpp"
#include "cases.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <httplib.h>
#include <unistd.h>

namespace shmlog_bench {

using namespace std::chrono_literals;

namespace {

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

}  // namespace

ClientLoad::ClientLoad(int port, const HttpBenchOptions& o)
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

ClientLoad::~ClientLoad() {
  stop();
}

void ClientLoad::stop() {
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

double ClientLoad::served_s() const {
  return seconds_between(started_, stopped_.value_or(started_));
}

void ClientLoad::put_fields(CaseOut& r, Clock::time_point sidecar_started, std::uint64_t records) const {
  const double served_s = this->served_s();
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
    r.put("tail_coverage_pct",
          static_cast<double>(sum.events + sum.dropped) / static_cast<double>(records * tails_.size()) * 100,
          1);
  // The clients' CPU on core 0: near served_s, they were what limited what the tails took.
  r.put("client_cpu_s", static_cast<double>(cpu1_ns_ - cpu0_ns_) / 1e9, 3);
  r.put_bool("clients_pinned", clients_pinned_.load());
}

// Why the served case does not count: a tail refused, a request that failed.
std::string ClientLoad::failure() const {
  for (const TailCount& t : tails_)
    if (t.status != 200)
      return "a live tail got " +
             (t.status == 0 ? std::string("no answer") : "HTTP " + std::to_string(t.status));
  if (request_failures_ > 0) return std::to_string(request_failures_) + " status requests failed";
  if (rate_ > 0 && latencies_ms_.empty()) return "no status request was answered";
  return {};
}

void ClientLoad::pin_thread() {
  if (!pin_current_thread(kProducerCpu)) clients_pinned_ = false;
}

// Evenly paced: each request is due one period after the one before, whatever the last took;
// one that comes back late is followed at once, so the rate holds while the mean latency is
// under a period. Far behind (a stalled server), the schedule starts over rather than burst.
void ClientLoad::ask_status() {
  pin_thread();
  httplib::Client c("127.0.0.1", port_);
  c.set_keep_alive(keep_alive_);
  c.set_connection_timeout(5, 0);
  c.set_read_timeout(10, 0);
  const auto period = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate_));
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

void ClientLoad::tail(std::size_t i) {
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

bool ClientLoad::stopping_flag() {
  const std::lock_guard lock(mu_);
  return stopping_;
}

}  // namespace shmlog_bench
