#include "producer/site_registry.hpp"

#include "producer/open_ring.hpp"
#include "producer/stderr_write.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>

namespace shmlog::detail {

SiteRegistry& SiteRegistry::instance() {
  // Never destroyed: threads may still log while static destructors run.
  static auto* registry = new SiteRegistry();
  return *registry;
}

std::uint32_t SiteRegistry::site_id(const SiteKey& key) {
  std::string_view format(key.format, key.format_len);
  std::string content;
  content.reserve(format.size() + 128);
  content.append(key.file).push_back('\0');
  content.append(key.function).push_back('\0');
  content.append(format).push_back('\0');
  content.append(key.signature).push_back('\0');
  content.append(std::to_string(key.line)).push_back(static_cast<char>('0' + static_cast<int>(key.level)));
  std::lock_guard lock(mu_);
  if (auto it = site_index_.find(content); it != site_index_.end()) return it->second;
  if (sites_.size() >= 0xFFFFFFF0u) return 0;
  SiteInfo s;
  s.id = static_cast<std::uint32_t>(sites_.size() + 1);
  s.line = key.line;
  s.level = key.level;
  s.file = std::string(key.file).substr(0, 4096);
  s.function = std::string(key.function).substr(0, 4096);
  s.format = std::string(format.substr(0, 65536));
  s.arg_types = key.signature;
  sites_.push_back(std::move(s));
  site_index_.emplace(std::move(content), sites_.back().id);
  append_site(sites_.back());
  return sites_.back().id;
}

std::uint16_t SiteRegistry::logger_id(std::string_view name) {
  if (name.empty()) return 0;
  std::string key(name.substr(0, 255));
  std::lock_guard lock(mu_);
  if (auto it = logger_index_.find(key); it != logger_index_.end()) return it->second;
  if (loggers_.size() >= 0xFFFE) return 0;  // beyond 65534 names: the default logger
  auto id = static_cast<std::uint16_t>(loggers_.size() + 1);
  loggers_.push_back(key);
  logger_index_.emplace(key, id);
  append_logger(id, loggers_.back());
  return id;
}

void SiteRegistry::attach(OpenRing* ring) {
  std::lock_guard lock(mu_);
  ring_ = ring;
  warned_full_ = false;
  if (ring_ == nullptr) return;
  for (std::size_t i = 0; i < loggers_.size(); ++i)
    append_logger(static_cast<std::uint16_t>(i + 1), loggers_[i]);
  for (const auto& s : sites_) append_site(s);
}

void SiteRegistry::reset_after_fork() {
  new (&mu_) std::mutex();
}

const SiteInfo* SiteRegistry::site(std::uint32_t id) {
  std::lock_guard lock(mu_);
  return id >= 1 && id <= sites_.size() ? &sites_[id - 1] : nullptr;
}

const std::string* SiteRegistry::logger(std::uint16_t id) {
  std::lock_guard lock(mu_);
  return id >= 1 && id <= loggers_.size() ? &loggers_[id - 1] : nullptr;
}

void SiteRegistry::append_site(const SiteInfo& s) {
  ring::SiteEntry e{};
  e.id = s.id;
  e.line = s.line;
  e.level = static_cast<std::uint8_t>(s.level);
  e.arg_count = static_cast<std::uint8_t>(s.arg_types.size());
  e.file_len = static_cast<std::uint16_t>(s.file.size());
  e.function_len = static_cast<std::uint16_t>(s.function.size());
  e.format_len = static_cast<std::uint32_t>(s.format.size());
  append_entry(&e, ring::kSiteEntryBytes, {s.file, s.function, s.format, s.arg_types}, ring::EntryKind::site);
}

void SiteRegistry::append_logger(std::uint16_t id, const std::string& name) {
  ring::LoggerEntry e{};
  e.id = id;
  e.name_len = static_cast<std::uint16_t>(name.size());
  append_entry(&e, ring::kLoggerEntryBytes, {name}, ring::EntryKind::logger);
}

// Appends one entry to the ring's registry: fixed part and strings first, then the commit
// word with release, then sites_used. The area past sites_used is still zero, so a reader that
// scans by commit words stops at the first unwritten entry.
bool SiteRegistry::append_entry(const void* fixed, std::uint32_t fixed_bytes,
                                std::initializer_list<std::string_view> strings, ring::EntryKind kind) {
  if (ring_ == nullptr) return false;
  std::uint64_t bytes = fixed_bytes;
  for (auto s : strings) bytes += s.size();
  const std::uint32_t length = ring::align_record(bytes);
  auto& used = ring_->header->sites_used;
  const std::uint64_t at = used.load(std::memory_order_relaxed);
  // Keep 8 bytes after the entry: the zero commit word that ends the registry.
  if (at + length + ring::kRecordAlign > ring_->layout.sites_bytes) {
    ring_->header->sites_dropped.fetch_add(1, std::memory_order_relaxed);
    if (!warned_full_) {
      warned_full_ = true;
      notice(
          "the call-site registry of %s is full (%llu bytes); records of new call sites will show as unknown "
          "sites. Raise Config::sites_bytes.",
          ring_->path.c_str(), static_cast<unsigned long long>(ring_->layout.sites_bytes));
    }
    return false;
  }
  std::byte* p = ring_->sites + at;
  std::memcpy(p + 8, static_cast<const std::byte*>(fixed) + 8, fixed_bytes - 8);
  std::byte* q = p + fixed_bytes;
  for (auto s : strings) {
    std::memcpy(q, s.data(), s.size());
    q += s.size();
  }
  reinterpret_cast<std::atomic<std::uint64_t>*>(p)->store(
      ring::make_commit(length, static_cast<ring::RecordKind>(kind), 0, 0), std::memory_order_release);
  used.store(at + length, std::memory_order_release);
  return true;
}

}  // namespace shmlog::detail
