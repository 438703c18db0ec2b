// No usable ring: the app keeps running, is told once on stderr, and its records go to stderr as
// the same JSON lines (or nowhere). Each case runs in a forked child so stderr, rlimits and the
// process-wide logger state are its own.
#include "support/test_dir.hpp"

#include <shmlog/logger.hpp>

#include <csignal>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace shmlog;

namespace {

struct ChildResult {
  int status = -1;
  std::string err;
};

// Runs `body` in a child whose stderr goes to a file; returns its wait status and stderr.
ChildResult in_child(const test::TempDir& dir, const std::function<int()>& body) {
  const std::string err_path = dir.file("stderr.txt");
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 2);
    ::_exit(body());
  }
  ChildResult r;
  ::waitpid(pid, &r.status, 0);
  r.err = test::read_file(err_path);
  return r;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

int log_some(const Config& config) {
  if (!init(config)) return 3;
  Logger log{"fb"};
  for (int i = 0; i < 3; ++i) log.warning("fallback {}", i, kv("i", i));
  if (!flush(std::chrono::milliseconds(10))) return 4;
  shutdown();
  log.error("after shutdown");
  return sink_name() == "stderr" ? 0 : 5;
}

void check_fallback_output(const ChildResult& r, const char* reason) {
  REQUIRE(WIFEXITED(r.status));
  CHECK(WEXITSTATUS(r.status) == 0);
  auto lines = lines_of(r.err);
  REQUIRE(lines.size() == 5);
  CHECK(lines[0].find("shmlog: no ring in SHMLOG_DIR=") == 0);
  CHECK_MESSAGE(lines[0].find(reason) != std::string::npos, lines[0]);
  CHECK(lines[0].find("JSON lines to stderr") != std::string::npos);
  for (std::size_t i = 1; i < lines.size(); ++i) {
    auto err = test::schema_error(lines[i]);
    CHECK_MESSAGE(err.empty(), err);
  }
  CHECK(test::field(lines[1], "message") == "fallback 0");
  CHECK(test::field(lines[1], "logger") == "fb");
  CHECK(test::field(lines[1], "context.i") == "0");
  CHECK(test::field(lines[4], "message") == "after shutdown");
}

}  // namespace

TEST_CASE("a missing directory falls back to stderr JSON lines, said once") {
  test::TempDir dir;
  auto config = test::test_config();
  config.dir = dir.file("not-mounted");
  check_fallback_output(in_child(dir, [&] { return log_some(config); }), "No such file or directory");
}

TEST_CASE("a path that is not a directory falls back too") {
  test::TempDir dir;
  test::write_file(dir.file("a-file"), "x");
  auto config = test::test_config();
  config.dir = dir.file("a-file");
  check_fallback_output(in_child(dir, [&] { return log_some(config); }), "Not a directory");
}

TEST_CASE("no space for the ring (file size limit) falls back instead of SIGBUS later") {
  test::TempDir dir;
  auto config = test::test_config();
  config.dir = dir.path();
  auto r = in_child(dir, [&] {
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{64 * 1024, 64 * 1024};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    return log_some(config);
  });
  check_fallback_output(r, "cannot allocate");
}

TEST_CASE("a full volume (a real 128 KiB tmpfs) falls back") {
  test::TempDir dir;
  const std::string mnt = dir.file("small");
  REQUIRE(::mkdir(mnt.c_str(), 0755) == 0);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=128k") != 0) {
    MESSAGE("cannot mount a tmpfs here (not root?): covered by the file size limit case only");
    return;
  }
  auto config = test::test_config();
  config.dir = mnt;
  auto r = in_child(dir, [&] { return log_some(config); });
  ::umount(mnt.c_str());
  check_fallback_output(r, "No space left on device");
}

TEST_CASE("discard mode writes nothing but the one notice") {
  test::TempDir dir;
  auto config = test::test_config();
  config.dir = dir.file("missing");
  config.fallback = FallbackSink::discard;
  auto r = in_child(dir, [&] {
    if (!init(config)) return 3;
    Logger log;
    for (int i = 0; i < 100; ++i) log.error("gone {}", i);
    return sink_name() == "discard" ? 0 : 5;
  });
  REQUIRE(WIFEXITED(r.status));
  CHECK(WEXITSTATUS(r.status) == 0);
  auto lines = lines_of(r.err);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("nowhere (discard)") != std::string::npos);
}

TEST_CASE("a closed stderr pipe does not kill the app") {
  test::TempDir dir;
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    ::dup2(fds[1], 2);
    std::signal(SIGPIPE, SIG_DFL);
    auto config = test::test_config();
    config.dir = dir.file("missing");
    if (!init(config)) ::_exit(3);
    Logger log;
    for (int i = 0; i < 50; ++i) log.error("into a closed pipe {}", i);
    ::_exit(0);
  }
  ::close(fds[0]);
  ::close(fds[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK_MESSAGE(WIFEXITED(status), "child died of signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("the first log call starts from the environment without init") {
  test::TempDir dir;
  auto r = in_child(dir, [&] {
    ::setenv("SHMLOG_DIR", dir.path().c_str(), 1);
    ::setenv("SHMLOG_SERVICE", "lazy", 1);
    ::setenv("SHMLOG_LEVEL", "bogus", 1);
    Logger log;
    log.info("first");
    return ring_path().find("/lazy.") != std::string::npos && sink_name() == "ring" ? 0 : 5;
  });
  REQUIRE(WIFEXITED(r.status));
  CHECK(WEXITSTATUS(r.status) == 0);
  CHECK(r.err.find("ignoring invalid settings: SHMLOG_LEVEL=\"bogus\"") != std::string::npos);
  auto rings = list_rings(dir.path());
  REQUIRE(rings);
  REQUIRE(rings->size() == 1);
  auto lines = test::drain_lines(rings->front());
  REQUIRE(lines.size() == 1);
  CHECK(test::field(lines[0], "service") == "lazy");
}
