#include "settings/sidecar_settings.hpp"

#include "settings/setting_rows.hpp"

#include <shmlog/config.hpp>

#include <cmath>
#include <cstdlib>
#include <functional>

#include <yaml-cpp/yaml.h>

namespace shmlog::sidecar {
namespace {

// The drain's and the files' rows, then the shipper's, then the status endpoint's.
std::vector<Row> with_loki(std::vector<Row> rows) {
  for (auto more : {loki_rows(), http_rows()})
    rows.insert(rows.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  return rows;
}

// "https://user:pw@host/" -> "https://user:***@host/": what /status may show of a URL.
std::string mask_user_info(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const auto host_end = url.find_first_of("/?#", scheme + 3);
  const auto at = url.rfind('@', host_end == std::string::npos ? url.size() : host_end);
  if (at == std::string::npos || at < scheme + 3) return url;
  const auto colon = url.find(':', scheme + 3);
  const auto keep = colon != std::string::npos && colon < at ? colon + 1 : at;
  return url.substr(0, keep) + (keep == at ? "@" : "***@") + url.substr(at + 1);
}

const std::vector<Row>& rows() {
  using namespace std::chrono_literals;
  static const std::vector<Row> table = with_loki({
      {{"dir", "SHMLOG_DIR", "/var/run/shmlog", "a directory path",
        "Directory of the ring files (the volume the apps write to)."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         if (v.empty()) return Error{""};
         s.dir = std::string(v);
         return Ok{};
       }},
      {{"out", "SHMLOG_OUT", "/var/log/shmlog", "a directory path (created if missing)",
        "Directory of the JSON-lines files, one SERVICE.log per service."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         if (v.empty()) return Error{""};
         s.out = std::string(v);
         s.file.dir = s.out;
         return Ok{};
       }},
      {{"service", "SHMLOG_SERVICE_FALLBACK", "unknown", "1-63 bytes",
        "Service name for rings whose app set none."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         if (v.empty() || v.size() > 63) return Error{""};
         s.service_fallback = std::string(v);
         return Ok{};
       }},
      {{"rotate-bytes", "SHMLOG_ROTATE_BYTES", "100MiB", "64KiB to 1TiB, e.g. 100MiB, 1G",
        "Rotate a file before a write would take it past this size."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         const auto n = parse_bytes(v);
         if (!n || *n < (64u << 10) || *n > (1ull << 40)) return Error{""};
         s.file.max_bytes = *n;
         return Ok{};
       }},
      {{"rotate-keep", "SHMLOG_ROTATE_KEEP", "5", "0 to 1000",
        "Rotated files kept per service (<service>.log.1 .. .N)."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         const auto n = parse_count(v, 0, 1000);
         if (!n) return n.error();
         s.file.max_backups = static_cast<unsigned>(*n);
         return Ok{};
       }},
      {{"rotate-every", "SHMLOG_ROTATE_EVERY", "never", "never, hourly or daily",
        "Also rotate at the start of each UTC hour or day."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         if (v == "never")
           s.file.time_rotation = TimeRotation::none;
         else if (v == "hourly")
           s.file.time_rotation = TimeRotation::hourly;
         else if (v == "daily")
           s.file.time_rotation = TimeRotation::daily;
         else
           return Error{""};
         return Ok{};
       }},
      {{"compress", "SHMLOG_COMPRESS", "false", "true or false",
        "Gzip rotated files from .2 on (.1 stays plain for readers finishing it)."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         const auto b = parse_bool(v);
         if (!b) return b.error();
         s.file.compress = *b;
         return Ok{};
       }},
      {{"retention", "SHMLOG_RETENTION", "0", "a duration (e.g. 7d, 12h); 0 keeps by count only",
        "Delete rotated files older than this."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         const auto d = parse_ms(v, 0ms, std::chrono::hours(24 * 3650));
         if (!d) return d.error();
         s.file.max_age = std::chrono::duration_cast<std::chrono::seconds>(*d);
         return Ok{};
       }},
      {{"fsync", "SHMLOG_FSYNC", "never", "never, always, or a period such as 1s",
        "When written lines are forced to disk (a sidecar crash loses nothing either way; this "
        "guards against a node crash)."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         if (v == "never") {
           s.file.fsync = FsyncPolicy::none;
         } else if (v == "always") {
           s.file.fsync = FsyncPolicy::always;
         } else {
           const auto d = parse_ms(v, 1ms, std::chrono::hours(1));
           if (!d) return d.error();
           s.file.fsync = FsyncPolicy::interval;
           s.file.fsync_interval = *d;
         }
         return Ok{};
       }},
      {{"shutdown-deadline", "SHMLOG_SHUTDOWN_DEADLINE", "20s", "100ms to 1h",
        "On SIGTERM, keep draining until every app has detached or this has passed."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         const auto d = parse_ms(v, 100ms, std::chrono::hours(1));
         if (!d) return d.error();
         s.shutdown_deadline = *d;
         return Ok{};
       }},
      {{"exit-with-apps", "SHMLOG_EXIT_WITH_APPS", "false", "true or false",
        "Stop as on SIGTERM once the apps are gone: a ring was seen, and for 2 s no ring has had a "
        "live writer. For a Job's plain sidecar container (before native sidecars), which would "
        "otherwise keep the Job from completing."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         const auto b = parse_bool(v);
         if (!b) return b.error();
         s.exit_with_apps = *b;
         return Ok{};
       }},
      {{"rescan", "SHMLOG_RESCAN", "2s", "10ms to 1m",
        "How often the ring directory is listed again in case inotify missed a file."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         const auto d = parse_ms(v, 10ms, std::chrono::minutes(1));
         if (!d) return d.error();
         s.rescan_interval = *d;
         return Ok{};
       }},
      {{"redact-keys", "SHMLOG_REDACT_KEYS", "", "comma-separated key fragments",
        "Context keys to redact on top of password, secret, token, api_key, authorization, "
        "cookie."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         s.redact_keys = split_list(v);
         return Ok{};
       }},
      {{"max-message-bytes", "SHMLOG_MAX_MESSAGE_BYTES", "65536", "256 to 1048576",
        "Longer messages are cut at a character boundary and marked."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         const auto n = parse_count(v, 256, 1 << 20);
         if (!n) return n.error();
         s.max_message_bytes = static_cast<std::size_t>(*n);
         return Ok{};
       }},
      {{"sample", "SHMLOG_SAMPLE", "",
        "level=fraction pairs, fractions 0.000001 to 1, e.g. debug=0.1,trace=0.01",
        "Keep only this share of records of these levels (exactly one in 1/fraction; ERROR and above "
        "are never sampled). What is let go is counted and reported in a WARNING line."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         AdmissionSettings& a = s.admission;
         a.keep_one_in.fill(1);
         for (const auto& item : split_list(v)) {
           const auto eq = item.find('=');
           if (eq == std::string::npos) return Error{""};
           const auto level = parse_level(item.substr(0, eq));
           if (!level || *level >= Level::error) return Error{""};
           char* end = nullptr;
           const std::string fraction = item.substr(eq + 1);
           const double f = std::strtod(fraction.c_str(), &end);
           if (fraction.empty() || *end != '\0' || !(f >= 1e-6) || f > 1)
             return Error{""};  // 1 in a million at most
           a.keep_one_in[static_cast<std::size_t>(*level)] = static_cast<std::uint32_t>(std::lround(1 / f));
         }
         return Ok{};
       }},
      {{"rate-limit", "SHMLOG_RATE_LIMIT", "0", "records per second, 0 for none",
        "Per service: records below ERROR beyond this rate are let go (counted and reported)."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         const auto n = parse_count(v, 0, 100'000'000);
         if (!n) return n.error();
         s.admission.rate_limit = static_cast<double>(*n);
         return Ok{};
       }},
  });
  return table;
}

Error bad(const SidecarSetting& info, std::string_view source, std::string_view value) {
  return Error{std::string(source) + "=\"" + std::string(value) + "\" is not valid: expected " +
               std::string(info.allowed)};
}

}  // namespace

std::span<const SidecarSetting> sidecar_settings() {
  static const std::vector<SidecarSetting> infos = [] {
    std::vector<SidecarSetting> v;
    for (const auto& r : rows()) v.push_back(r.info);
    return v;
  }();
  return infos;
}

Result<SidecarSettings> resolve_settings(const std::map<std::string, std::string>& flags,
                                         const std::map<std::string, std::string>& config_file,
                                         const std::map<std::string, std::string>& environment) {
  SidecarSettings s;
  s.file.dir = s.out;
  for (const auto& r : rows()) {
    const std::string flag(r.info.flag), env(r.info.env);
    std::string source, value;
    if (auto f = flags.find(flag); f != flags.end()) {
      source = "--" + flag;
      value = f->second;
    } else if (auto e = environment.find(env); e != environment.end()) {
      source = env;
      value = e->second;
    } else if (auto c = config_file.find(flag); c != config_file.end()) {
      source = flag + " (config file)";
      value = c->second;
    } else {
      s.effective.emplace_back(flag, std::string(r.info.default_value));
      continue;
    }
    if (!r.apply(s, value)) return bad(r.info, source, value);
    s.effective.emplace_back(flag, flag == "loki-url" ? mask_user_info(value) : value);
  }
  if (auto st = check_http(s.http); !st) return st.error();
  return s;
}

Result<std::map<std::string, std::string>> read_config_file(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return Error{path + ": cannot be read"};
  } catch (const YAML::Exception& e) {
    return Error{path + ": not valid YAML: " + e.what()};
  }
  std::map<std::string, std::string> out;
  if (root.IsNull()) return out;
  if (!root.IsMap()) return Error{path + ": expected a mapping of setting names to values"};
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>("");
    bool known = false;
    for (const auto& r : rows()) known = known || r.info.flag == key;
    if (!known) return Error{path + ": unknown setting \"" + key + "\" (see `shmlog settings`)"};
    if (kv.second.IsScalar()) {
      out[key] = kv.second.as<std::string>();
    } else if (kv.second.IsSequence()) {
      std::string joined;
      for (const auto& item : kv.second) {
        if (!item.IsScalar()) return Error{path + ": " + key + ": expected a list of plain values"};
        joined += (joined.empty() ? "" : ",") + item.as<std::string>();
      }
      out[key] = joined;
    } else {
      return Error{path + ": " + key + ": expected a value"};
    }
  }
  return out;
}

std::map<std::string, std::string> settings_environment() {
  std::map<std::string, std::string> out;
  for (const auto& r : rows()) {
    const std::string env(r.info.env);
    if (const char* v = std::getenv(env.c_str())) out[env] = v;
  }
  return out;
}

}  // namespace shmlog::sidecar
