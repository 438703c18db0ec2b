// What the tests need to check a webhook's answer as the API server would use it: the base64
// patch decoded, and its JSONPatch "add" operations applied to the pod by code written here from
// RFC 6902 / RFC 6901, independently of the engine's own apply_patch.
#pragma once

#include <string>
#include <string_view>

#include <rapidjson/document.h>

namespace shmlog::test {

// Standard padded base64 decoded; nullopt-like: `ok` false when `text` is not base64.
std::string base64_decode(std::string_view text, bool& ok);

// Applies every operation of `patch` (a JSON array of {"op":"add","path":...,"value":...}) to
// `doc`. Returns what is wrong (an op other than add, a path that does not resolve), empty when
// all applied.
std::string apply_json_patch(rapidjson::Document& doc, const rapidjson::Value& patch);

// Compact JSON text of a value, for messages and equality checks.
std::string json_text(const rapidjson::Value& v);

}  // namespace shmlog::test
