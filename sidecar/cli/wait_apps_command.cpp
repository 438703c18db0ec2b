#include "cli/wait_apps_command.hpp"

#include "cli/duration_option.hpp"
#include "settings/sidecar_settings.hpp"

#include <shmlog/reader.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

namespace shmlog::cli {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPollEvery = std::chrono::milliseconds(100);

// The rings whose writer still holds its liveness lock and has not closed the ring. A ring that
// cannot be read (being created, removed, foreign) is no app to wait for.
std::vector<std::string> attached_rings(const std::string& dir) {
  std::vector<std::string> attached;
  auto paths = list_rings(dir);
  if (!paths) return attached;
  for (const std::string& path : *paths) {
    auto reader = RingReader::open(path, OpenMode::observer);
    if (reader && (*reader)->writer_alive() && (*reader)->writer_state() != ring::WriterState::closed)
      attached.push_back(path);
  }
  return attached;
}

}  // namespace

int run_wait_apps(const WaitAppsOptions& options) {
  std::string dir = options.dir;
  if (dir.empty()) {
    const char* env = std::getenv("SHMLOG_DIR");
    dir = env != nullptr && *env != '\0' ? env : sidecar::SidecarSettings{}.dir;
  }
  const auto deadline = Clock::now() + options.timeout;
  for (;;) {
    const auto attached = attached_rings(dir);
    if (attached.empty()) {
      std::fprintf(stderr, "shmlog wait-apps: no app attached to a ring in %s\n", dir.c_str());
      return kExitOk;
    }
    if (Clock::now() >= deadline) {
      std::fprintf(stderr, "shmlog wait-apps: %zu ring(s) still have a live writer after the timeout:\n",
                   attached.size());
      for (const auto& path : attached) std::fprintf(stderr, "  %s\n", path.c_str());
      return kExitFailed;
    }
    std::this_thread::sleep_for(kPollEvery);
  }
}

void add_wait_apps_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<WaitAppsOptions>();
  CLI::App* cmd = app.add_subcommand(
      "wait-apps", "Wait until no ring has a live writer (the preStop of a legacy sidecar container)");
  cmd->add_option("--dir", options->dir, "The ring directory (default: $SHMLOG_DIR, else /var/run/shmlog)")
      ->type_name("DIR");
  add_duration_option(*cmd, "--timeout", options->timeout, "Give up after this long (default 25s)",
                      DurationMin::zero);
  cmd->footer("Exit status: 0 no app attached, 1 the timeout passed first.\n");
  cmd->callback([&action, options] { action = [options] { return run_wait_apps(*options); }; });
}

}  // namespace shmlog::cli
