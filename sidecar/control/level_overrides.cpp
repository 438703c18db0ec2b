#include "control/level_overrides.hpp"

#include "util/atomic_file.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace shmlog::sidecar {
namespace {

std::string to_json(const std::map<std::string, Level>& levels, const std::map<std::string, Level>& own) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  auto map = [&](const char* key, const std::map<std::string, Level>& m) {
    w.Key(key);
    w.StartObject();
    for (const auto& [name, level] : m) {
      w.Key(name.c_str(), static_cast<rapidjson::SizeType>(name.size()));
      const auto text = level_name(level);
      w.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
    }
    w.EndObject();
  };
  w.StartObject();
  w.Key("version");
  w.Uint(1);
  map("levels", levels);
  map("own_levels", own);
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

}  // namespace

std::unique_ptr<LevelOverrides> LevelOverrides::empty(std::string path) {
  return std::unique_ptr<LevelOverrides>(new LevelOverrides(std::move(path)));
}

Result<std::unique_ptr<LevelOverrides>> LevelOverrides::load(std::string path) {
  auto o = empty(path);
  auto read = read_whole_file(path);
  if (!read) return Error{"the level overrides file: " + read.error().message};
  if (!read.value()) return o;
  const std::string& text = *read.value();
  auto bad = [&](const std::string& why) {
    return Error{"the level overrides file " + path + " is not valid (" + why + ")"};
  };
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  if (doc.HasParseError() || !doc.IsObject()) return bad("not a JSON object");
  if (!doc.HasMember("levels") || !doc["levels"].IsObject()) return bad("no \"levels\" object");
  auto read_map = [&](const char* key, std::map<std::string, Level>& into) -> Status {
    if (!doc.HasMember(key)) return Ok{};
    const auto& m = doc[key];
    if (!m.IsObject()) return bad(std::string("\"") + key + "\" is not an object");
    // By index: clang 14 in C++20 finds RapidJSON's member iterator comparison ambiguous.
    for (rapidjson::SizeType i = 0; i < m.MemberCount(); ++i) {
      const auto& e = *(m.MemberBegin() + i);
      const std::string name(e.name.GetString(), e.name.GetStringLength());
      if (!e.value.IsString()) return bad("the level of " + name + " is not a string");
      const auto level = parse_level(std::string_view(e.value.GetString(), e.value.GetStringLength()));
      if (!level) return bad("unknown level for " + name);
      into[name] = *level;
    }
    return Ok{};
  };
  if (auto st = read_map("levels", o->levels_); !st) return st.error();
  if (auto st = read_map("own_levels", o->own_); !st) return st.error();
  return o;
}

Status LevelOverrides::set(const std::string& service, std::optional<Level> level) {
  std::lock_guard lock(mu_);
  auto next = levels_;
  if (level)
    next[service] = *level;
  else
    next.erase(service);
  if (next == levels_) return Ok{};
  if (auto st = save_locked(std::move(next), own_); !st) return st;
  generation_.fetch_add(1, std::memory_order_acq_rel);
  return Ok{};
}

std::optional<Level> LevelOverrides::for_service(const std::string& service) const {
  std::lock_guard lock(mu_);
  if (auto it = levels_.find(service); it != levels_.end()) return it->second;
  if (auto it = levels_.find(std::string(kEveryService)); it != levels_.end()) return it->second;
  return std::nullopt;
}

// The file first, then memory: a save that fails changes nothing.
Status LevelOverrides::save_locked(std::map<std::string, Level> levels, std::map<std::string, Level> own) {
  if (auto st = replace_file(path_, to_json(levels, own)); !st) return st;
  levels_ = std::move(levels);
  own_ = std::move(own);
  return Ok{};
}

std::optional<Level> LevelOverrides::own_level(const std::string& ring) const {
  std::lock_guard lock(mu_);
  if (auto it = own_.find(ring); it != own_.end()) return it->second;
  return std::nullopt;
}

Status LevelOverrides::remember_own_level(const std::string& ring, Level level) {
  std::lock_guard lock(mu_);
  if (auto it = own_.find(ring); it != own_.end() && it->second == level) return Ok{};
  auto next = own_;
  next[ring] = level;
  return save_locked(levels_, std::move(next));
}

Status LevelOverrides::forget_own_level(const std::string& ring) {
  std::lock_guard lock(mu_);
  if (!own_.contains(ring)) return Ok{};
  auto next = own_;
  next.erase(ring);
  return save_locked(levels_, std::move(next));
}

std::map<std::string, Level> LevelOverrides::all() const {
  std::lock_guard lock(mu_);
  return levels_;
}

}  // namespace shmlog::sidecar
