// The process's registry of call sites and logger names. Ids are process-wide and stable, so a
// call site caches its id once; every ring the process opens receives every entry.
#pragma once

#include <shmlog/logger.hpp>
#include <shmlog/reader.hpp>

#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

namespace shmlog::detail {

struct OpenRing;

class SiteRegistry final : public SiteLookup {
 public:
  static SiteRegistry& instance();

  std::uint32_t site_id(const SiteKey& key);
  std::uint16_t logger_id(std::string_view name);
  // Makes `ring` receive registrations, starting with a copy of all known entries.
  void attach(OpenRing* ring);
  // In a forked child: the parent's threads may have held the lock at fork time.
  void reset_after_fork();

  const SiteInfo* site(std::uint32_t id) override;
  const std::string* logger(std::uint16_t id) override;

 private:
  void append_site(const SiteInfo& s);
  void append_logger(std::uint16_t id, const std::string& name);
  bool append_entry(const void* fixed, std::uint32_t fixed_bytes,
                    std::initializer_list<std::string_view> strings, ring::EntryKind kind);

  std::mutex mu_;
  std::unordered_map<std::string, std::uint32_t> site_index_;
  std::deque<SiteInfo> sites_;  // id - 1; a deque keeps addresses stable for SiteLookup
  std::unordered_map<std::string, std::uint16_t> logger_index_;
  std::deque<std::string> loggers_;  // id - 1
  OpenRing* ring_ = nullptr;
  bool warned_full_ = false;
};

}  // namespace shmlog::detail
