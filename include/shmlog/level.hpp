// Log levels: their numeric values are stored in ring files (records, sites, min_level).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace shmlog {

enum class Level : std::uint8_t { trace = 0, debug = 1, info = 2, warning = 3, error = 4, critical = 5 };

inline constexpr int kLevelCount = 6;

// The names the JSON output uses.
constexpr std::string_view level_name(Level level) {
  constexpr std::string_view names[kLevelCount] = {"TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};
  auto i = static_cast<unsigned>(level);
  return i < kLevelCount ? names[i] : std::string_view{"UNKNOWN"};
}

// Accepts the output names in any case, plus the common aliases warn, err, fatal.
std::optional<Level> parse_level(std::string_view text);

}  // namespace shmlog
