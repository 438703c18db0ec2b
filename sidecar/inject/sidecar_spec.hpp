// What an injection adds to a pod: the sidecar container, the two volumes, the mount and the
// environment of each app container, the status annotation. The names and paths are the ones
// the sidecar and libshm use by default, so neither needs a setting to find the other.
#pragma once

#include "inject/injector.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

namespace shmlog::inject {

inline constexpr std::string_view kSidecarName = "shmlog";
inline constexpr std::string_view kRingsVolume = "shmlog-rings";
inline constexpr std::string_view kLogsVolume = "shmlog-logs";
inline constexpr std::string_view kRingsPath = "/var/run/shmlog";  // SHMLOG_DIR's default
inline constexpr std::string_view kLogsPath = "/var/log/shmlog";   // SHMLOG_OUT's default
inline constexpr std::int64_t kSidecarId = 65532;  // the image's user and group; the pod's fsGroup
// terminationGracePeriodSeconds for a pod that sets none: the sidecar's --shutdown-deadline (20 s)
// after the apps' own shutdown (native), or after its wait-apps preStop (25 s, legacy).
inline constexpr int kNativeGraceSeconds = 45;
inline constexpr int kLegacyGraceSeconds = 50;

// One injection's settings: the options with the workload's annotations applied.
struct Injection {
  InjectOptions options;                      // options.image is never empty here
  std::uint64_t ring_bytes = 0;               // options.ring_bytes parsed
  std::vector<std::string> apps;              // the app containers, in the pod's order
  std::vector<std::uint64_t> app_ring_bytes;  // each app's ring: its own SHMLOG_RING_BYTES if set
  bool exit_with_apps = false;                // a legacy sidecar of a Job's pod: exit when the apps have
};

using Allocator = rapidjson::Document::AllocatorType;

rapidjson::Value sidecar_container(const Injection& injection, Allocator& allocator);
rapidjson::Value rings_volume(const Injection& injection, Allocator& allocator);
rapidjson::Value logs_volume(Allocator& allocator);
rapidjson::Value rings_mount(Allocator& allocator);  // what each app container mounts
// The variables an app container gets (SHMLOG_DIR, SHMLOG_RING_BYTES, the downward API,
// CONTAINER_NAME), each an env entry.
std::vector<rapidjson::Value> app_env(const Injection& injection, std::string_view container,
                                      Allocator& allocator);
// The shmlog.io/status value: what was added, as one line of JSON.
std::string status_annotation(const Injection& injection);
// The rings volume's sizeLimit: (ring + 1 MiB) per app, twice (a restarted app's old ring stays
// until drained), in whole Mi.
std::string rings_size_limit(const std::vector<std::uint64_t>& app_ring_bytes);

}  // namespace shmlog::inject
