#include "cli/json_fields.hpp"

#include <shmlog/json_line.hpp>

#include <string>
#include <utility>

namespace shmlog::cli {

void put_string(JsonWriter& w, std::string_view text) {
  std::string valid;
  if (!sanitize_utf8(text, valid)) valid.assign(text);
  w.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
}

void put_field(JsonWriter& w, const char* key, std::string_view value) {
  w.Key(key);
  put_string(w, value);
}

void put_dropped(JsonWriter& w, const std::array<std::uint64_t, kLevelCount>& dropped) {
  w.Key("dropped");
  w.StartObject();
  for (int level = 0; level < kLevelCount; ++level) {
    const auto name = level_name(static_cast<Level>(level));
    w.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
    w.Uint64(dropped[static_cast<std::size_t>(level)]);
  }
  w.EndObject();
}

void put_identity(JsonWriter& w, const RingInfo& info) {
  const std::pair<const char*, const std::string*> identity[] = {{"pod", &info.pod},
                                                                 {"namespace", &info.pod_namespace},
                                                                 {"container", &info.container},
                                                                 {"host", &info.host}};
  for (const auto& [key, value] : identity)
    if (!value->empty()) put_field(w, key, *value);
}

}  // namespace shmlog::cli
