// `GET /metrics`: the Snapshot in Prometheus text exposition format 0.0.4, every family as
// declared in metric_names.hpp.
#pragma once

#include "status/snapshot.hpp"

#include <string>

namespace shmlog::sidecar {

// `ready` is what /readyz answers, decided by the server. Families without samples (no rings
// yet; no Loki when shipping is off) are left out, as client libraries do.
std::string render_metrics(const Snapshot& snapshot, bool ready);

}  // namespace shmlog::sidecar
