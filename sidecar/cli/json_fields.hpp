// The JSON the command-line tools print (`ring inspect --json`, `status --json`): fields whose
// strings come from ring files, which are not trusted to be UTF-8.
#pragma once

#include <shmlog/level.hpp>
#include <shmlog/reader.hpp>

#include <array>
#include <cstdint>
#include <string_view>

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

namespace shmlog::cli {

using JsonWriter = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

// A string value with invalid UTF-8 replaced (RapidJSON would pass bad bytes through).
void put_string(JsonWriter& w, std::string_view text);
void put_field(JsonWriter& w, const char* key, std::string_view value);
// "dropped": {"TRACE": n, ..., "CRITICAL": n}
void put_dropped(JsonWriter& w, const std::array<std::uint64_t, kLevelCount>& dropped);
// "pod", "namespace", "container", "host": those the ring has.
void put_identity(JsonWriter& w, const RingInfo& info);

}  // namespace shmlog::cli
