#include <shmlog/level.hpp>

#include <algorithm>
#include <cctype>
#include <string>

namespace shmlog {

std::optional<Level> parse_level(std::string_view text) {
  std::string t(text);
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::toupper(c); });
  for (int i = 0; i < kLevelCount; ++i)
    if (t == level_name(static_cast<Level>(i))) return static_cast<Level>(i);
  if (t == "WARN") return Level::warning;
  if (t == "ERR") return Level::error;
  if (t == "FATAL") return Level::critical;
  return std::nullopt;
}

}  // namespace shmlog
