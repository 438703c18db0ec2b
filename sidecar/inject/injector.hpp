// Adding the shmlog sidecar to a Kubernetes object: the one engine behind `shmlog inject` (which
// applies the operations to the object and prints it) and `shmlog webhook` (which sends them to
// the API server as a JSONPatch). Both see the same operations, so a webhook patch applied to its
// input gives exactly what `inject` prints for the same pod template.
//
// Objects are RapidJSON values (YAML input is converted to JSON first, yaml_json.hpp), so the
// engine never cares which format the user wrote.
#pragma once

#include <shmlog/result.hpp>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

namespace shmlog::inject {

// Defaults for what is added; each can be overridden per workload by an annotation (see
// kAnnotation* below). Where the text says "empty", nothing is set.
struct InjectOptions {
  bool native = true;               // --native (default): an init container with
                                    // restartPolicy: Always (Kubernetes 1.29+); --legacy: a
                                    // plain second container with a preStop
  std::string image;                // the sidecar's image (default: shmlog:<version>)
  std::string ring_bytes = "8MiB";  // SHMLOG_RING_BYTES for the apps; sizes the emptyDir
  std::string cpu_request = "50m", memory_request = "32Mi", memory_limit = "128Mi", cpu_limit;
  std::string loki_url;               // SHMLOG_LOKI_URL of the sidecar; empty: no shipping
  std::string config_map = "shmlog";  // envFrom (optional: true) on the sidecar
  bool memory_medium = true;          // emptyDir medium: Memory (false: the node's disk)
};

// Every annotation the injector reads or writes (on the pod template's metadata, or the Pod's).
inline constexpr std::string_view kAnnotationInject = "shmlog.io/inject";  // "false": opt out
inline constexpr std::string_view kAnnotationStatus = "shmlog.io/status";  // written: what was added
inline constexpr std::string_view kAnnotationRingBytes = "shmlog.io/ring-bytes";
inline constexpr std::string_view kAnnotationImage = "shmlog.io/image";
inline constexpr std::string_view kAnnotationCpuRequest = "shmlog.io/cpu-request";
inline constexpr std::string_view kAnnotationMemoryRequest = "shmlog.io/memory-request";
inline constexpr std::string_view kAnnotationMemoryLimit = "shmlog.io/memory-limit";
inline constexpr std::string_view kAnnotationCpuLimit = "shmlog.io/cpu-limit";
inline constexpr std::string_view kAnnotationLokiUrl = "shmlog.io/loki-url";
inline constexpr std::string_view kAnnotationContainers = "shmlog.io/containers";  // "a,b": only these
inline constexpr std::string_view kAnnotationMode = "shmlog.io/mode";              // native or legacy

// One JSONPatch "add" (RFC 6902), its path a JSON Pointer (RFC 6901, "~1" for "/") from the
// object's root.
struct PatchOp {
  std::string path;
  rapidjson::Document value;
};

struct Plan {
  enum class Verdict { inject, skip, error };
  Verdict verdict = Verdict::skip;
  std::string kind, name;    // for the report ("Deployment/web")
  std::string reason;        // skip: why ("opted out by shmlog.io/inject: \"false\"", "already
                             // injected", "kind ConfigMap has no pod template"); error: what is wrong
  std::vector<PatchOp> ops;  // in order; empty unless verdict == inject
  // inject: how, and into which containers (for reports and logs)
  std::string mode;               // "native" or "legacy"
  std::vector<std::string> apps;  // the app containers, in the pod's order
};

// What to add to one object (any kind; a Pod for the webhook). Never throws on bad input: a
// malformed object is Verdict::error with a reason naming the field.
Plan plan_injection(const rapidjson::Value& object, const InjectOptions& options);

// Applies `ops` (as plan_injection made them) to `object`, allocating in `allocator`.
Status apply_patch(rapidjson::Value& object, const std::vector<PatchOp>& ops,
                   rapidjson::Document::AllocatorType& allocator);

// The operations as a JSONPatch document: [{"op":"add","path":...,"value":...}, ...].
std::string json_patch_text(const std::vector<PatchOp>& ops);

}  // namespace shmlog::inject
