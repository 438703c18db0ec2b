#include "cli/sidecar_command.hpp"

#include "control/level_overrides.hpp"
#include "drain/drainer.hpp"
#include "http/status_server.hpp"
#include "http/tail_hub.hpp"
#include "settings/sidecar_settings.hpp"
#include "sinks/loki/shipper.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include <unistd.h>

namespace shmlog::cli {
namespace {

sidecar::Drainer* g_drainer = nullptr;  // for the signal handlers only
// When the first SIGTERM came (steady clock, ns): the drain and the last Loki push share the
// shutdown deadline counted from it.
std::atomic<std::int64_t> g_stop_ns{0};

std::int64_t steady_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // async-signal-safe, and what steady_clock reads
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

extern "C" void on_stop(int) {
  std::int64_t none = 0;
  g_stop_ns.compare_exchange_strong(none, steady_ns());
  if (g_drainer != nullptr) g_drainer->stop();
}

extern "C" void on_hangup(int) {
  if (g_drainer != nullptr) g_drainer->reopen();
}

void install_signals() {
  struct sigaction sa {};
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sa.sa_handler = on_hangup;
  sigaction(SIGHUP, &sa, nullptr);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, nullptr);
}

// The level overrides of PUT /api/level, kept next to the logs. A broken file must not keep the
// sidecar down: it is set aside and the sidecar starts without overrides.
std::unique_ptr<sidecar::LevelOverrides> load_levels(const std::string& out) {
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  const std::string path = out + "/.shmlog-levels.json";
  auto loaded = sidecar::LevelOverrides::load(path);
  if (loaded) return std::move(loaded.value());
  const std::string aside = path + ".broken";
  const bool moved = std::rename(path.c_str(), aside.c_str()) == 0;
  std::fprintf(stderr, "shmlog sidecar: %s%s; starting without level overrides\n",
               loaded.error().message.c_str(), moved ? ("; moved to " + aside).c_str() : "");
  return sidecar::LevelOverrides::empty(path);
}

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Options {
  std::map<std::string, std::string> given;  // flag name -> value, only those on the command line
  std::string config;
};

int run(const Options& options) {
  std::string config_path = options.config;
  if (config_path.empty())
    if (const char* env = std::getenv("SHMLOG_CONFIG")) config_path = env;
  std::map<std::string, std::string> from_file;
  if (!config_path.empty()) {
    auto file = sidecar::read_config_file(config_path);
    if (!file) {
      std::fprintf(stderr, "shmlog sidecar: %s\n", file.error().message.c_str());
      return kExitUsage;
    }
    from_file = std::move(file.value());
  }
  auto settings = sidecar::resolve_settings(options.given, from_file, sidecar::settings_environment());
  if (!settings) {
    std::fprintf(stderr, "shmlog sidecar: %s\n", settings.error().message.c_str());
    return kExitUsage;
  }
  settings->config_file = config_path;
  const std::string dir = settings->dir, out = settings->out;
  const auto shutdown_deadline = settings->shutdown_deadline;
  const sidecar::HttpOptions http = settings->http;
  sidecar::SidecarInfo info;
  info.version = SHMLOG_VERSION;
  info.pid = static_cast<std::int32_t>(::getpid());
  info.started_unix_ms = unix_ms_now();
  info.settings = settings->effective;
  const auto started_at = std::chrono::steady_clock::now();
  std::string loki_url = settings->loki.url;
  for (const auto& [flag, value] : settings->effective)
    if (flag == "loki-url") loki_url = value;  // user info masked
  // The shipper reads the files back on its own thread: Loki slow or down never slows the drain.
  std::unique_ptr<sidecar::loki::Shipper> shipper;
  if (!settings->loki.url.empty()) {
    auto started = sidecar::loki::Shipper::start(settings->loki, out, [](const std::string& text) {
      std::fprintf(stderr, "shmlog sidecar: %s\n", text.c_str());
    });
    if (!started) {
      std::fprintf(stderr, "shmlog sidecar: %s\n", started.error().message.c_str());
      return kExitUsage;
    }
    shipper = std::move(started.value());
  }
  auto levels = load_levels(out);
  sidecar::TailHub tail;
  sidecar::Drainer drainer(std::move(settings.value()), levels.get(), &tail);
  std::unique_ptr<sidecar::StatusServer> server;
  if (http.enabled) {
    sidecar::StatusSources sources;
    sources.levels = levels.get();
    sources.tail = &tail;
    sources.snapshot = [&drainer, &shipper, info, started_at, loki_url] {
      sidecar::Snapshot s;
      s.sidecar = info;
      s.sidecar.uptime_s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at).count();
      s.drain = drainer.snapshot();
      if (shipper) s.loki = shipper->stats();
      s.loki_url = loki_url;
      return s;
    };
    auto serving = sidecar::StatusServer::start(http, std::move(sources));
    if (!serving) {
      std::fprintf(stderr, "shmlog sidecar: %s\n", serving.error().message.c_str());
      return kExitUsage;
    }
    server = std::move(serving.value());
  }
  g_drainer = &drainer;
  install_signals();
  // Said once the signals are ours: from this line on, SIGTERM means "drain, then exit 0".
  std::fprintf(stderr, "shmlog sidecar %s: draining %s into %s%s\n", SHMLOG_VERSION, dir.c_str(), out.c_str(),
               shipper ? " and shipping to Loki" : "");
  if (server)
    std::fprintf(stderr, "shmlog sidecar: status at http://%s%s%s:%d/\n",
                 http.host.find(':') != std::string::npos ? "[" : "", http.host.c_str(),
                 http.host.find(':') != std::string::npos ? "]" : "", server->port());
  const int rc = drainer.run();
  g_drainer = nullptr;
  const auto s = drainer.stats();
  std::fprintf(stderr,
               "shmlog sidecar: stopped; %llu records written, %llu found already written at start, "
               "%llu rings drained and removed\n",
               static_cast<unsigned long long>(s.records), static_cast<unsigned long long>(s.resumed_skips),
               static_cast<unsigned long long>(s.rings_removed));
  if (shipper) {
    // One last push of what the files hold, within what is left of the shutdown deadline (at
    // least a second, so a drain that used it all still gets one attempt).
    const auto stop_ns = g_stop_ns.load();
    const auto now = std::chrono::steady_clock::now();
    auto deadline = stop_ns != 0 ? std::chrono::steady_clock::time_point(std::chrono::nanoseconds(stop_ns)) +
                                       shutdown_deadline
                                 : now;
    deadline = std::max(deadline, now + std::chrono::seconds(1));
    shipper->finish(deadline);
    const auto l = shipper->stats();
    std::fprintf(
        stderr,
        "shmlog sidecar: Loki: %llu entries sent, %llu rejected, %llu bytes lost to rotation, %llu bytes "
        "left to ship\n",
        static_cast<unsigned long long>(l.entries_sent), static_cast<unsigned long long>(l.entries_rejected),
        static_cast<unsigned long long>(l.lost_bytes), static_cast<unsigned long long>(l.pending_bytes));
  }
  // Served until the end, so /readyz says "stopping" while the last records go out.
  if (server) server->stop();
  return rc;
}

}  // namespace

void add_sidecar_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "sidecar",
      "Drain every ring in --dir into JSON-lines files in --out (the sidecar container's process)");
  for (const auto& s : sidecar::sidecar_settings()) {
    const std::string flag(s.flag);
    auto* opt = cmd->add_option_function<std::string>(
        "--" + flag, [options, flag](const std::string& v) { options->given[flag] = v; },
        std::string(s.help) + " Allowed: " + std::string(s.allowed) + ". Env: " + std::string(s.env) + ".");
    opt->default_str(std::string(s.default_value));
    opt->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // a later flag wins, as usual
  }
  cmd->add_option("--config", options->config,
                  "YAML file of settings (names as the flags, without --). Env: SHMLOG_CONFIG. Flags "
                  "and environment win over it.");
  cmd->callback([&action, options] { action = [options] { return run(*options); }; });
}

}  // namespace shmlog::cli
