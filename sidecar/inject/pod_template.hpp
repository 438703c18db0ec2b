// Where each kind keeps its pod, and which apiVersions of it are known. A Deployment's pod is at
// spec.template, a CronJob's at spec.jobTemplate.spec.template, a Pod is its own.
#pragma once

#include <shmlog/result.hpp>

#include <string>
#include <string_view>

#include <rapidjson/document.h>

namespace shmlog::inject {

struct PodKind {
  std::string_view kind;
  std::string_view api_version;       // the one known; any other is an error
  std::string_view template_pointer;  // JSON Pointer of the pod template ("" for a Pod)
};

// The kinds that are injected; nullptr for any other.
const PodKind* find_pod_kind(std::string_view kind);

// Why an object of `kind` (not one of the above) passes through unchanged.
std::string not_injected_reason(std::string_view kind);

// A JSON Pointer as the dotted field path users see in messages ("spec.template.spec"); a
// pointer's "~1" is shown as "/".
std::string field_path(std::string_view pointer);

// The member `key` of `object` if it is there (nullptr if not).
const rapidjson::Value* member(const rapidjson::Value& object, std::string_view key);

// The value at `pointer` below `root` when every step is there and a map; an error naming the
// first step that is missing or is not a map.
Result<const rapidjson::Value*> map_at(const rapidjson::Value& root, std::string_view pointer);

// The JSON type in words, for messages ("a list", "a string").
std::string_view type_words(const rapidjson::Value& value);

}  // namespace shmlog::inject
