// `GET /status`: the Snapshot as the one JSON document docs/http.md shows.
#pragma once

#include "status/snapshot.hpp"

#include <string>

namespace shmlog::sidecar {

// What the server decides from the snapshot and its own state, shown beside it.
struct StatusExtras {
  std::string health;  // "ok", "degraded" or "stopping"
  bool ready = false;  // what /readyz answers
  std::string reason;  // why, in words: "draining 2 rings"
};

// Strings with invalid UTF-8 (a ring's service name is whatever the app wrote) have it replaced
// by U+FFFD; non-finite numbers are written as 0: the document is always valid JSON.
std::string render_status_json(const Snapshot& snapshot, const StatusExtras& extras);

}  // namespace shmlog::sidecar
