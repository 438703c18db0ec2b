#include "sinks/loki/positions.hpp"

#include "util/atomic_file.hpp"

#include <algorithm>
#include <cstdio>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace shmlog::sidecar::loki {
namespace {

std::string hex16(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::optional<std::uint64_t> parse_hex16(std::string_view s) {
  if (s.size() != 16) return std::nullopt;
  std::uint64_t v = 0;
  for (const char c : s) {
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= static_cast<std::uint64_t>(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= static_cast<std::uint64_t>(c - 'a' + 10);
    else
      return std::nullopt;
  }
  return v;
}

}  // namespace

std::uint64_t fingerprint_of(std::string_view first_line) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : first_line) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

PositionStore PositionStore::empty(std::string path) {
  PositionStore s;
  s.path_ = std::move(path);
  return s;
}

Result<PositionStore> PositionStore::load(std::string path) {
  PositionStore s = empty(path);
  auto read = read_whole_file(path);
  if (!read) return Error{"the Loki positions file: " + read.error().message};
  if (!read.value()) return s;  // none yet
  const std::string& text = *read.value();
  auto bad = [&](const std::string& why) {
    return Error{"the Loki positions file " + path + " is not valid (" + why + ")"};
  };
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  if (doc.HasParseError() || !doc.IsObject()) return bad("not a JSON object");
  // HasMember and operator[] rather than FindMember: clang 14 in C++20 finds RapidJSON's
  // iterator comparison ambiguous.
  if (!doc.HasMember("files") || !doc["files"].IsArray()) return bad("no \"files\" array");
  for (const auto& e : doc["files"].GetArray()) {
    if (!e.IsObject()) return bad("an entry is not an object");
    auto u64 = [&](const char* key) -> std::optional<std::uint64_t> {
      if (!e.HasMember(key) || !e[key].IsUint64()) return std::nullopt;
      return e[key].GetUint64();
    };
    const auto dev = u64("dev"), ino = u64("ino"), offset = u64("offset"), size = u64("size_seen");
    std::optional<std::uint64_t> fingerprint;
    if (e.HasMember("fingerprint") && e["fingerprint"].IsString())
      fingerprint =
          parse_hex16(std::string_view(e["fingerprint"].GetString(), e["fingerprint"].GetStringLength()));
    if (!dev || !ino || !offset || !size || !fingerprint)
      return bad("an entry lacks dev, ino, fingerprint, offset or size_seen");
    FilePosition p;
    p.id = {*dev, *ino, *fingerprint};
    p.offset = *offset;
    p.size_seen = *size;
    if (const auto m = e.FindMember("path"); m != e.MemberEnd() && m->value.IsString())
      p.path = m->value.GetString();
    s.entries_.push_back(std::move(p));
  }
  return s;
}

// The entry of this identity: the same inode and first line; failing that, the same first line
// under another inode. find() and put() both look up by it.
std::size_t PositionStore::index_of(const FileIdentity& id) const {
  for (std::size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].id.same_inode(id) && entries_[i].id.fingerprint == id.fingerprint) return i;
  for (std::size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].id.fingerprint == id.fingerprint) return i;
  return entries_.size();
}

const FilePosition* PositionStore::find(const FileIdentity& id) const {
  const std::size_t i = index_of(id);
  return i < entries_.size() ? &entries_[i] : nullptr;
}

void PositionStore::put(const FilePosition& p) {
  const std::size_t i = index_of(p.id);
  if (i == entries_.size()) {
    entries_.push_back(p);
    dirty_ = true;
    return;
  }
  FilePosition& e = entries_[i];
  if (e.id.same_inode(p.id) && e.id.fingerprint == p.id.fingerprint && e.offset == p.offset &&
      e.size_seen == p.size_seen && e.path == p.path)
    return;
  e = p;
  dirty_ = true;
}

void PositionStore::erase(const FileIdentity& id) {
  const auto before = entries_.size();
  std::erase_if(entries_, [&](const FilePosition& e) {
    return e.id.same_inode(id) && e.id.fingerprint == id.fingerprint;
  });
  dirty_ = dirty_ || entries_.size() != before;
}

Status PositionStore::save() {
  if (!dirty_) return Ok{};
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("version");
  w.Uint(1);
  w.Key("files");
  w.StartArray();
  for (const auto& e : entries_) {
    w.StartObject();
    w.Key("path");
    w.String(e.path.c_str(), static_cast<rapidjson::SizeType>(e.path.size()));
    w.Key("dev");
    w.Uint64(e.id.device);
    w.Key("ino");
    w.Uint64(e.id.inode);
    w.Key("fingerprint");
    const std::string fp = hex16(e.id.fingerprint);
    w.String(fp.c_str(), static_cast<rapidjson::SizeType>(fp.size()));
    w.Key("offset");
    w.Uint64(e.offset);
    w.Key("size_seen");
    w.Uint64(e.size_seen);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  std::string text(sb.GetString(), sb.GetSize());
  text += '\n';

  if (auto st = replace_file(path_, text); !st) return st;
  dirty_ = false;
  return Ok{};
}

}  // namespace shmlog::sidecar::loki
