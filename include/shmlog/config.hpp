// The library's settings: one struct, each field with its default and the reason for it. The
// table in libshm/config.cpp maps each field to its SHMLOG_* variable; parsing, validation and
// docs/configuration.md come from that one table.
#pragma once

#include <shmlog/level.hpp>
#include <shmlog/result.hpp>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace shmlog {

enum class OverflowPolicy : std::uint8_t {
  drop,   // drop the newest record and count it per level: the app never waits for logging
  block,  // wait up to block_timeout for the consumer to free space, then drop and count
};

enum class FallbackSink : std::uint8_t {
  stderr_json,  // no ring: format each record as a JSON line to stderr (on the app's thread)
  discard,      // no ring: drop records (still counted nowhere; for apps that own stderr)
};

struct Config {
  // The pod-shared emptyDir both containers mount. It must exist: the library never creates
  // it, so a missing mount shows up as a fallback message rather than logs lost in a tmp dir.
  std::string dir = "/var/run/shmlog";
  // Names the records' `service`; empty means the program's name (/proc/self/comm).
  std::string service;
  // Lane data bytes of the whole ring, split evenly over the lanes (each rounded down to a
  // power of two). 8 MiB holds ~150k typical records: seconds of burst while the sidecar is
  // busy, a small share of a pod's memory when the volume is medium: Memory.
  std::uint64_t ring_bytes = 8ull << 20;
  // Lanes: one shared by threads that find no free lane, the rest one per thread. 16 covers
  // the thread pools of most services; more threads than that share the last one under a lock.
  std::uint32_t lanes = 16;
  // The initial runtime minimum level; the sidecar may change it later through the ring.
  Level level = Level::info;
  OverflowPolicy overflow = OverflowPolicy::drop;
  // How long a record may wait under OverflowPolicy::block. Short: logging must not stall a
  // request path for long even when asked to wait.
  std::chrono::microseconds block_timeout{10'000};
  FallbackSink fallback = FallbackSink::stderr_json;
  // Longer string arguments are cut (the record is flagged truncated) so one huge value
  // cannot take a lane. The lane size caps it further at a quarter of a lane.
  std::uint32_t max_string_bytes = 16384;
  // Share of each lane that only WARNING and above may use, so a DEBUG flood cannot crowd out
  // the errors that explain it.
  std::uint32_t headroom_percent = 12;
  // Call-site registry bytes: ~100-200 bytes per distinct call site.
  std::uint64_t sites_bytes = 256ull << 10;

  // The defaults, overridden by every SHMLOG_* variable that is set. An invalid value is an
  // error that names the variable, the value and what is allowed.
  static Result<Config> from_env();
  // Checks ranges; init() calls it, so programmatic settings are held to the same rules.
  Status validate() const;
};

namespace detail {
// For the lazy start on the first log call, where no error can be returned: applies every valid
// SHMLOG_* variable, skips the bad ones and describes them in `problems`.
Config config_from_env_lenient(std::string& problems);
}  // namespace detail

// One row per setting, for help texts and docs.
struct SettingInfo {
  std::string_view env;
  std::string_view default_value;
  std::string_view allowed;
  std::string_view help;
};
std::span<const SettingInfo> library_settings();

// Shared by the library and the sidecar's settings: "8MiB", "512k", "1G", "4096".
Result<std::uint64_t> parse_bytes(std::string_view text);
// "10ms", "2s", "500us", "1m", "1h", "7d"; a bare number is milliseconds.
Result<std::chrono::microseconds> parse_duration(std::string_view text);

}  // namespace shmlog
