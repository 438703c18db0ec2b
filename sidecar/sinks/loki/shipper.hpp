// The Loki shipper: its own thread, reading the spool (the files the drain writes) and pushing
// batches to Loki. Loki slow or down never holds back the drain or the files: the shipper only
// falls behind, retrying with backoff for as long as the files hold the lines, and catches up
// oldest first when Loki is back.
#pragma once

#include "sinks/loki/loki_options.hpp"

#include <shmlog/result.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace shmlog::sidecar::loki {

// Upper bounds (seconds) of the push duration histogram's buckets; +Inf is implied.
inline constexpr std::array<double, 11> kPushSecondsBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                              0.5,   1,    2.5,   5,    10};

struct ShipperStats {
  std::uint64_t entries_sent = 0;      // accepted by Loki
  std::uint64_t entries_rejected = 0;  // refused with a 4xx on their own, given up
  std::uint64_t requests = 0;
  std::uint64_t retries = 0;     // requests sent again after a retriable failure
  std::uint64_t wire_bytes = 0;  // gzipped bodies sent, retries included
  std::uint64_t lost_bytes = 0;  // deleted from the spool before they were shipped
  std::uint64_t lost_files = 0;
  std::uint64_t truncated_lines = 0;
  std::uint64_t unparsable_lines = 0;
  std::uint64_t pending_bytes = 0;  // in the files, not yet shipped
  int last_status = 0;              // of the last push; 0: no answer
  std::string last_error;
  std::int64_t last_push_unix_ms = 0;  // last push Loki accepted
  double lag_seconds = 0;              // age of the newest entry Loki has, while lines wait
  // Push requests by how long they took (answered or not), not cumulative: bucket i counts
  // those up to kPushSecondsBounds[i] and above the bound before; the last counts the rest.
  std::array<std::uint64_t, kPushSecondsBounds.size() + 1> push_seconds_buckets{};
  double push_seconds_sum = 0;
  std::map<int, std::uint64_t> responses_by_status;  // 0: no answer
};

class Shipper {
 public:
  // Starts the thread, reading `spool_dir`. Fails on bad settings (URL, unreadable TLS or
  // credential files) or an unreadable positions file.
  static Result<std::unique_ptr<Shipper>> start(LokiOptions options, std::string spool_dir,
                                                std::function<void(const std::string&)> say);
  ~Shipper();  // finish() with no time left, if not called

  // Ships what the files hold (one last push of what is pending) until that is done or
  // `deadline` passes, saves the positions and stops the thread.
  void finish(std::chrono::steady_clock::time_point deadline);

  ShipperStats stats() const;

 private:
  struct Impl;
  explicit Shipper(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shmlog::sidecar::loki
