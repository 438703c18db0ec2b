// The sidecar's HTTP endpoint (docs/http.md): status, metrics, probes, level control, the live
// tail and the live page, served by cpp-httplib on threads of its own. It only reads snapshots
// and hands level changes over; the drain never waits for it.
#pragma once

#include "settings/sidecar_settings.hpp"
#include "status/snapshot.hpp"

#include <shmlog/result.hpp>

#include <functional>
#include <memory>

namespace shmlog::sidecar {

class LevelOverrides;
class TailHub;

struct StatusSources {
  std::function<Snapshot()> snapshot;
  LevelOverrides* levels = nullptr;  // null: /api/level answers 503
  TailHub* tail = nullptr;           // null: /api/tail answers 503
};

// Whether the sidecar is ready, and why (for /readyz and /status): ready once the rings are
// being drained; not while stopping, nor while an output has failed for `failing_grace` or more.
struct Readiness {
  bool ready = false;
  std::string health;  // ok, degraded, stopping, starting
  std::string reason;
};
Readiness readiness_of(const DrainSnapshot& drain, double failing_grace_s);

class StatusServer {
 public:
  // Binds (an Error naming the address when it cannot) and starts serving.
  static Result<std::unique_ptr<StatusServer>> start(const HttpOptions& options, StatusSources sources);
  ~StatusServer();   // stop()
  int port() const;  // the bound port (the one chosen when 0 was asked)
  // Ends the live tails and stops serving; returns when the server threads are done.
  void stop();

 private:
  struct Impl;
  explicit StatusServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shmlog::sidecar
