// What the sidecar knows about itself at one moment: the one model behind `GET /status`,
// `GET /metrics`, the probes and the live page. The drain thread publishes its part a few times
// a second (a copy under a lock, never on its hot path); the Loki shipper's part is its stats.
// Renderers (status_json, metrics) only read a Snapshot; nothing here touches a ring or a file.
#pragma once

#include "sinks/file/rotating_file.hpp"
#include "sinks/loki/shipper.hpp"

#include <shmlog/level.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace shmlog::sidecar {

using LevelCounts = std::array<std::uint64_t, kLevelCount>;

struct RingStatus {
  std::string file;  // the ring's path
  std::string service, pod, pod_namespace, container;
  std::int32_t writer_pid = 0;
  bool writer_alive = false;
  std::uint64_t capacity_bytes = 0;  // all lanes' record space
  std::uint64_t used_bytes = 0;      // committed or being written, not yet taken by the drain
  double fill_ratio = 0;             // used / capacity, 0..1
  std::uint32_t lanes_total = 0;
  std::uint32_t lanes_in_use = 0;  // owned by a live thread now
  std::uint32_t lanes_set_aside = 0;
  std::uint64_t records_total = 0;  // taken from this ring by this sidecar
  double records_per_s = 0;         // over the last publishing interval
  LevelCounts dropped{};            // by the app, ring full (per level, since the ring was created)
  double last_write_age_s = -1;     // since the newest record taken; -1: none yet
  Level min_level = Level::trace;   // what the producers honour now
};

struct FileStatus {
  std::string service;  // as the rings have it (the file name is its safe stem)
  std::string path;     // <out>/<stem>.log
  FileSinkStats stats;
  bool failing = false;              // writes fail; its records wait in the rings
  LevelCounts records{};             // lines written for records, by level
  LevelCounts sampled{}, limited{};  // let go by --sample and --rate-limit, by level
};

struct DrainSnapshot {
  std::vector<RingStatus> rings;
  std::vector<FileStatus> files;
  std::uint64_t records_total = 0;
  std::uint64_t drop_reports = 0;
  std::uint64_t rings_removed = 0;
  std::uint64_t write_failures = 0;
  bool draining = false;     // the first scan and the resume are done: records flow
  bool stopping = false;     // SIGTERM seen: draining until the apps detach or the deadline
  bool degraded = false;     // an output is failing
  double failing_for_s = 0;  // how long the oldest failing output has been failing
};

struct SidecarInfo {
  std::string version;
  std::int32_t pid = 0;
  double uptime_s = 0;
  std::int64_t started_unix_ms = 0;
  // The effective settings by flag name, secrets masked ("***"), for /status.
  std::vector<std::pair<std::string, std::string>> settings;
};

struct Snapshot {
  SidecarInfo sidecar;
  DrainSnapshot drain;
  std::optional<loki::ShipperStats> loki;  // shipping is on
  std::string loki_url;                    // without credentials
};

}  // namespace shmlog::sidecar
