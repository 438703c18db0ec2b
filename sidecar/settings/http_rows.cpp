// The status endpoint's rows of the settings table.
#include "settings/setting_rows.hpp"

#include <charconv>

namespace shmlog::sidecar {

bool loopback_host(std::string_view host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

std::vector<Row> http_rows() {
  return {
      {{"http-addr", "SHMLOG_HTTP_ADDR", "127.0.0.1:9880",
        "host:port ([v6]:port for IPv6; port 0: any free port, said at start), or off",
        "Where the status endpoint listens (/status, /metrics, /livez, /readyz, /api/level, /api/tail, the "
        "live page). Beyond loopback it needs --http-allow-remote and --http-token-file."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         if (v == "off") {
           s.http.enabled = false;
           return Ok{};
         }
         std::string_view host, port;
         if (v.starts_with("[")) {
           const auto close = v.find("]:");
           if (close == std::string_view::npos) return Error{""};
           host = v.substr(1, close - 1);
           port = v.substr(close + 2);
         } else {
           const auto colon = v.rfind(':');
           if (colon == std::string_view::npos || v.find(':') != colon) return Error{""};
           host = v.substr(0, colon);
           port = v.substr(colon + 1);
         }
         int p = -1;
         const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
         if (host.empty() || ec != std::errc() || end != port.data() + port.size() || p < 0 || p > 65535)
           return Error{""};
         s.http.enabled = true;
         s.http.host = std::string(host);
         s.http.port = p;
         return Ok{};
       }},
      {{"http-allow-remote", "SHMLOG_HTTP_ALLOW_REMOTE", "false", "true or false",
        "Allow --http-addr beyond loopback (the pod network). The write endpoints then want the bearer "
        "token of --http-token-file."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         const auto b = parse_bool(v);
         if (!b) return b.error();
         s.http.allow_remote = *b;
         return Ok{};
       }},
      {{"http-ready-grace", "SHMLOG_HTTP_READY_GRACE", "30s", "0s to 1h",
        "How long an output (a file, Loki) may fail before /readyz says not ready: short failures "
        "only delay lines, which wait in the rings."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         const auto d = parse_ms(v, std::chrono::milliseconds(0), std::chrono::hours(1));
         if (!d) return d.error();
         s.http.ready_grace = *d;
         return Ok{};
       }},
      {{"http-token-file", "SHMLOG_HTTP_TOKEN_FILE", "", "a file path; empty: none",
        "File holding the bearer token the write endpoints want (a mounted secret; read again when it "
        "changes)."},
       [](SidecarSettings& s, std::string_view v) -> Status {
         s.http.token_file = std::string(v);
         return Ok{};
       }},
  };
}

Status check_http(const HttpOptions& h) {
  if (!h.enabled || loopback_host(h.host)) return Ok{};
  if (!h.allow_remote)
    return Error{"--http-addr " + h.host +
                 " is beyond loopback: set --http-allow-remote true (and "
                 "--http-token-file) to serve the pod network"};
  if (h.token_file.empty())
    return Error{
        "--http-allow-remote needs --http-token-file: beyond loopback, changing levels wants a "
        "bearer token"};
  return Ok{};
}

}  // namespace shmlog::sidecar
