#include "inject/sidecar_spec.hpp"

#include <utility>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace shmlog::inject {
namespace {

using rapidjson::Value;

// Small builders so a container reads like its YAML. Keys are string literals (never copied).
class Build {
 public:
  explicit Build(Allocator& allocator) : a_(allocator) {}

  Value str(std::string_view s) { return Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a_); }
  static Value num(std::int64_t n) { return Value(n); }
  static Value boolean(bool b) { return Value(b); }

  template <typename... Rest>
  Value obj(Rest&&... rest) {
    Value o(rapidjson::kObjectType);
    add(o, std::forward<Rest>(rest)...);
    return o;
  }
  template <typename... Items>
  Value arr(Items&&... items) {
    Value a(rapidjson::kArrayType);
    (a.PushBack(std::forward<Items>(items), a_), ...);
    return a;
  }
  // Adds key/value pairs to an existing object.
  void add(Value&) {}
  template <typename... Rest>
  void add(Value& o, const char* key, Value&& value, Rest&&... rest) {
    o.AddMember(rapidjson::StringRef(key), value, a_);
    add(o, std::forward<Rest>(rest)...);
  }

  Value env(std::string_view name, std::string_view value) {
    return obj("name", str(name), "value", str(value));
  }
  Value field_env(std::string_view name, std::string_view field) {
    return obj("name", str(name), "valueFrom", obj("fieldRef", obj("fieldPath", str(field))));
  }
  Value exec(std::string_view a, std::string_view b, std::string_view c) {
    return obj("command", arr(str("/usr/local/bin/shmlog"), str(a), str(b), str(c)));
  }
  Value exec(std::string_view a, std::string_view b) {
    return obj("command", arr(str("/usr/local/bin/shmlog"), str(a), str(b)));
  }

 private:
  Allocator& a_;
};

Value resources(Build& b, const InjectOptions& o) {
  Value requests(rapidjson::kObjectType), limits(rapidjson::kObjectType);
  if (!o.cpu_request.empty()) b.add(requests, "cpu", b.str(o.cpu_request));
  if (!o.memory_request.empty()) b.add(requests, "memory", b.str(o.memory_request));
  if (!o.cpu_limit.empty()) b.add(limits, "cpu", b.str(o.cpu_limit));
  if (!o.memory_limit.empty()) b.add(limits, "memory", b.str(o.memory_limit));
  Value r(rapidjson::kObjectType);
  if (requests.MemberCount() > 0) b.add(r, "requests", std::move(requests));
  if (limits.MemberCount() > 0) b.add(r, "limits", std::move(limits));
  return r;
}

}  // namespace

Value sidecar_container(const Injection& injection, Allocator& allocator) {
  Build b(allocator);
  const InjectOptions& o = injection.options;
  Value c = b.obj("name", b.str(kSidecarName), "image", b.str(o.image), "args", b.arr(b.str("sidecar")));
  // Native: an init container that keeps running; the kubelet starts it before the apps and
  // stops it after them, so a Job's pod completes and the last lines are drained.
  if (o.native) b.add(c, "restartPolicy", b.str("Always"));

  Value env =
      b.arr(b.field_env("POD_NAME", "metadata.name"), b.field_env("POD_NAMESPACE", "metadata.namespace"),
            b.field_env("NODE_NAME", "spec.nodeName"));
  if (!o.loki_url.empty()) env.PushBack(b.env("SHMLOG_LOKI_URL", o.loki_url), allocator);
  // A legacy sidecar is a plain container: in a Job's pod it must leave by itself once the apps
  // have, or the pod never completes.
  if (injection.exit_with_apps) env.PushBack(b.env("SHMLOG_EXIT_WITH_APPS", "true"), allocator);
  b.add(c, "env", std::move(env));
  if (!o.config_map.empty())
    b.add(c, "envFrom",
          b.arr(b.obj("configMapRef", b.obj("name", b.str(o.config_map), "optional", Build::boolean(true)))));

  Value r = resources(b, o);
  if (r.MemberCount() > 0) b.add(c, "resources", std::move(r));
  b.add(c, "volumeMounts",
        b.arr(b.obj("name", b.str(kRingsVolume), "mountPath", b.str(kRingsPath)),
              b.obj("name", b.str(kLogsVolume), "mountPath", b.str(kLogsPath))));
  // The restricted Pod Security Standard, so the sidecar never weakens a namespace's policy.
  b.add(c, "securityContext",
        b.obj("runAsNonRoot", Build::boolean(true), "runAsUser", Build::num(kSidecarId), "runAsGroup",
              Build::num(kSidecarId), "allowPrivilegeEscalation", Build::boolean(false), "capabilities",
              b.obj("drop", b.arr(b.str("ALL"))), "readOnlyRootFilesystem", Build::boolean(true),
              "seccompProfile", b.obj("type", b.str("RuntimeDefault"))));
  // Exec probes: the endpoint listens on 127.0.0.1 and kubelet's httpGet goes to the pod's IP.
  b.add(c, "startupProbe",
        b.obj("exec", b.exec("probe", "/livez"), "periodSeconds", Build::num(1), "failureThreshold",
              Build::num(30)));
  b.add(c, "livenessProbe",
        b.obj("exec", b.exec("probe", "/livez"), "periodSeconds", Build::num(10), "timeoutSeconds",
              Build::num(3), "failureThreshold", Build::num(3)));
  b.add(c, "readinessProbe",
        b.obj("exec", b.exec("probe", "/readyz"), "periodSeconds", Build::num(5), "timeoutSeconds",
              Build::num(3)));
  // Legacy: all containers get SIGTERM at once; the preStop holds the sidecar's until the apps
  // have closed their rings, so their last lines are drained.
  if (!o.native)
    b.add(c, "lifecycle", b.obj("preStop", b.obj("exec", b.exec("wait-apps", "--timeout", "25s"))));
  return c;
}

Value rings_volume(const Injection& injection, Allocator& allocator) {
  Build b(allocator);
  Value dir = b.obj();
  if (injection.options.memory_medium) b.add(dir, "medium", b.str("Memory"));
  b.add(dir, "sizeLimit", b.str(rings_size_limit(injection.app_ring_bytes)));
  return b.obj("name", b.str(kRingsVolume), "emptyDir", std::move(dir));
}

Value logs_volume(Allocator& allocator) {
  Build b(allocator);
  return b.obj("name", b.str(kLogsVolume), "emptyDir", b.obj("sizeLimit", b.str("1Gi")));
}

Value rings_mount(Allocator& allocator) {
  Build b(allocator);
  return b.obj("name", b.str(kRingsVolume), "mountPath", b.str(kRingsPath));
}

std::vector<Value> app_env(const Injection& injection, std::string_view container, Allocator& allocator) {
  Build b(allocator);
  std::vector<Value> env;
  env.push_back(b.env("SHMLOG_DIR", kRingsPath));
  env.push_back(b.env("SHMLOG_RING_BYTES", injection.options.ring_bytes));
  // libshm writes these into the ring's header, so every line says which pod and container.
  env.push_back(b.field_env("POD_NAME", "metadata.name"));
  env.push_back(b.field_env("POD_NAMESPACE", "metadata.namespace"));
  env.push_back(b.field_env("NODE_NAME", "spec.nodeName"));
  env.push_back(b.env("CONTAINER_NAME", container));
  return env;
}

std::string status_annotation(const Injection& injection) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("version");
  w.String(SHMLOG_VERSION);
  w.Key("mode");
  w.String(injection.options.native ? "native" : "legacy");
  w.Key("sidecar");
  w.String(kSidecarName.data(), static_cast<rapidjson::SizeType>(kSidecarName.size()));
  w.Key("volumes");
  w.StartArray();
  w.String(kRingsVolume.data(), static_cast<rapidjson::SizeType>(kRingsVolume.size()));
  w.String(kLogsVolume.data(), static_cast<rapidjson::SizeType>(kLogsVolume.size()));
  w.EndArray();
  w.Key("apps");
  w.StartArray();
  for (const std::string& app : injection.apps)
    w.String(app.c_str(), static_cast<rapidjson::SizeType>(app.size()));
  w.EndArray();
  w.EndObject();
  return buffer.GetString();
}

std::string rings_size_limit(const std::vector<std::uint64_t>& app_ring_bytes) {
  constexpr std::uint64_t kMi = 1ull << 20;
  std::uint64_t bytes = 0;
  for (std::uint64_t ring : app_ring_bytes) bytes += (ring + kMi) * 2;
  return std::to_string((bytes + kMi - 1) / kMi) + "Mi";
}

}  // namespace shmlog::inject
