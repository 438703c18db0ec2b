#include "cli/probe_command.hpp"

#include "cli/duration_option.hpp"
#include "settings/sidecar_settings.hpp"

#include <cstdio>
#include <memory>

#include <httplib.h>

namespace shmlog::cli {
namespace {

// The sidecar's own address from the same environment it reads (SHMLOG_HTTP_ADDR, else the
// default); a wildcard listener is asked on loopback. Empty: the endpoint is off.
Result<std::string> sidecar_url() {
  auto settings = sidecar::resolve_settings({}, {}, sidecar::settings_environment());
  if (!settings) return settings.error();
  const sidecar::HttpOptions& h = settings->http;
  if (!h.enabled) return std::string();
  std::string host = h.host;
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(h.port);
}

}  // namespace

int run_probe(const ProbeOptions& options) {
  std::string url = options.url;
  if (url.empty()) {
    auto found = sidecar_url();
    if (!found) {
      std::fprintf(stderr, "shmlog probe: %s\n", found.error().message.c_str());
      return kExitUsage;
    }
    url = *found;
    if (url.empty()) {
      // Turned off on purpose (a ConfigMap for a whole namespace, say): a probe that could never
      // pass would keep every injected pod from starting, so there is nothing to fail on.
      std::fputs("the status endpoint is off (SHMLOG_HTTP_ADDR=off): nothing to probe\n", stdout);
      return kExitOk;
    }
  }
  httplib::Client client(url);
  if (!client.is_valid()) {
    std::fprintf(stderr, "shmlog probe: not a URL this client can ask: %s\n", url.c_str());
    return kExitUsage;
  }
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(options.timeout);
  const auto usec = std::chrono::duration_cast<std::chrono::microseconds>(options.timeout - seconds);
  client.set_connection_timeout(seconds.count(), usec.count());
  client.set_read_timeout(seconds.count(), usec.count());
  client.set_write_timeout(seconds.count(), usec.count());
  const auto res = client.Get(options.path);
  if (!res) {
    std::fprintf(stderr, "shmlog probe: %s%s: no answer (%s)\n", url.c_str(), options.path.c_str(),
                 httplib::to_string(res.error()).c_str());
    return kExitFailed;
  }
  std::fwrite(res->body.data(), 1, res->body.size(), res->status == 200 ? stdout : stderr);
  if (res->status == 200) return kExitOk;
  std::fprintf(stderr, "shmlog probe: %s%s answered HTTP %d\n", url.c_str(), options.path.c_str(),
               res->status);
  return kExitFailed;
}

void add_probe_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<ProbeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "probe", "Ask the running sidecar's status endpoint for PATH; exit 0 on HTTP 200 (exec probes)");
  cmd->add_option("path", options->path, "/livez or /readyz (any path of the endpoint)")
      ->required()
      ->check(CLI::Validator(
          [](const std::string& p) { return p.starts_with("/") ? std::string{} : "PATH starts with /"; },
          "PATH"));
  cmd->add_option("--url", options->url,
                  "The endpoint (default: from SHMLOG_HTTP_ADDR as the sidecar reads it, else "
                  "http://127.0.0.1:9880)")
      ->type_name("URL");
  add_duration_option(*cmd, "--timeout", options->timeout, "Connect and answer timeout (default 2s)");
  cmd->footer(
      "Exit status: 0 HTTP 200 (or the endpoint is off), 1 any other answer or none, 2 settings the\n"
      "sidecar would refuse.\n");
  cmd->callback([&action, options] { action = [options] { return run_probe(*options); }; });
}

}  // namespace shmlog::cli
