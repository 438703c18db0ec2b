// The Loki shipper's rows of the settings table.
#include "settings/setting_rows.hpp"

#include <shmlog/config.hpp>

#include <algorithm>

namespace shmlog::sidecar {
namespace {

// Loki's (Prometheus') label names: [a-zA-Z_][a-zA-Z0-9_]*, and "__" is reserved.
bool label_name_ok(std::string_view n) {
  if (n.empty() || n.starts_with("__")) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool ok =
        c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

Apply path_into(std::string loki::LokiOptions::*member) {
  return [member](SidecarSettings& s, std::string_view v) -> Status {
    s.loki.*member = std::string(v);
    return Ok{};
  };
}

Apply ms_into(std::chrono::milliseconds loki::LokiOptions::*member, std::chrono::milliseconds lo,
              std::chrono::milliseconds hi) {
  return [=](SidecarSettings& s, std::string_view v) -> Status {
    const auto d = parse_ms(v, lo, hi);
    if (!d) return d.error();
    s.loki.*member = *d;
    return Ok{};
  };
}

Apply bytes_into(std::size_t loki::LokiOptions::*member, std::uint64_t lo, std::uint64_t hi) {
  return [=](SidecarSettings& s, std::string_view v) -> Status {
    const auto n = parse_bytes(v);
    if (!n || *n < lo || *n > hi) return Error{""};
    s.loki.*member = static_cast<std::size_t>(*n);
    return Ok{};
  };
}

}  // namespace

std::vector<Row> loki_rows() {
  using namespace std::chrono_literals;
  using O = loki::LokiOptions;
  return {
      {{"loki-url", "SHMLOG_LOKI_URL", "", "an http:// or https:// URL; empty: no shipping",
        "Grafana Loki to ship the lines to (the push path /loki/api/v1/push is added unless the URL has a "
        "path)."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         if (!v.empty() && !v.starts_with("http://") && !v.starts_with("https://")) return Error{""};
         s.loki.url = std::string(v);
         return Ok{};
       }},
      {{"loki-tenant", "SHMLOG_LOKI_TENANT", "", "a tenant id; empty: none",
        "Sent as X-Scope-OrgID (multi-tenant Loki)."},
       path_into(&O::tenant)},
      {{"loki-labels", "SHMLOG_LOKI_LABELS", "job=shmlog",
        "name=value pairs, comma-separated; names [a-zA-Z_][a-zA-Z0-9_]*", "Labels on every stream."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         s.loki.static_labels.clear();
         for (const auto& item : split_list(v)) {
           const auto eq = item.find('=');
           if (eq == std::string::npos || eq + 1 == item.size() || !label_name_ok(item.substr(0, eq)))
             return Error{""};
           s.loki.static_labels.emplace_back(item.substr(0, eq), item.substr(eq + 1));
         }
         return Ok{};
       }},
      {{"loki-label-fields", "SHMLOG_LOKI_LABEL_FIELDS", "service,namespace,pod,container,level",
        "any of service, namespace, pod, container, level, host, logger; or none",
        "Record fields that become labels. Ids, trace fields and messages never do: a stream per value would "
        "swamp "
        "Loki's index."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         s.loki.label_fields.clear();
         if (v == "none") return Ok{};
         const auto& choices = loki::label_field_choices();
         for (const auto& f : split_list(v)) {
           if (std::find(choices.begin(), choices.end(), f) == choices.end()) return Error{""};
           if (std::find(s.loki.label_fields.begin(), s.loki.label_fields.end(), f) ==
               s.loki.label_fields.end())
             s.loki.label_fields.push_back(f);
         }
         return Ok{};
       }},
      {{"loki-line-format", "SHMLOG_LOKI_LINE_FORMAT", "json", "json or message",
        "Ship each JSON line as written, or only its message."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         if (v != "json" && v != "message") return Error{""};
         s.loki.line_format = v == "json" ? loki::LineFormat::json : loki::LineFormat::message;
         return Ok{};
       }},
      {{"loki-encoding", "SHMLOG_LOKI_ENCODING", "protobuf", "protobuf or json",
        "Push bodies as snappy-compressed protobuf, or as gzip-compressed JSON."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         if (v != "protobuf" && v != "json") return Error{""};
         s.loki.encoding = v == "json" ? loki::Encoding::json : loki::Encoding::protobuf;
         return Ok{};
       }},
      {{"loki-batch-bytes", "SHMLOG_LOKI_BATCH_BYTES", "1MiB", "4KiB to 64MiB",
        "Push once this many bytes of lines wait."},
       bytes_into(&O::batch_bytes, 4u << 10, 64u << 20)},
      {{"loki-batch-wait", "SHMLOG_LOKI_BATCH_WAIT", "1s", "10ms to 1m",
        "Push at least this often while lines wait."},
       ms_into(&O::batch_wait, 10ms, 1min)},
      {{"loki-backoff-min", "SHMLOG_LOKI_BACKOFF_MIN", "500ms", "10ms to 1m",
        "First wait after a failed push (429, 5xx, timeout, no connection); doubled per failure, with "
        "jitter."},
       ms_into(&O::backoff_min, 10ms, 1min)},
      {{"loki-backoff-max", "SHMLOG_LOKI_BACKOFF_MAX", "5m", "100ms to 1h", "Longest wait between retries."},
       ms_into(&O::backoff_max, 100ms, 1h)},
      {{"loki-timeout", "SHMLOG_LOKI_TIMEOUT", "10s", "100ms to 5m",
        "Connect, send and answer timeouts of a push."},
       ms_into(&O::timeout, 100ms, 5min)},
      {{"loki-max-line-bytes", "SHMLOG_LOKI_MAX_LINE_BYTES", "256KiB", "1KiB to 16MiB",
        "Lines longer than this (Loki's max_line_size) are cut and marked."},
       bytes_into(&O::max_line_bytes, 1u << 10, 16u << 20)},
      {{"loki-ca-file", "SHMLOG_LOKI_CA_FILE", "", "a PEM file path",
        "https: CA certificates to verify Loki with."},
       path_into(&O::ca_file)},
      {{"loki-cert-file", "SHMLOG_LOKI_CERT_FILE", "", "a PEM file path",
        "https: client certificate (mTLS)."},
       path_into(&O::cert_file)},
      {{"loki-key-file", "SHMLOG_LOKI_KEY_FILE", "", "a PEM file path",
        "https: the client certificate's key."},
       path_into(&O::key_file)},
      {{"loki-username", "SHMLOG_LOKI_USERNAME", "", "a user name",
        "Basic auth user (the password comes from a file)."},
       path_into(&O::username)},
      {{"loki-password-file", "SHMLOG_LOKI_PASSWORD_FILE", "", "a file path",
        "Basic auth password, read from a file (a mounted Secret; read again when it changes)."},
       path_into(&O::password_file)},
      {{"loki-bearer-token-file", "SHMLOG_LOKI_BEARER_TOKEN_FILE", "", "a file path",
        "Bearer token, read from a file (a mounted Secret; read again when it changes)."},
       path_into(&O::bearer_token_file)},
      {{"loki-positions", "SHMLOG_LOKI_POSITIONS", "", "a file path; empty: OUT/.shmlog-loki-positions.json",
        "Where the shipper keeps how far it got in each file."},
       path_into(&O::positions_file)},
  };
}

}  // namespace shmlog::sidecar
