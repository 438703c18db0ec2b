#include "cli/sidecar_command.hpp"

#include "drain/drainer.hpp"
#include "settings/sidecar_settings.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

namespace shmlog::cli {
namespace {

sidecar::Drainer* g_drainer = nullptr;  // for the signal handlers only

extern "C" void on_stop(int) {
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
  sidecar::Drainer drainer(std::move(settings.value()));
  g_drainer = &drainer;
  install_signals();
  // Said once the signals are ours: from this line on, SIGTERM means "drain, then exit 0".
  std::fprintf(stderr, "shmlog sidecar %s: draining %s into %s\n", SHMLOG_VERSION, dir.c_str(), out.c_str());
  const int rc = drainer.run();
  g_drainer = nullptr;
  const auto s = drainer.stats();
  std::fprintf(stderr,
               "shmlog sidecar: stopped; %llu records written, %llu found already written at start, "
               "%llu rings drained and removed\n",
               static_cast<unsigned long long>(s.records), static_cast<unsigned long long>(s.resumed_skips),
               static_cast<unsigned long long>(s.rings_removed));
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
  }
  cmd->add_option("--config", options->config,
                  "YAML file of settings (names as the flags, without --). Env: SHMLOG_CONFIG. Flags "
                  "and environment win over it.");
  cmd->callback([&action, options] { action = [options] { return run(*options); }; });
}

}  // namespace shmlog::cli
