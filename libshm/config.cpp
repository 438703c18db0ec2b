#include <shmlog/config.hpp>
#include <shmlog/ring_format.hpp>

#include <cerrno>
#include <cstdlib>
#include <functional>
#include <string>

namespace shmlog {
namespace {

Error bad(std::string_view env, std::string_view value, std::string_view allowed) {
  return Error{std::string(env) + "=\"" + std::string(value) + "\" is not valid: expected " +
               std::string(allowed)};
}

Result<std::uint64_t> parse_uint(std::string_view text) {
  if (text.empty() || text.size() > 19) return Error{"not a number"};
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return Error{"not a number"};
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

struct Row {
  SettingInfo info;
  std::function<Status(Config&, std::string_view, const SettingInfo&)> apply;
};

Status set_u32(std::uint32_t& field, std::string_view v, std::uint64_t lo, std::uint64_t hi,
               const SettingInfo& i) {
  auto n = parse_uint(v);
  if (!n || *n < lo || *n > hi) return bad(i.env, v, i.allowed);
  field = static_cast<std::uint32_t>(*n);
  return Ok{};
}

const std::vector<Row>& rows() {
  static const std::vector<Row> table = [] {
    std::vector<Row> t;
    t.push_back({{"SHMLOG_DIR", "/var/run/shmlog", "an existing directory path",
                  "Directory of the ring files, shared with the sidecar (an emptyDir)."},
                 [](Config& c, std::string_view v, const SettingInfo& i) -> Status {
                   if (v.empty()) return bad(i.env, v, i.allowed);
                   c.dir = std::string(v);
                   return Ok{};
                 }});
    t.push_back({{"SHMLOG_SERVICE", "(program name)", "1-63 bytes",
                  "The `service` of every record and the ring file's name."},
                 [](Config& c, std::string_view v, const SettingInfo& i) -> Status {
                   if (v.empty() || v.size() >= ring::kIdentityBytes) return bad(i.env, v, i.allowed);
                   c.service = std::string(v);
                   return Ok{};
                 }});
    t.push_back({{"SHMLOG_RING_BYTES", "8MiB", "8KiB to 4GiB, e.g. 8MiB, 512k, 1G",
                  "Lane data bytes of the whole ring, split over the lanes."},
                 [](Config& c, std::string_view v, const SettingInfo& i) -> Status {
                   auto n = parse_bytes(v);
                   if (!n || *n < (8u << 10) || *n > (4ull << 30)) return bad(i.env, v, i.allowed);
                   c.ring_bytes = *n;
                   return Ok{};
                 }});
    t.push_back(
        {{"SHMLOG_LANES", "16", "2 to 1024", "Lanes in the ring: one shared, the rest one per thread."},
         [](Config& c, std::string_view v, const SettingInfo& i) -> Status {
           return set_u32(c.lanes, v, 2, ring::kMaxLanes, i);
         }});
    t.push_back({{"SHMLOG_LEVEL", "INFO", "TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL",
                  "Initial minimum level; the sidecar can change it at run time."},
                 [](Config& c, std::string_view v, const SettingInfo& i) -> Status {
                   auto l = parse_level(v);
                   if (!l) return bad(i.env, v, i.allowed);
                   c.level = *l;
                   return Ok{};
                 }});
    t.push_back({{"SHMLOG_OVERFLOW", "drop", "drop, block, or block:<duration> up to 10s (e.g. block:5ms)",
                  "What a full lane does: drop the newest record (counted), or wait a bounded time."},
                 [](Config& c, std::string_view v, const SettingInfo& i) -> Status {
                   if (v == "drop") {
                     c.overflow = OverflowPolicy::drop;
                     return Ok{};
                   }
                   if (v == "block") {
                     c.overflow = OverflowPolicy::block;
                     return Ok{};
                   }
                   if (v.starts_with("block:")) {
                     auto d = parse_duration(v.substr(6));
                     if (!d || d->count() <= 0 || *d > std::chrono::seconds{10})
                       return bad(i.env, v, i.allowed);
                     c.overflow = OverflowPolicy::block;
                     c.block_timeout = *d;
                     return Ok{};
                   }
                   return bad(i.env, v, i.allowed);
                 }});
    t.push_back(
        {{"SHMLOG_FALLBACK", "stderr", "stderr or discard", "Where records go when no ring can be opened."},
         [](Config& c, std::string_view v, const SettingInfo& i) -> Status {
           if (v == "stderr")
             c.fallback = FallbackSink::stderr_json;
           else if (v == "discard")
             c.fallback = FallbackSink::discard;
           else
             return bad(i.env, v, i.allowed);
           return Ok{};
         }});
    t.push_back({{"SHMLOG_MAX_STRING_BYTES", "16384", "64 to 1048576",
                  "Longer string arguments are cut and the record marked truncated."},
                 [](Config& c, std::string_view v, const SettingInfo& i) -> Status {
                   return set_u32(c.max_string_bytes, v, 64, 1u << 20, i);
                 }});
    t.push_back(
        {{"SHMLOG_HEADROOM_PERCENT", "12", "0 to 50", "Share of each lane only WARNING and above may fill."},
         [](Config& c, std::string_view v, const SettingInfo& i) -> Status {
           return set_u32(c.headroom_percent, v, 0, 50, i);
         }});
    return t;
  }();
  return table;
}

}  // namespace

Result<std::uint64_t> parse_bytes(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  auto n = parse_uint(text.substr(0, digits));
  if (!n) return Error{"expected a size such as 8MiB, 512k or 4096"};
  std::string_view unit = text.substr(digits);
  std::uint64_t mul = 1;
  if (unit.empty() || unit == "b" || unit == "B")
    mul = 1;
  else if (unit == "k" || unit == "K" || unit == "KiB" || unit == "kiB" || unit == "KB" || unit == "kB")
    mul = 1ull << 10;
  else if (unit == "m" || unit == "M" || unit == "MiB" || unit == "MB")
    mul = 1ull << 20;
  else if (unit == "g" || unit == "G" || unit == "GiB" || unit == "GB")
    mul = 1ull << 30;
  else if (unit == "t" || unit == "T" || unit == "TiB" || unit == "TB")
    mul = 1ull << 40;
  else
    return Error{"unknown size unit \"" + std::string(unit) + "\" (use k, M, G, T or KiB, MiB, GiB, TiB)"};
  if (*n > (std::uint64_t{1} << 62) / mul) return Error{"size too large"};
  return *n * mul;
}

Result<std::chrono::microseconds> parse_duration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  auto n = parse_uint(text.substr(0, digits));
  if (!n || *n > (1ull << 40)) return Error{"expected a duration such as 500us, 10ms, 2s, 1m, 1h or 7d"};
  std::string_view unit = text.substr(digits);
  using namespace std::chrono;
  if (unit == "us") return microseconds(*n);
  if (unit == "ms" || unit.empty()) return microseconds(*n * 1000);
  if (unit == "s") return microseconds(*n * 1'000'000);
  if (unit == "m") return microseconds(*n * 60'000'000);
  if (unit == "h") return microseconds(*n * 3'600'000'000);
  if (unit == "d") return microseconds(*n * 86'400'000'000);
  return Error{"unknown duration unit \"" + std::string(unit) + "\" (use us, ms, s, m, h or d)"};
}

std::span<const SettingInfo> library_settings() {
  static const std::vector<SettingInfo> infos = [] {
    std::vector<SettingInfo> v;
    for (const auto& r : rows()) v.push_back(r.info);
    return v;
  }();
  return infos;
}

Result<Config> Config::from_env() {
  Config c;
  for (const auto& r : rows()) {
    const char* v = std::getenv(std::string(r.info.env).c_str());
    if (v == nullptr) continue;
    if (auto s = r.apply(c, v, r.info); !s) return s.error();
  }
  return c;
}

namespace detail {
Config config_from_env_lenient(std::string& problems) {
  Config c;
  for (const auto& r : rows()) {
    const char* v = std::getenv(std::string(r.info.env).c_str());
    if (v == nullptr) continue;
    if (auto s = r.apply(c, v, r.info); !s) problems += (problems.empty() ? "" : "; ") + s.error().message;
  }
  return c;
}
}  // namespace detail

Status Config::validate() const {
  auto fail = [](std::string_view what, std::string_view allowed) {
    return Error{"Config." + std::string(what) + " is not valid: expected " + std::string(allowed)};
  };
  if (dir.empty()) return fail("dir", "a non-empty directory path");
  if (service.size() >= ring::kIdentityBytes) return fail("service", "at most 63 bytes");
  if (ring_bytes < (8u << 10) || ring_bytes > (4ull << 30)) return fail("ring_bytes", "8KiB to 4GiB");
  if (lanes < 2 || lanes > ring::kMaxLanes) return fail("lanes", "2 to 1024");
  if (ring_bytes / lanes < ring::kMinLaneBytes)
    return fail("ring_bytes / lanes", "at least 4096 bytes per lane");
  if (static_cast<int>(level) >= kLevelCount) return fail("level", "TRACE..CRITICAL");
  if (block_timeout.count() < 0 || block_timeout > std::chrono::seconds{10})
    return fail("block_timeout", "0 to 10s");
  if (max_string_bytes < 64 || max_string_bytes > (1u << 20))
    return fail("max_string_bytes", "64 to 1048576");
  if (headroom_percent > 50) return fail("headroom_percent", "0 to 50");
  if (sites_bytes < ring::kMinSitesBytes || sites_bytes > ring::kMaxSitesBytes)
    return fail("sites_bytes", "4KiB to 64MiB");
  return Ok{};
}

}  // namespace shmlog
