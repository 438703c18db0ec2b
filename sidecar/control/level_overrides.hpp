// Minimum levels set at run time (PUT /api/level), per service or for every service ("*"),
// kept in a small file next to the logs so they survive a sidecar restart. The HTTP thread sets
// them; the drain thread writes them into the ring headers, looking at generation() between
// rounds, and into every ring it opens later.
#pragma once

#include <shmlog/level.hpp>
#include <shmlog/result.hpp>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace shmlog::sidecar {

class LevelOverrides {
 public:
  static constexpr std::string_view kEveryService = "*";

  // Reads `path` (a missing file: no overrides). A file that is not what set() writes is an
  // error naming it; the caller decides whether to start without it.
  static Result<std::unique_ptr<LevelOverrides>> load(std::string path);
  static std::unique_ptr<LevelOverrides> empty(std::string path);

  // Sets (a level) or clears (nullopt) the override of `service`, and saves the file; if the
  // save fails nothing changes and the error says why.
  Status set(const std::string& service, std::optional<Level> level);

  // The service's own override, else the one for every service.
  std::optional<Level> for_service(const std::string& service) const;
  std::map<std::string, Level> all() const;
  // The level a ring had before an override changed it (the app's own), by ring path, kept in
  // the same file: a restarted sidecar that finds a ring already overridden still knows what
  // to restore when the override is cleared. Set and forgotten by the drain thread.
  std::optional<Level> own_level(const std::string& ring) const;
  Status remember_own_level(const std::string& ring, Level level);
  Status forget_own_level(const std::string& ring);

  // Bumped by every set() that changed something.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  const std::string& path() const { return path_; }

 private:
  explicit LevelOverrides(std::string path) : path_(std::move(path)) {}
  std::string path_;
  mutable std::mutex mu_;
  std::map<std::string, Level> levels_;
  std::map<std::string, Level> own_;
  Status save_locked(std::map<std::string, Level> levels, std::map<std::string, Level> own);
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace shmlog::sidecar
