// Every setting of `shmlog sidecar`, declared once: its flag, its SHMLOG_* environment twin, its
// default, what is allowed and what it does. The CLI options, the environment, the config file,
// `shmlog settings` and the README table all come from this one table (as Fluent Bit's
// config_map does). Precedence: flag, then environment, then config file, then default.
#pragma once

#include "sinks/file/rotating_file.hpp"
#include "sinks/loki/loki_options.hpp"
#include "transforms/admission.hpp"

#include <shmlog/result.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace shmlog::sidecar {

struct HttpOptions {
  bool enabled = true;
  std::string host = "127.0.0.1";
  int port = 9880;  // 0: any free port; the sidecar says which
  bool allow_remote = false;
  std::string token_file;  // beyond loopback: the bearer token the write endpoints want
  // An output failing for longer makes /readyz answer 503 (its records wait in the rings).
  std::chrono::milliseconds ready_grace{30'000};
};

// 127.0.0.0/8, ::1 or localhost.
bool loopback_host(std::string_view host);

struct SidecarSettings {
  std::string dir = "/var/run/shmlog";       // the rings (the library's SHMLOG_DIR)
  std::string out = "/var/log/shmlog";       // the JSON-lines files
  std::string service_fallback = "unknown";  // for rings whose writer set no service
  FileSinkOptions file;
  std::chrono::milliseconds shutdown_deadline{20000};  // under Kubernetes' default 30 s grace
  bool exit_with_apps = false;  // stop by itself once the apps are gone (a legacy Job's sidecar)
  std::chrono::milliseconds rescan_interval{2000};  // the fallback when inotify misses
  std::vector<std::string> redact_keys;             // on top of the defaults
  std::size_t max_message_bytes = 65536;
  AdmissionSettings admission;
  loki::LokiOptions loki;  // shipping is off while loki.url is empty
  HttpOptions http;
  std::string config_file;
  // Every setting's effective value by flag name, in table order (given or default), for
  // /status. No secret is a setting (credentials come from files), but a URL's user info is
  // masked.
  std::vector<std::pair<std::string, std::string>> effective;
};

struct SidecarSetting {
  std::string_view flag;  // without the leading "--"; also the config file's key
  std::string_view env;
  std::string_view default_value;
  std::string_view allowed;
  std::string_view help;
};
std::span<const SidecarSetting> sidecar_settings();

// Builds the settings from raw values by flag name (flags and config file entries) and the
// environment. Each bad value is an Error naming the setting, the value and what is allowed.
// `flags` holds only the flags given on the command line.
Result<SidecarSettings> resolve_settings(const std::map<std::string, std::string>& flags,
                                         const std::map<std::string, std::string>& config_file,
                                         const std::map<std::string, std::string>& environment);

// Reads a YAML config file: one mapping of setting names (the flag names) to scalars, or to a
// list for redact-keys. Unknown keys are errors that name the key.
Result<std::map<std::string, std::string>> read_config_file(const std::string& path);

// The environment's SHMLOG_* variables that are sidecar settings.
std::map<std::string, std::string> settings_environment();

}  // namespace shmlog::sidecar
