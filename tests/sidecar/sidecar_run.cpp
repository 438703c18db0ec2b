#include "sidecar_run.hpp"

#include <chrono>
#include <filesystem>
#include <thread>

#include <doctest/doctest.h>
#include <sys/wait.h>

namespace shmlog::test {

using namespace std::chrono_literals;

std::vector<std::string> sidecar_argv(const TempDir& root) {
  return {SHMLOG_CLI_PATH,
          "sidecar",
          "--dir",
          root.file("rings"),
          "--out",
          root.file("out"),
          "--shutdown-deadline",
          "10s",
          "--rescan",
          "200ms",
          "--http-addr",  // tests run side by side: each its own port
          "127.0.0.1:0"};
}

std::vector<std::string> loadgen_argv(unsigned p, unsigned t, std::uint64_t n, unsigned rate) {
  return {SHMLOG_LOADGEN_PATH,
          "--processes",
          std::to_string(p),
          "--threads",
          std::to_string(t),
          "--records",
          std::to_string(n),
          "--rate",
          std::to_string(rate),
          "--service",
          "load",
          "--overflow",
          "block"};
}

void child_environment(const TempDir& root) {
  std::filesystem::create_directories(root.file("rings"));
  ::setenv("SHMLOG_DIR", root.file("rings").c_str(), 1);
  ::setenv("SHMLOG_RING_BYTES", "64MiB", 1);
}

// The port the sidecar said it serves on ("status at http://127.0.0.1:PORT/"), the `nth` such
// line of its stderr file (1 for the first start).
int served_port(const TempDir& root, std::size_t nth) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  constexpr std::string_view kSaid = "status at http://127.0.0.1:";
  for (;;) {
    const std::string err = read_file(root.file("sidecar.err"));
    std::size_t at = std::string::npos, seen = 0;
    for (auto p = err.find(kSaid); p != std::string::npos; p = err.find(kSaid, p + 1))
      if (++seen == nth) at = p;
    if (at != std::string::npos) return std::stoi(err.substr(at + kSaid.size()));
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "the sidecar did not say its port:\n"
                                                                     << err);
    std::this_thread::sleep_for(10ms);
  }
}

namespace {

std::size_t count_started(const std::string& err) {
  std::size_t n = 0;
  for (auto at = err.find(": draining "); at != std::string::npos; at = err.find(": draining ", at + 1)) ++n;
  return n;
}

}  // namespace

void wait_started(const TempDir& root, std::size_t count) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    const std::string err = read_file(root.file("sidecar.err"));
    if (count_started(err) >= count) return;
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "the sidecar did not start:\n" << err);
    std::this_thread::sleep_for(5ms);
  }
}

std::vector<std::string> file_lines(const std::string& path) {
  std::vector<std::string> out;
  const std::string text = read_file(path);
  std::size_t at = 0;
  while (at < text.size()) {
    const auto nl = text.find('\n', at);
    if (nl == std::string::npos) break;
    out.push_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  return out;
}

std::uint64_t json_uint(const std::string& text, const char* key) {
  const std::string v = field(text, key);
  return v.empty() ? 0 : std::stoull(v);
}

std::size_t kill_and_restart(Child& sidecar, const std::vector<std::string>& argv, const TempDir& root) {
  sidecar.kill(SIGKILL);
  REQUIRE(sidecar.wait(10s));
  // Counted after the wait: the killed one writes nothing more. It may have been killed before it
  // said it was draining, so the count of kills is not the count of lines.
  const std::size_t before = count_started(read_file(root.file("sidecar.err")));
  sidecar = Child::spawn(argv, root.file("sidecar.err"));
  return before + 1;
}

bool exited_ok(const std::optional<int>& status) {
  return status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
}

}  // namespace shmlog::test
