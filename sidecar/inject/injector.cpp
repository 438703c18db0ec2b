// plan_injection: the checks (what may be injected, and how each workload asks for it) and the
// operations, each valid on the unmodified object in order, so the same list works as the
// webhook's JSONPatch and as what `inject` applies.
#include "inject/injector.hpp"

#include "inject/pod_template.hpp"
#include "inject/sidecar_spec.hpp"
#include "inject/values.hpp"
#include "settings/setting_rows.hpp"

#include <algorithm>
#include <functional>
#include <optional>
#include <utility>

namespace shmlog::inject {
namespace {

using rapidjson::Value;

std::string text_of(const Value& v) {
  return {v.GetString(), v.GetStringLength()};
}

// "~" -> "~0", "/" -> "~1" (RFC 6901), for annotation keys in a path.
std::string pointer_escape(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

// The annotations map below `metadata` (absent: nullptr); an error when it is not a map of strings.
Result<const Value*> annotations_of(const Value* metadata, const std::string& metadata_path) {
  if (metadata == nullptr) return static_cast<const Value*>(nullptr);
  if (!metadata->IsObject())
    return Error{metadata_path + " is not a map (it is " + std::string(type_words(*metadata)) + ")"};
  const Value* annotations = member(*metadata, "annotations");
  if (annotations == nullptr || annotations->IsNull()) return static_cast<const Value*>(nullptr);
  if (!annotations->IsObject())
    return Error{metadata_path + ".annotations is not a map (it is " + std::string(type_words(*annotations)) +
                 ")"};
  return annotations;
}

// One annotation's value; an error when it is there but not a string (Kubernetes would refuse
// the object anyway, and an unquoted `false` is the usual cause).
Result<std::optional<std::string>> annotation(const Value* annotations, std::string_view key) {
  if (annotations == nullptr) return std::optional<std::string>{};
  const Value* v = member(*annotations, key);
  if (v == nullptr) return std::optional<std::string>{};
  if (!v->IsString())
    return Error{"annotation " + std::string(key) + " is " + std::string(type_words(*v)) +
                 ", not a string (annotation values are strings: quote it)"};
  return std::optional<std::string>{text_of(*v)};
}

// shmlog.io/inject: "false" opts out; "true" is the default said out loud.
Result<bool> opted_out(const Value* annotations) {
  auto value = annotation(annotations, kAnnotationInject);
  if (!value) return value.error();
  if (!*value || **value == "true") return false;
  if (**value == "false") return true;
  return Error{"annotation " + std::string(kAnnotationInject) + ": \"" + **value +
               "\" is not \"true\" or \"false\""};
}

// The options with the workload's override annotations applied; an error names the annotation.
Status apply_overrides(const Value* annotations, InjectOptions& o) {
  struct Override {
    std::string_view key;
    std::string* field;
    Status (*check)(std::string_view);
    bool may_be_empty;  // for settings whose default is "none"
  };
  const Override overrides[] = {
      {kAnnotationImage, &o.image, check_image, false},
      {kAnnotationCpuRequest, &o.cpu_request, check_quantity, false},
      {kAnnotationMemoryRequest, &o.memory_request, check_quantity, false},
      {kAnnotationMemoryLimit, &o.memory_limit, check_quantity, false},
      {kAnnotationCpuLimit, &o.cpu_limit, check_quantity, true},
      {kAnnotationLokiUrl, &o.loki_url, check_url, true},
      {kAnnotationRingBytes, &o.ring_bytes,
       [](std::string_view t) -> Status {
         auto bytes = check_ring_bytes(t);
         if (!bytes) return bytes.error();
         return Ok{};
       },
       false},
  };
  for (const Override& ov : overrides) {
    auto value = annotation(annotations, ov.key);
    if (!value) return value.error();
    if (!*value) continue;
    if (!(ov.may_be_empty && (*value)->empty()))
      if (auto ok = ov.check(**value); !ok)
        return Error{"annotation " + std::string(ov.key) + ": " + ok.error().message};
    *ov.field = **value;
  }
  // Kubernetes refuses a pod whose request is above its limit; through the webhook that would
  // refuse the user's pod, so it is caught here with the names to fix.
  const struct {
    const std::string& request;
    const std::string& limit;
    const char* what;
    std::string_view request_key, limit_key;
  } pairs[] = {{o.memory_request, o.memory_limit, "memory", kAnnotationMemoryRequest, kAnnotationMemoryLimit},
               {o.cpu_request, o.cpu_limit, "cpu", kAnnotationCpuRequest, kAnnotationCpuLimit}};
  for (const auto& p : pairs)
    if (!p.request.empty() && !p.limit.empty() && check_quantity(p.request) && check_quantity(p.limit) &&
        quantity_value(p.request) > quantity_value(p.limit))
      return Error{std::string("the sidecar's ") + p.what + " request " + p.request +
                   " is more than its limit " + p.limit + " (" + std::string(p.request_key) + ", " +
                   std::string(p.limit_key) + ", or the flags)"};
  auto mode = annotation(annotations, kAnnotationMode);
  if (!mode) return mode.error();
  if (*mode) {
    auto native = parse_mode_native(**mode);
    if (!native) return Error{"annotation " + std::string(kAnnotationMode) + ": " + native.error().message};
    o.native = *native;
  }
  return Ok{};
}

// A list field of the pod spec: absent (nullptr), or a list of maps each with a string name.
Result<const Value*> named_list(const Value& spec, std::string_view field, const std::string& spec_path) {
  const Value* list = member(spec, field);
  const std::string path = spec_path + "." + std::string(field);
  if (list == nullptr || list->IsNull()) return static_cast<const Value*>(nullptr);
  if (!list->IsArray()) return Error{path + " is not a list (it is " + std::string(type_words(*list)) + ")"};
  for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
    const Value& item = (*list)[i];
    const std::string at = path + "[" + std::to_string(i) + "]";
    if (!item.IsObject()) return Error{at + " is not a map (it is " + std::string(type_words(item)) + ")"};
    const Value* name = member(item, "name");
    if (name == nullptr || !name->IsString()) return Error{at + " has no name"};
  }
  return list;
}

bool has_named(const Value* list, std::string_view name) {
  if (list == nullptr) return false;
  for (const Value& item : list->GetArray())
    if (text_of(*member(item, "name")) == name) return true;
  return false;
}

PatchOp op(std::string path, Value&& value, rapidjson::Document&& owner) {
  PatchOp p{std::move(path), std::move(owner)};
  static_cast<Value&>(p.value).Swap(value);
  return p;
}

// Builds one op whose value `make` allocates in the op's own document.
template <typename Make>
PatchOp make_op(std::string path, Make make) {
  rapidjson::Document doc;
  Value v = make(doc.GetAllocator());
  return op(std::move(path), std::move(v), std::move(doc));
}

// The ops that add `items` to the list at `pointer` of the unmodified object: the whole list when
// it is missing, else one append each.
void add_to_list(std::vector<PatchOp>& ops, const std::string& pointer, bool exists,
                 const std::vector<std::function<Value(Allocator&)>>& items) {
  if (items.empty()) return;
  if (!exists) {
    ops.push_back(make_op(pointer, [&](Allocator& a) {
      Value list(rapidjson::kArrayType);
      for (const auto& make : items) list.PushBack(make(a), a);
      return list;
    }));
    return;
  }
  for (const auto& make : items) ops.push_back(make_op(pointer + "/-", make));
}

class Planner {
 public:
  Planner(const Value& object, const InjectOptions& options) : object_(object), options_(options) {}

  Plan run() {
    if (!object_.IsObject())
      return error("not a Kubernetes object (it is " + std::string(type_words(object_)) + ")");
    const Value* kind = member(object_, "kind");
    if (kind == nullptr || !kind->IsString() || kind->GetStringLength() == 0)
      return error("not a Kubernetes object (no kind)");
    plan_.kind = text_of(*kind);
    plan_.name = object_name();
    if (auto s = check(); !s) return error(s.error().message);
    return std::move(plan_);
  }

 private:
  std::string object_name() const {
    const Value* metadata = member(object_, "metadata");
    const Value* name = metadata != nullptr ? member(*metadata, "name") : nullptr;
    if (name != nullptr && name->IsString()) return text_of(*name);
    const Value* generate = metadata != nullptr ? member(*metadata, "generateName") : nullptr;
    if (generate != nullptr && generate->IsString()) return text_of(*generate) + "*";
    return "(no name)";
  }

  Plan error(std::string why) {
    plan_.verdict = Plan::Verdict::error;
    plan_.reason = std::move(why);
    plan_.ops.clear();
    return std::move(plan_);
  }

  Status skip(std::string why) {
    plan_.verdict = Plan::Verdict::skip;
    plan_.reason = std::move(why);
    return Ok{};
  }

  // Everything that decides the verdict, in the order a user would fix things.
  Status check() {
    const PodKind* kind = find_pod_kind(plan_.kind);
    if (kind == nullptr) return skip(not_injected_reason(plan_.kind));
    const Value* api = member(object_, "apiVersion");
    const std::string api_version = api != nullptr && api->IsString() ? text_of(*api) : std::string{};
    if (api_version != kind->api_version)
      return Error{
          (api_version.empty() ? std::string("no apiVersion") : "unknown apiVersion " + api_version) +
          " for " + plan_.kind + "; known: " + std::string(kind->api_version)};

    // Opting out on the object itself is honoured before anything else is looked at.
    auto object_annotations = annotations_of(member(object_, "metadata"), "metadata");
    if (!object_annotations) return object_annotations.error();
    auto out = opted_out(*object_annotations);
    if (!out) return out.error();
    if (*out) return skip("opted out (" + std::string(kAnnotationInject) + ": \"false\")");

    pod_ = kind->template_pointer;
    prefix_ = pod_.empty() ? std::string{} : field_path(pod_) + ".";
    auto pod = map_at(object_, pod_);
    if (!pod) return pod.error();
    auto annotations = annotations_of(member(**pod, "metadata"), prefix_ + "metadata");
    if (!annotations) return annotations.error();
    out = opted_out(*annotations);
    if (!out) return out.error();
    if (*out) return skip("opted out (" + std::string(kAnnotationInject) + ": \"false\")");
    auto status = annotation(*annotations, kAnnotationStatus);
    if (!status) return status.error();
    if (*status) return skip("already injected");

    auto spec = map_at(object_, pod_ + "/spec");
    if (!spec) return spec.error();
    return plan_pod(**pod, **spec, *annotations);
  }

  Status plan_pod(const Value& pod, const Value& spec, const Value* annotations) {
    const std::string spec_path = prefix_ + "spec";
    if (const Value* host = member(spec, "hostNetwork"); host != nullptr && host->IsBool() && host->GetBool())
      return Error{spec_path +
                   ".hostNetwork is true: the sidecar's 127.0.0.1:9880 would be the node's port, "
                   "shared by every such pod (opt out with " +
                   std::string(kAnnotationInject) + ": \"false\")"};
    auto containers = named_list(spec, "containers", spec_path);
    if (!containers) return containers.error();
    if (*containers == nullptr || (*containers)->Empty())
      return Error{"no containers (" + spec_path + ".containers)"};
    auto init_containers = named_list(spec, "initContainers", spec_path);
    if (!init_containers) return init_containers.error();
    auto volumes = named_list(spec, "volumes", spec_path);
    if (!volumes) return volumes.error();

    // A name of ours without the status annotation: injected by hand, or by something else that
    // happens to use the name. Either way adding ours would make a pod Kubernetes refuses.
    for (const Value* list : {*containers, *init_containers})
      if (has_named(list, kSidecarName))
        return Error{"a container named " + std::string(kSidecarName) + " is already there, without the " +
                     std::string(kAnnotationStatus) + " annotation (rename it, or opt out)"};
    for (std::string_view volume : {kRingsVolume, kLogsVolume})
      if (has_named(*volumes, volume))
        return Error{"a volume named " + std::string(volume) + " is already there, without the " +
                     std::string(kAnnotationStatus) + " annotation (rename it, or opt out)"};

    Injection injection;
    injection.options = options_;
    if (auto s = apply_overrides(annotations, injection.options); !s) return s;
    if (injection.options.image.empty()) injection.options.image = "shmlog:" SHMLOG_VERSION;
    auto ring = check_ring_bytes(injection.options.ring_bytes);
    if (!ring) return Error{"ring size: " + ring.error().message};
    injection.ring_bytes = *ring;
    if (auto s = choose_apps(**containers, annotations, injection.apps); !s) return s;
    injection.exit_with_apps = !injection.options.native && exits_when_done(spec);
    for (const Value& c : (*containers)->GetArray())
      if (std::find(injection.apps.begin(), injection.apps.end(), text_of(*member(c, "name"))) !=
          injection.apps.end())
        injection.app_ring_bytes.push_back(own_ring_bytes(c).value_or(injection.ring_bytes));

    plan_.verdict = Plan::Verdict::inject;
    plan_.mode = injection.options.native ? "native" : "legacy";
    plan_.apps = injection.apps;
    return add_ops(pod, spec, **containers, *init_containers != nullptr, *volumes != nullptr, injection);
  }

  // The ring size an app container sets itself (SHMLOG_RING_BYTES, kept as it is), so the volume
  // is sized for the rings the apps really make.
  static std::optional<std::uint64_t> own_ring_bytes(const Value& container) {
    const Value* env = member(container, "env");
    if (env == nullptr || !env->IsArray()) return std::nullopt;
    for (const Value& e : env->GetArray()) {
      const Value* n = member(e, "name");
      const Value* v = member(e, "value");
      if (n != nullptr && n->IsString() && text_of(*n) == "SHMLOG_RING_BYTES" && v != nullptr &&
          v->IsString())
        if (auto bytes = check_ring_bytes(text_of(*v))) return *bytes;
    }
    return std::nullopt;
  }

  // A pod whose containers are meant to finish: a Job's (or CronJob's), or any pod that is not
  // restarted. Its legacy sidecar must exit by itself.
  bool exits_when_done(const Value& spec) const {
    if (plan_.kind == "Job" || plan_.kind == "CronJob") return true;
    const Value* restart = member(spec, "restartPolicy");
    return restart != nullptr && restart->IsString() && text_of(*restart) != "Always";
  }

  Status choose_apps(const Value& containers, const Value* annotations,
                     std::vector<std::string>& apps) const {
    auto chosen = annotation(annotations, kAnnotationContainers);
    if (!chosen) return chosen.error();
    std::vector<std::string> all;
    for (const Value& c : containers.GetArray()) all.push_back(text_of(*member(c, "name")));
    if (!*chosen) {
      apps = all;
      return Ok{};
    }
    const auto names = sidecar::split_list(**chosen);
    if (names.empty())
      return Error{"annotation " + std::string(kAnnotationContainers) + " names no container"};
    for (const std::string& name : names)
      if (std::find(all.begin(), all.end(), name) == all.end()) {
        std::string known;
        for (const auto& n : all) known += (known.empty() ? "" : ", ") + n;
        return Error{"annotation " + std::string(kAnnotationContainers) + ": no container named \"" + name +
                     "\" (containers: " + known + ")"};
      }
    for (const std::string& name : all)  // the pod's order, whatever the annotation's
      if (std::find(names.begin(), names.end(), name) != names.end()) apps.push_back(name);
    return Ok{};
  }

  Status add_ops(const Value& pod, const Value& spec, const Value& containers, bool has_init,
                 bool has_volumes, const Injection& injection) {
    std::vector<PatchOp>& ops = plan_.ops;
    const std::string spec_ptr = pod_ + "/spec";

    // The rings are 0660: the sidecar (user 65532) reads them through the pod's fsGroup, which
    // every container gets as a supplementary group. A pod that sets one keeps it. With the group
    // comes OnRootMismatch, unless the pod says otherwise: without it the kubelet would walk every
    // file of the pod's persistent volumes to change their group at each mount.
    const Value* security = member(spec, "securityContext");
    if (security != nullptr && !security->IsNull() && !security->IsObject())
      return Error{prefix_ + "spec.securityContext is not a map (it is " +
                   std::string(type_words(*security)) + ")"};
    const auto change_policy = [](Allocator& a) { return Value("OnRootMismatch", a); };
    if (security == nullptr || security->IsNull()) {
      ops.push_back(make_op(spec_ptr + "/securityContext", [&](Allocator& a) {
        Value v(rapidjson::kObjectType);
        v.AddMember("fsGroup", Value(kSidecarId), a);
        v.AddMember("fsGroupChangePolicy", change_policy(a), a);
        return v;
      }));
    } else if (member(*security, "fsGroup") == nullptr) {
      ops.push_back(
          make_op(spec_ptr + "/securityContext/fsGroup", [](Allocator&) { return Value(kSidecarId); }));
      if (member(*security, "fsGroupChangePolicy") == nullptr)
        ops.push_back(make_op(spec_ptr + "/securityContext/fsGroupChangePolicy", change_policy));
    }

    // Room for the last drain when the pod stops. Kubernetes' default of 30 s is shared by the
    // apps' shutdown and the sidecar's: an app that takes most of it leaves the sidecar (stopped
    // after the apps, or by its preStop in legacy mode) too little for its --shutdown-deadline
    // (20 s), and what it has not written is lost with the emptyDir. A pod that sets its own
    // period keeps it: that is the owner's choice.
    if (member(spec, "terminationGracePeriodSeconds") == nullptr) {
      const int grace = injection.options.native ? kNativeGraceSeconds : kLegacyGraceSeconds;
      ops.push_back(
          make_op(spec_ptr + "/terminationGracePeriodSeconds", [grace](Allocator&) { return Value(grace); }));
    }

    add_to_list(ops, spec_ptr + "/volumes", has_volumes,
                {[&](Allocator& a) { return rings_volume(injection, a); },
                 [](Allocator& a) { return logs_volume(a); }});

    for (rapidjson::SizeType i = 0; i < containers.Size(); ++i) {
      const Value& c = containers[i];
      const std::string name = text_of(*member(c, "name"));
      if (std::find(injection.apps.begin(), injection.apps.end(), name) == injection.apps.end()) continue;
      if (auto s = add_app_ops(c, spec_ptr + "/containers/" + std::to_string(i),
                               prefix_ + "spec.containers[" + std::to_string(i) + "]", injection);
          !s)
        return s;
    }

    if (injection.options.native) {
      // First, so it is up before any other init container that might already log.
      if (has_init)
        ops.push_back(make_op(spec_ptr + "/initContainers/0",
                              [&](Allocator& a) { return sidecar_container(injection, a); }));
      else
        add_to_list(ops, spec_ptr + "/initContainers", false,
                    {[&](Allocator& a) { return sidecar_container(injection, a); }});
    } else {
      ops.push_back(
          make_op(spec_ptr + "/containers/-", [&](Allocator& a) { return sidecar_container(injection, a); }));
    }

    const std::string status = status_annotation(injection);
    const std::string metadata_ptr = pod_ + "/metadata";
    const Value* metadata = member(pod, "metadata");
    const Value* annotations = metadata != nullptr ? member(*metadata, "annotations") : nullptr;
    const auto status_value = [&](Allocator& a) {
      return Value(status.c_str(), static_cast<rapidjson::SizeType>(status.size()), a);
    };
    if (metadata == nullptr || metadata->IsNull()) {
      ops.push_back(make_op(metadata_ptr, [&](Allocator& a) {
        Value m(rapidjson::kObjectType), an(rapidjson::kObjectType);
        an.AddMember(
            Value(kAnnotationStatus.data(), static_cast<rapidjson::SizeType>(kAnnotationStatus.size()), a),
            status_value(a), a);
        m.AddMember("annotations", an, a);
        return m;
      }));
    } else if (annotations == nullptr || annotations->IsNull()) {
      ops.push_back(make_op(metadata_ptr + "/annotations", [&](Allocator& a) {
        Value an(rapidjson::kObjectType);
        an.AddMember(
            Value(kAnnotationStatus.data(), static_cast<rapidjson::SizeType>(kAnnotationStatus.size()), a),
            status_value(a), a);
        return an;
      }));
    } else {
      ops.push_back(
          make_op(metadata_ptr + "/annotations/" + pointer_escape(kAnnotationStatus), status_value));
    }
    return Ok{};
  }

  // The mount and the variables of one app container; what it already sets is left alone.
  Status add_app_ops(const Value& container, const std::string& ptr, const std::string& path,
                     const Injection& injection) {
    const std::string name = text_of(*member(container, "name"));
    const Value* env = member(container, "env");
    if (env != nullptr && !env->IsNull() && !env->IsArray())
      return Error{path + ".env is not a list (it is " + std::string(type_words(*env)) + ")"};
    std::vector<std::string> set;
    if (env != nullptr && env->IsArray())
      for (const Value& e : env->GetArray()) {
        const Value* n = e.IsObject() ? member(e, "name") : nullptr;
        if (n == nullptr || !n->IsString()) return Error{path + ".env has an entry without a name"};
        set.push_back(text_of(*n));
      }
    // Each variable made in its op's own document: the items are built again per op.
    std::vector<std::function<Value(Allocator&)>> items;
    rapidjson::Document probe;
    const auto vars = app_env(injection, name, probe.GetAllocator());
    for (std::size_t k = 0; k < vars.size(); ++k) {
      const std::string var = text_of(vars[k]["name"]);
      if (std::find(set.begin(), set.end(), var) != set.end()) continue;
      items.push_back(
          [&injection, name, k](Allocator& a) { return std::move(app_env(injection, name, a)[k]); });
    }
    add_to_list(plan_.ops, ptr + "/env", env != nullptr && !env->IsNull(), items);
    const Value* mounts = member(container, "volumeMounts");
    if (mounts != nullptr && !mounts->IsNull()) {
      if (!mounts->IsArray())
        return Error{path + ".volumeMounts is not a list (it is " + std::string(type_words(*mounts)) + ")"};
      for (const Value& m : mounts->GetArray()) {
        const Value* at = m.IsObject() ? member(m, "mountPath") : nullptr;
        if (at != nullptr && at->IsString() && text_of(*at) == kRingsPath)
          return Error{"container " + name + " already mounts something at " + std::string(kRingsPath)};
      }
    }
    add_to_list(plan_.ops, ptr + "/volumeMounts", mounts != nullptr && !mounts->IsNull(),
                {[](Allocator& a) { return rings_mount(a); }});

    return Ok{};
  }

  const Value& object_;
  const InjectOptions& options_;
  Plan plan_;
  std::string pod_;     // JSON Pointer of the pod template
  std::string prefix_;  // its dotted path plus "." ("" for a Pod)
};

}  // namespace

Plan plan_injection(const rapidjson::Value& object, const InjectOptions& options) {
  return Planner(object, options).run();
}

}  // namespace shmlog::inject
