#include "sinks/loki/positions.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

namespace shmlog::sidecar::loki {
namespace {

std::string errno_text(int err) {
  return std::strerror(err);
}

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

Status write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error{"cannot write " + path + ": " + errno_text(errno)};
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return Ok{};
}

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
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
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    if (errno == ENOENT) return s;
    return Error{"cannot read the Loki positions file " + path + ": " + errno_text(errno)};
  }
  std::string text;
  char buf[8192];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
  std::fclose(f);
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

  const std::string tmp = path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return Error{"cannot create " + tmp + ": " + errno_text(errno)};
  Status written = write_all(fd, text, tmp);
  if (written && ::fsync(fd) != 0) written = Error{"cannot fsync " + tmp + ": " + errno_text(errno)};
  ::close(fd);
  if (!written) {
    ::unlink(tmp.c_str());
    return written;
  }
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Error{"cannot rename " + tmp + " to " + path_ + ": " + errno_text(err)};
  }
  // The rename is durable only once the directory is synced.
  if (const int dir = ::open(directory_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  dirty_ = false;
  return Ok{};
}

}  // namespace shmlog::sidecar::loki
