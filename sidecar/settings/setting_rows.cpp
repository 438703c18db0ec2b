#include "settings/setting_rows.hpp"

#include <shmlog/config.hpp>

namespace shmlog::sidecar {

Result<std::uint64_t> parse_count(std::string_view v, std::uint64_t lo, std::uint64_t hi) {
  if (v.empty() || v.size() > 12) return Error{""};
  std::uint64_t n = 0;
  for (const char c : v) {
    if (c < '0' || c > '9') return Error{""};
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (n < lo || n > hi) return Error{""};
  return n;
}

Result<std::chrono::milliseconds> parse_ms(std::string_view v, std::chrono::milliseconds lo,
                                           std::chrono::milliseconds hi) {
  const auto d = parse_duration(v);
  if (!d) return Error{""};
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
  if (ms < lo || ms > hi) return Error{""};
  return ms;
}

Result<bool> parse_bool(std::string_view v) {
  if (v != "true" && v != "false") return Error{""};
  return v == "true";
}

std::vector<std::string> split_list(std::string_view v) {
  std::vector<std::string> out;
  while (!v.empty()) {
    const auto comma = v.find(',');
    std::string_view item = v.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace shmlog::sidecar
