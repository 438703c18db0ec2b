// drain_alternating, the case behind `shmlog-bench http`'s slowdown_pct: one long drain of
// pre-filled rings during which the clients (http_clients.hpp) are switched on for one window
// and off for the next. Each "on" window's drain rate is compared with the mean of the "off"
// windows on either side, a fraction of a second away, so a host whose speed drifts by tens of
// percent from one minute to the next (as this project's shared machines do) still gives a
// steady figure. The rate is read from the rings themselves (ring_progress.hpp), which costs the
// sidecar nothing. Method: bench/README.md, section "shmlog-bench http".
#pragma once

#include "http_bench.hpp"
#include "http_clients.hpp"
#include "ring_progress.hpp"
#include "sidecar_run.hpp"

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

namespace shmlog_bench {

class Alternator {
 public:
  // Starts the windows in a thread of its own once the drain has begun (read_pos moved); they
  // go on until the rings are drained or stop().
  Alternator(int port, pid_t sidecar, RingProgress progress, const HttpBenchOptions& o);
  ~Alternator();
  Alternator(const Alternator&) = delete;
  Alternator& operator=(const Alternator&) = delete;

  void stop();

  struct Window {
    bool on = false;
    double bytes_per_s = 0;  // drained, between the settle time and the window's end
    double server_core = 0;  // the sidecar's threads but the drain's, in cores
    double drain_core = 0;   // the drain thread, in cores
    bool counted = false;    // the drain ran through it (not the last, not empty)
  };
  const std::vector<Window>& windows() const { return windows_; }  // after stop()

  // Each counted "on" window with counted "off" windows on both sides: 100 x (1 - on / mean of
  // the two), in percent.
  std::vector<double> slowdowns() const;
  // The same comparison between "off" windows two apart (each against the "off" windows before
  // and after it): nothing differs, so it shows the method's noise and any bias.
  std::vector<double> placebo() const;

  // The case's fields: windows, rates, cores, and the clients' totals over the "on" windows.
  // `records`: all the rings hold, to turn their bytes into records.
  void put_fields(CaseOut& r, std::uint64_t records) const;
  // Why the case does not count: a client failure, or too few windows to compare.
  std::string failure() const;

 private:
  struct Point {
    RingProgress::Sample progress;
    std::uint64_t all_ns = 0, drain_ns = 0;
  };
  Point point() const;
  bool sleep_until(Clock::time_point t);  // false once stopping
  void run();
  void absorb(const ClientLoad& load);

  int port_;
  pid_t sidecar_;
  RingProgress progress_;
  HttpBenchOptions o_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // under mu_
  std::thread thread_;
  // Written by the thread, read after the join.
  std::vector<Window> windows_;
  std::uint64_t ring_bytes_ = 0;  // written into the rings, all of it
  std::vector<double> latencies_ms_;
  std::uint64_t requests_failed_ = 0;
  TailCount tails_{};
  double on_s_ = 0;
  std::string client_failure_;
};

}  // namespace shmlog_bench
