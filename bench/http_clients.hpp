// The clients of `shmlog-bench http`: threads of the bench process, pinned to core 0 (the
// sidecar has core 1). One asks GET /status and GET /metrics in turn at an even pace, the others
// each follow GET /api/tail with no filter, counting the events they receive.
#pragma once

#include "http_bench.hpp"
#include "sidecar_run.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Client;
}

namespace shmlog_bench {

// What one live tail received.
struct TailCount {
  int status = 0;  // of the response; 0 if none came
  std::optional<Clock::time_point> connected;
  std::uint64_t events = 0;          // `event: record`
  std::uint64_t dropped = 0;         // the sum of the `event: dropped` data's N
  std::uint64_t dropped_events = 0;  // how many such events
  std::uint64_t bytes = 0;
};

// Starts asking and tailing at once (the tails connect in their threads); stop() or the
// destructor ends it. What it saw is read after stop().
class ClientLoad {
 public:
  ClientLoad(int port, const HttpBenchOptions& o);
  ClientLoad(const ClientLoad&) = delete;
  ClientLoad& operator=(const ClientLoad&) = delete;
  ~ClientLoad();

  void stop();

  // drain_served's client fields: requests, latencies, tail counts, the clients' CPU.
  void put_fields(CaseOut& r, Clock::time_point sidecar_started, std::uint64_t records) const;
  // Why the load does not count: a tail refused, a request that failed; empty if none.
  std::string failure() const;

  const std::vector<double>& latencies_ms() const { return latencies_ms_; }
  std::uint64_t request_failures() const { return request_failures_; }
  const std::vector<TailCount>& tails() const { return tails_; }
  double served_s() const;

 private:
  void pin_thread();
  void ask_status();
  void tail(std::size_t i);
  bool stopping_flag();

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

}  // namespace shmlog_bench
