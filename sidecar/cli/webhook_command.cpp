#include "cli/webhook_command.hpp"

#include "cli/duration_option.hpp"
#include "cli/inject_options.hpp"
#include "webhook/webhook_server.hpp"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <pthread.h>

namespace shmlog::cli {
namespace {

struct Options {
  std::string listen = "0.0.0.0:8443";
  // After SIGTERM, go on answering this long: the API server learns that the pod is going only
  // when its endpoint is removed, a moment later, and with a fail-open webhook a review that finds
  // no one answering lets a pod through without its sidecar.
  std::chrono::milliseconds shutdown_delay{0};
  std::string cert_file, key_file;
  inject::InjectOptions inject;
};

struct HostPort {
  std::string host;
  int port = 0;
};

// "HOST:PORT" or "[IPv6]:PORT"; the port 0 to 65535 (0: any free one).
std::optional<HostPort> parse_listen(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return std::nullopt;
  HostPort out;
  out.host = text.substr(0, colon);
  if (out.host.front() == '[') {
    if (out.host.size() < 3 || out.host.back() != ']') return std::nullopt;
    out.host = out.host.substr(1, out.host.size() - 2);
  } else if (out.host.find(':') != std::string::npos) {
    return std::nullopt;  // an IPv6 address wants brackets
  }
  long port = 0;
  for (const char c : text.substr(colon + 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + (c - '0');
    if (port > 65535) return std::nullopt;
  }
  out.port = static_cast<int>(port);
  return out;
}

int run(const Options& options) {
  const auto where = parse_listen(options.listen);
  if (!where) {
    std::fprintf(stderr, "shmlog webhook: --listen %s: expected HOST:PORT (e.g. 0.0.0.0:8443, [::]:8443)\n",
                 options.listen.c_str());
    return kExitUsage;
  }
  // SIGTERM and SIGINT are taken by sigwait below: blocked before the server's threads start, so
  // they inherit the mask and no handler runs in the middle of a review. A client gone while its
  // answer is written must not kill the process (OpenSSL writes with write(), not MSG_NOSIGNAL).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  webhook::WebhookOptions o;
  o.host = where->host;
  o.port = where->port;
  o.cert_file = options.cert_file;
  o.key_file = options.key_file;
  o.inject = options.inject;
  auto server = webhook::WebhookServer::start(std::move(o));
  if (!server) {
    std::fprintf(stderr, "shmlog webhook: %s\n", server.error().message.c_str());
    return kExitUsage;
  }
  const bool v6 = where->host.find(':') != std::string::npos;
  std::fprintf(stderr, "shmlog webhook %s: webhook at https://%s%s%s:%d/\n", SHMLOG_VERSION, v6 ? "[" : "",
               where->host.c_str(), v6 ? "]" : "", server.value()->port());
  int sig = 0;
  sigwait(&stop_signals, &sig);
  if (options.shutdown_delay.count() > 0) {
    std::fprintf(stderr, "shmlog webhook: %s: answering for %lld ms more (--shutdown-delay)\n",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT",
                 static_cast<long long>(options.shutdown_delay.count()));
    std::this_thread::sleep_for(options.shutdown_delay);
  }
  std::fprintf(stderr, "shmlog webhook: %s: no new connections; finishing the reviews in flight\n",
               sig == SIGTERM ? "SIGTERM" : "SIGINT");
  server.value()->stop();
  std::fprintf(stderr, "shmlog webhook: stopped\n");
  return kExitOk;
}

}  // namespace

void add_webhook_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "webhook",
      "Serve the mutating admission webhook: AdmissionReview v1 on POST /mutate over TLS, injecting "
      "pods as `shmlog inject` does (never rejecting one)");
  cmd->add_option("--listen", options->listen, "HOST:PORT to listen on (port 0: any free port)")
      ->capture_default_str();
  cmd->add_option("--tls-cert-file", options->cert_file,
                  "PEM certificate (and chain) of the server; read again when it changes")
      ->required();
  cmd->add_option("--tls-key-file", options->key_file,
                  "PEM private key of the certificate; read again when it changes")
      ->required();
  add_duration_option(*cmd, "--shutdown-delay", options->shutdown_delay,
                      "After SIGTERM, keep answering this long before stopping (until the pod's endpoint "
                      "is gone; default 0s)",
                      DurationMin::zero);
  add_inject_options(*cmd, options->inject);
  cmd->callback([&action, options] { action = [options] { return run(*options); }; });
}

}  // namespace shmlog::cli
