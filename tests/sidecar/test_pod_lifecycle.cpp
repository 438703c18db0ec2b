// What Kubernetes runs besides `shmlog sidecar` itself, as real processes: the exec probes
// (`shmlog probe`), a legacy sidecar's preStop (`shmlog wait-apps`), and a legacy Job's sidecar
// that stops by itself once its app is gone (--exit-with-apps).
#include "output_check.hpp"
#include "process/process_util.hpp"
#include "sidecar_run.hpp"
#include "support/test_dir.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <sys/wait.h>

using namespace shmlog;
using namespace shmlog::test;
using namespace std::chrono_literals;

namespace {

// Runs `shmlog ARGS...` to its end; its exit code (-1 if it did not exit normally in 30 s).
int run_cli(std::vector<std::string> args, const TempDir& root) {
  args.insert(args.begin(), SHMLOG_CLI_PATH);
  Child c = Child::spawn(args, root.file("cli.err"));
  const auto status = c.wait(30s);
  return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

// True while the child runs (looked at without reaping it).
bool running(const Child& c) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(c.pid()), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == 0;
}

bool any_ring(const TempDir& root) {
  for (const auto& e : std::filesystem::directory_iterator(root.file("rings")))
    if (e.path().extension() == ".ring") return true;
  return false;
}

}  // namespace

TEST_CASE("shmlog probe: exit 0 on 200 from the sidecar's endpoint, 1 on anything else") {
  TempDir root("shmlog-pod");
  child_environment(root);
  Child sidecar = Child::spawn(sidecar_argv(root), root.file("sidecar.err"));
  const std::string url = "http://127.0.0.1:" + std::to_string(served_port(root));
  CHECK(run_cli({"probe", "/livez", "--url", url}, root) == 0);
  int ready = 1;
  for (int i = 0; i < 100 && ready != 0; ++i, std::this_thread::sleep_for(50ms))
    ready = run_cli({"probe", "/readyz", "--url", url}, root);
  CHECK(ready == 0);
  CHECK(run_cli({"probe", "/no-such-path", "--url", url}, root) == 1);
  CHECK(read_file(root.file("cli.err")).find("answered HTTP 404") != std::string::npos);

  // Without --url it asks where the sidecar listens: SHMLOG_HTTP_ADDR, as the sidecar reads it.
  ::setenv("SHMLOG_HTTP_ADDR", url.substr(std::string_view("http://").size()).c_str(), 1);
  CHECK(run_cli({"probe", "/livez"}, root) == 0);
  // Off on purpose: nothing to fail on (a probe that never passes would keep the pod from starting).
  ::setenv("SHMLOG_HTTP_ADDR", "off", 1);
  CHECK(run_cli({"probe", "/livez"}, root) == 0);
  ::setenv("SHMLOG_HTTP_ADDR", "nonsense", 1);
  CHECK(run_cli({"probe", "/livez"}, root) == 2);
  CHECK(read_file(root.file("cli.err")).find("SHMLOG_HTTP_ADDR") != std::string::npos);
  ::unsetenv("SHMLOG_HTTP_ADDR");

  sidecar.kill(SIGTERM);
  CHECK(exited_ok(sidecar.wait(30s)));
  CHECK(run_cli({"probe", "/livez", "--url", url, "--timeout", "500ms"}, root) == 1);  // nobody listens
  CHECK(read_file(root.file("cli.err")).find("no answer") != std::string::npos);
}

TEST_CASE("shmlog wait-apps returns once no ring has a live writer, and fails on its timeout before") {
  TempDir root("shmlog-pod");
  child_environment(root);
  CHECK(run_cli({"wait-apps", "--dir", root.file("rings"), "--timeout", "1s"}, root) == 0);  // no app yet

  Child load = Child::spawn(loadgen_argv(1, 1, 3000, 1000));  // three seconds of records
  for (int i = 0; i < 200 && !any_ring(root); ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(any_ring(root));
  CHECK(run_cli({"wait-apps", "--dir", root.file("rings"), "--timeout", "200ms"}, root) == 1);
  CHECK(read_file(root.file("cli.err")).find("still have a live writer") != std::string::npos);
  CHECK(running(load));
  CHECK(run_cli({"wait-apps", "--dir", root.file("rings"), "--timeout", "30s"}, root) == 0);
  CHECK_FALSE(running(load));  // it returned because the app had gone, not before
  CHECK(exited_ok(load.wait(10s)));
}

TEST_CASE("--exit-with-apps: the sidecar waits for an app, then stops by itself once it has gone") {
  TempDir root("shmlog-pod");
  child_environment(root);
  auto argv = sidecar_argv(root);
  argv.insert(argv.end(), {"--exit-with-apps", "true"});
  Child sidecar = Child::spawn(argv, root.file("sidecar.err"));
  wait_started(root, 1);
  std::this_thread::sleep_for(3s);
  CHECK_MESSAGE(running(sidecar), "it must not stop before any app has come");

  Child load = Child::spawn(loadgen_argv(1, 2, 5000, 0));
  REQUIRE(exited_ok(load.wait(60s)));
  CHECK_MESSAGE(exited_ok(sidecar.wait(30s)), read_file(root.file("sidecar.err")));
  CHECK(read_file(root.file("sidecar.err")).find("(--exit-with-apps): stopping") != std::string::npos);
  auto check = read_output(root.file("out"), "load");
  expect_loadgen_ids(check, 1, 2, 5000);
  CHECK_MESSAGE(check.ok(), summary(check));
}
