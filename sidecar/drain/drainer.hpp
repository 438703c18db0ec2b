// The drain: finds the ring files in a directory, takes their records, formats each as one JSON
// line and appends them to `<out>/<service>.log`, moving a ring's cursor only after its lines
// are written. One thread does it all: at a million records a second the formatting, not the
// coordination, is the cost, and one thread keeps every lane's lines in order.
#pragma once

#include "settings/sidecar_settings.hpp"
#include "status/snapshot.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace shmlog::sidecar {

struct DrainStats {
  std::uint64_t records = 0;        // lines written for records
  std::uint64_t resumed_skips = 0;  // records found already written after a restart
  std::uint64_t drop_reports = 0;   // WARNING lines about records the apps dropped
  std::uint64_t rings_opened = 0;
  std::uint64_t rings_removed = 0;    // dead producers' rings drained and deleted
  std::uint64_t lanes_set_aside = 0;  // corrupt lanes no longer read
  std::uint64_t write_failures = 0;
  bool degraded = false;  // an output is failing; its records wait in the rings
};

class LevelOverrides;
class TailHub;

class Drainer {
 public:
  // `levels` (may be null) are written into the rings of their services; `tail` (may be null)
  // is offered every line written while a live tail is open. Both must outlive run().
  explicit Drainer(SidecarSettings settings, LevelOverrides* levels = nullptr, TailHub* tail = nullptr);
  ~Drainer();
  Drainer(const Drainer&) = delete;
  Drainer& operator=(const Drainer&) = delete;

  // Runs until stop() and then drains until every live producer has detached or the shutdown
  // deadline has passed; flushes and returns 0. Returns non-zero only when it cannot start.
  int run();

  // Async-signal-safe: ask run() to finish (SIGTERM) / to reopen the output files (SIGHUP).
  void stop();
  void reopen();

  // Call after run() has returned.
  DrainStats stats() const;
  // Thread-safe: the state the drain thread published last (four times a second).
  DrainSnapshot snapshot() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shmlog::sidecar
