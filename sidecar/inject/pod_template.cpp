#include "inject/pod_template.hpp"

#include <array>

namespace shmlog::inject {
namespace {

constexpr std::array<PodKind, 7> kPodKinds = {{
    {"Pod", "v1", ""},
    {"Deployment", "apps/v1", "/spec/template"},
    {"StatefulSet", "apps/v1", "/spec/template"},
    {"DaemonSet", "apps/v1", "/spec/template"},
    {"ReplicaSet", "apps/v1", "/spec/template"},
    {"Job", "batch/v1", "/spec/template"},
    {"CronJob", "batch/v1", "/spec/jobTemplate/spec/template"},
}};

}  // namespace

const PodKind* find_pod_kind(std::string_view kind) {
  for (const PodKind& k : kPodKinds)
    if (k.kind == kind) return &k;
  return nullptr;
}

std::string not_injected_reason(std::string_view kind) {
  // Kinds that hold a pod template but are left alone: a ReplicationController is superseded by
  // Deployments, a PodTemplate is only a template for other tools.
  if (kind == "ReplicationController" || kind == "PodTemplate")
    return "kind " + std::string(kind) +
           " is not injected (only Pod, Deployment, StatefulSet, DaemonSet, "
           "ReplicaSet, Job and CronJob are)";
  return "kind " + std::string(kind) + " has no pod template";
}

std::string field_path(std::string_view pointer) {
  std::string path;
  for (std::size_t i = 0; i < pointer.size(); ++i) {
    if (pointer[i] == '/') {
      if (i > 0) path += '.';
    } else if (pointer[i] == '~' && i + 1 < pointer.size()) {
      path += pointer[i + 1] == '1' ? '/' : '~';
      ++i;
    } else {
      path += pointer[i];
    }
  }
  return path;
}

const rapidjson::Value* member(const rapidjson::Value& object, std::string_view key) {
  if (!object.IsObject()) return nullptr;
  auto it = object.FindMember(
      rapidjson::Value(rapidjson::StringRef(key.data(), static_cast<rapidjson::SizeType>(key.size()))));
  return it == object.MemberEnd() ? nullptr : &it->value;
}

Result<const rapidjson::Value*> map_at(const rapidjson::Value& root, std::string_view pointer) {
  const rapidjson::Value* at = &root;
  std::size_t start = 0;
  while (start < pointer.size()) {
    const std::size_t end = pointer.find('/', start + 1);
    const std::string_view step =
        pointer.substr(start + 1, end == std::string_view::npos ? std::string_view::npos : end - start - 1);
    const std::string_view so_far = pointer.substr(0, end);
    at = member(*at, step);
    if (at == nullptr) return Error{field_path(so_far) + " is missing"};
    if (!at->IsObject())
      return Error{field_path(so_far) + " is not a map (it is " + std::string(type_words(*at)) + ")"};
    if (end == std::string_view::npos) break;
    start = end;
  }
  return at;
}

std::string_view type_words(const rapidjson::Value& value) {
  switch (value.GetType()) {
    case rapidjson::kNullType:
      return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return "a boolean";
    case rapidjson::kObjectType:
      return "a map";
    case rapidjson::kArrayType:
      return "a list";
    case rapidjson::kStringType:
      return "a string";
    case rapidjson::kNumberType:
      return "a number";
  }
  return "a value";
}

}  // namespace shmlog::inject
