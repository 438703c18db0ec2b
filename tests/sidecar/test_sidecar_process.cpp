// `shmlog sidecar` as a process: real producers (shmlog-loadgen), real files, real kill -9.
// Every record's id must be in the files exactly once, in order per writer thread.
#include "output_check.hpp"
#include "process/process_util.hpp"
#include "sidecar_run.hpp"
#include "support/test_dir.hpp"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <sys/wait.h>

using namespace shmlog;
using namespace std::chrono_literals;
using test::Child;
using namespace shmlog::test;

TEST_CASE("every record reaches the file exactly once, in order, with a steady sidecar") {
  test::TempDir root("shmlog-sidecar");
  child_environment(root);
  // The downward API's variables given to the sidecar only: they fill in what the apps lack.
  ::setenv("POD_NAME", "web-7f9c", 1);
  ::setenv("POD_NAMESPACE", "shop", 1);
  Child sidecar = Child::spawn(sidecar_argv(root), root.file("sidecar.err"));
  ::unsetenv("POD_NAME");
  ::unsetenv("POD_NAMESPACE");
  Child load = Child::spawn(loadgen_argv(3, 2, 60000, 0));
  REQUIRE(exited_ok(load.wait(60s)));
  wait_started(root, 1);
  sidecar.kill(SIGTERM);
  const auto status = sidecar.wait(30s);
  CHECK_MESSAGE(exited_ok(status), test::read_file(root.file("sidecar.err")));
  auto check = test::read_output(root.file("out"), "load");
  test::expect_loadgen_ids(check, 3, 2, 60000);
  CHECK_MESSAGE(check.ok(), test::summary(check));
  const auto first = file_lines(root.file("out/load.log")).at(0);
  CHECK(test::field(first, "pod") == "web-7f9c");
  CHECK(test::field(first, "namespace") == "shop");
  // Dead producers' rings were drained to the end, then removed.
  CHECK(std::filesystem::is_empty(root.file("rings")));
}

TEST_CASE("kill -9 of the sidecar, again and again under load: nothing lost, nothing twice") {
  test::TempDir root("shmlog-sidecar");
  child_environment(root);
  constexpr std::uint64_t kRecords = 150000;
  Child load = Child::spawn(loadgen_argv(2, 2, kRecords, 50000));  // about 3 s of load
  std::mt19937 rng(12345);
  int kills = 0;
  std::size_t started = 1;
  Child sidecar = Child::spawn(sidecar_argv(root), root.file("sidecar.err"));
  // Kills at random moments: while starting, resuming, formatting, writing, moving cursors.
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 280));
    started = kill_and_restart(sidecar, sidecar_argv(root), root);
    ++kills;
  }
  REQUIRE(exited_ok(load.wait(120s)));
  wait_started(root, started);
  sidecar.kill(SIGTERM);
  CHECK_MESSAGE(exited_ok(sidecar.wait(30s)), test::read_file(root.file("sidecar.err")));
  auto check = test::read_output(root.file("out"), "load");
  test::expect_loadgen_ids(check, 2, 2, kRecords);
  MESSAGE(kills << " kills; " << test::summary(check));
  CHECK_MESSAGE(check.ok(), test::summary(check));
}

TEST_CASE("records an app dropped are reported once, as a WARNING line in its file") {
  test::TempDir root("shmlog-sidecar");
  child_environment(root);
  ::setenv("SHMLOG_RING_BYTES", "64KiB", 1);  // small: without a sidecar running, most are dropped
  std::vector<std::string> argv = loadgen_argv(1, 1, 20000, 0);
  argv[argv.size() - 1] = "drop";
  Child load = Child::spawn(argv);
  const auto summary = load.read_line(60s);
  REQUIRE(summary);
  REQUIRE(exited_ok(load.wait(60s)));
  const std::uint64_t dropped = json_uint(*summary, "dropped");
  REQUIRE(dropped > 0);
  for (int run = 0; run < 2; ++run) {  // the second run must not report the same drops again
    Child sidecar = Child::spawn(sidecar_argv(root), root.file("sidecar.err"));
    wait_started(root, static_cast<std::size_t>(run) + 1);
    std::this_thread::sleep_for(500ms);
    sidecar.kill(SIGTERM);
    REQUIRE(exited_ok(sidecar.wait(30s)));
  }
  std::uint64_t reported = 0, warnings = 0, records = 0;
  for (const auto& line : file_lines(root.file("out/load.log"))) {
    CHECK(test::schema_error(line).empty());
    if (test::field(line, "file") != "shmlog-sidecar") {
      ++records;
      continue;
    }
    ++warnings;
    CHECK(test::field(line, "level") == "WARNING");
    CHECK(test::field(line, "message").find("records dropped by the app") != std::string::npos);
    const std::string context = test::field(line, "context");
    reported += json_uint(context, "dropped");
    CHECK(json_uint(context, "dropped") == json_uint(context, "dropped_info"));
  }
  MESSAGE(records << " records, " << dropped << " dropped, " << warnings << " warnings reporting "
                  << reported);
  CHECK(warnings >= 1);
  CHECK(reported == dropped);
  CHECK(records + dropped == 20000);
}

TEST_CASE("a hostile ring file beside good ones is skipped with a message; the rest drain") {
  test::TempDir root("shmlog-sidecar");
  child_environment(root);
  test::write_file(root.file("rings/hostile.1.0.ring"), std::string(4096, '\xff'));
  test::write_file(root.file("rings/empty.2.0.ring"), "");
  Child sidecar = Child::spawn(sidecar_argv(root), root.file("sidecar.err"));
  Child load = Child::spawn(loadgen_argv(2, 2, 20000, 0));
  REQUIRE(exited_ok(load.wait(60s)));
  wait_started(root, 1);
  sidecar.kill(SIGTERM);
  REQUIRE(exited_ok(sidecar.wait(30s)));
  auto check = test::read_output(root.file("out"), "load");
  test::expect_loadgen_ids(check, 2, 2, 20000);
  CHECK_MESSAGE(check.ok(), test::summary(check));
  const std::string err = test::read_file(root.file("sidecar.err"));
  CHECK(err.find("skipping " + root.file("rings/hostile.1.0.ring")) != std::string::npos);
  CHECK(err.find("skipping " + root.file("rings/empty.2.0.ring")) != std::string::npos);
  CHECK(std::filesystem::exists(root.file("rings/hostile.1.0.ring")));  // not ours to delete
}

TEST_CASE("a full output volume: the sidecar keeps running, nothing partial, nothing lost") {
  test::TempDir root("shmlog-sidecar");
  child_environment(root);
  std::filesystem::create_directories(root.file("out"));
  if (::system(("mount -t tmpfs -o size=1m tmpfs " + root.file("out") + " 2>/dev/null").c_str()) != 0) {
    MESSAGE("cannot mount a tmpfs here (not root?): skipped");
    return;
  }
  struct Unmount {
    std::string dir;
    ~Unmount() { (void)::system(("umount -l " + dir).c_str()); }
  } unmount{root.file("out")};
  // A filler takes most of the volume; the records need more than what is left.
  test::write_file(root.file("out/filler"), std::string(700 << 10, 'x'));
  Child sidecar = Child::spawn(sidecar_argv(root), root.file("sidecar.err"));
  Child load = Child::spawn(loadgen_argv(1, 2, 6000, 0));  // about 1.6 MB of lines
  REQUIRE(exited_ok(load.wait(60s)));
  std::this_thread::sleep_for(1500ms);
  // Full: the file holds whole lines only, the rest waits in the rings.
  const std::string partial = test::read_file(root.file("out/load.log"));
  CHECK((partial.empty() || partial.back() == '\n'));
  CHECK(test::read_file(root.file("sidecar.err")).find("retrying") != std::string::npos);
  std::filesystem::remove(root.file("out/filler"));
  ::system(("mount -o remount,size=8m " + root.file("out")).c_str());
  std::this_thread::sleep_for(500ms);
  wait_started(root, 1);
  sidecar.kill(SIGTERM);
  CHECK_MESSAGE(exited_ok(sidecar.wait(30s)), test::read_file(root.file("sidecar.err")));
  auto check = test::read_output(root.file("out"), "load");
  test::expect_loadgen_ids(check, 1, 2, 6000);
  CHECK_MESSAGE(check.ok(), test::summary(check));
}

TEST_CASE("rotation under load, with kill -9 between: every record once, across the backups") {
  test::TempDir root("shmlog-sidecar");
  child_environment(root);
  auto argv = sidecar_argv(root);
  for (const char* a : {"--rotate-bytes", "64KiB", "--rotate-keep", "1000"}) argv.emplace_back(a);
  constexpr std::uint64_t kRecords = 40000;  // about 14 MB of lines: some 200 rotations
  Child load = Child::spawn(loadgen_argv(2, 2, kRecords, 20000));
  Child sidecar = Child::spawn(argv, root.file("sidecar.err"));
  std::mt19937 rng(7);
  std::size_t started = 1;
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 200));
    started = kill_and_restart(sidecar, argv, root);
  }
  REQUIRE(exited_ok(load.wait(60s)));
  wait_started(root, started);
  sidecar.kill(SIGTERM);
  CHECK_MESSAGE(exited_ok(sidecar.wait(30s)), test::read_file(root.file("sidecar.err")));
  auto check = test::read_output(root.file("out"), "load");
  test::expect_loadgen_ids(check, 2, 2, kRecords);
  CHECK_MESSAGE(check.ok(), test::summary(check));
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(root.file("out"))) {
    files += e.path().filename().string().starts_with("load.log");
    CHECK(e.file_size() <= 64u << 10);  // no piece is bigger than a file here
  }
  MESSAGE(files << " files");
  CHECK(files > 10);
}

TEST_CASE("sampling with kill -9 between: kept records once, the rest counted in WARNING lines") {
  test::TempDir root("shmlog-sidecar");
  child_environment(root);
  auto argv = sidecar_argv(root);
  for (const char* a : {"--sample", "info=0.1"}) argv.emplace_back(a);
  constexpr std::uint64_t kRecords = 60000;
  Child load = Child::spawn(loadgen_argv(1, 2, kRecords, 30000));
  Child sidecar = Child::spawn(argv, root.file("sidecar.err"));
  std::size_t started = 1;
  for (int i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + 100 * i));
    started = kill_and_restart(sidecar, argv, root);
  }
  REQUIRE(exited_ok(load.wait(60s)));
  wait_started(root, started);
  sidecar.kill(SIGTERM);
  CHECK_MESSAGE(exited_ok(sidecar.wait(30s)), test::read_file(root.file("sidecar.err")));
  std::uint64_t records = 0, sampled = 0;
  std::set<std::string> ids;
  for (const auto& line : file_lines(root.file("out/load.log"))) {
    if (test::field(line, "file") == "shmlog-sidecar") {
      sampled += json_uint(test::field(line, "context"), "sampled_info");
      continue;
    }
    ++records;
    CHECK(ids.insert(test::field(test::field(line, "context"), "id")).second);  // never twice
  }
  MESSAGE(records << " written, " << sampled << " sampled out");
  // A killed process's counts since its last report are lost with it: at most a few thousand
  // here. What is written is about a tenth, and never a record twice.
  CHECK(records + sampled <= kRecords);
  CHECK(records >= kRecords / 10);
  CHECK(records <= kRecords / 10 + 5 * 2);  // each restart starts its one-in-ten count afresh
  CHECK(sampled > 0);
}

namespace {

// The pids of `parent`'s children (from /proc).
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  const std::string path =
      "/proc/" + std::to_string(parent) + "/task/" + std::to_string(parent) + "/children";
  std::string text = test::read_file(path);
  std::size_t at = 0;
  while (at < text.size()) {
    const auto space = text.find(' ', at);
    const std::string one = text.substr(at, space - at);
    if (!one.empty()) out.push_back(static_cast<pid_t>(std::stol(one)));
    if (space == std::string::npos) break;
    at = space + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("kill -9 of a producer mid-write: everything it committed arrives, its ring is removed") {
  test::TempDir root("shmlog-sidecar");
  child_environment(root);
  Child sidecar = Child::spawn(sidecar_argv(root), root.file("sidecar.err"));
  wait_started(root, 1);
  Child load = Child::spawn(loadgen_argv(2, 2, 400000, 100000));  // about 4 s
  std::vector<pid_t> producers;
  for (int tries = 0; tries < 200 && producers.size() < 2; ++tries) {
    std::this_thread::sleep_for(10ms);
    producers = children_of(load.pid());
  }
  REQUIRE(producers.size() == 2);
  std::this_thread::sleep_for(1500ms);
  ::kill(producers[0], SIGKILL);  // mid-write: its threads are logging 25k records a second each
  const auto status = load.wait(60s);
  REQUIRE(status);  // loadgen reports the killed child and fails; the other one finished
  std::this_thread::sleep_for(500ms);
  sidecar.kill(SIGTERM);
  REQUIRE(exited_ok(sidecar.wait(30s)));
  auto check = test::read_output(root.file("out"), "load");
  CHECK(check.duplicates == 0);
  CHECK(check.order_violations == 0);
  CHECK_MESSAGE(check.problem_count == 0, test::summary(check));
  // Per writer thread, the ids are 0..k-1 with no gap: every record committed before the kill
  // was drained, and a record torn by the kill was not.
  std::map<std::string, std::set<std::uint64_t>> per_thread;
  for (const auto& [id, n] : check.ids) {
    const auto dash = id.rfind('-');
    per_thread[id.substr(0, dash)].insert(std::stoull(id.substr(dash + 1)));
  }
  REQUIRE(per_thread.size() == 4);
  std::uint64_t total = 0;
  for (const auto& entry : per_thread) {
    const std::string& thread = entry.first;  // not a structured binding: clang 14 cannot capture those
    const std::set<std::uint64_t>& is = entry.second;
    CHECK_MESSAGE(*is.rbegin() + 1 == is.size(),
                  thread << ": " << is.size() << " ids up to " << *is.rbegin());
    total += is.size();
  }
  MESSAGE(total << " of 400000 records written before the kill or by the survivor");
  CHECK(total < 400000);
  CHECK(std::filesystem::is_empty(root.file("rings")));  // the dead one's ring drained and removed
}

TEST_CASE("an external logrotate: the file is moved away, SIGHUP, the lines go on in a new file") {
  test::TempDir root("shmlog-sidecar");
  child_environment(root);
  Child sidecar = Child::spawn(sidecar_argv(root), root.file("sidecar.err"));
  wait_started(root, 1);
  Child load = Child::spawn(loadgen_argv(1, 2, 40000, 20000));  // about 2 s
  std::this_thread::sleep_for(1s);
  std::filesystem::rename(root.file("out/load.log"), root.file("out/moved-by-logrotate"));
  sidecar.kill(SIGHUP);
  REQUIRE(exited_ok(load.wait(60s)));
  sidecar.kill(SIGTERM);
  REQUIRE(exited_ok(sidecar.wait(30s)));
  const auto before = file_lines(root.file("out/moved-by-logrotate")).size();
  const auto after = file_lines(root.file("out/load.log")).size();
  MESSAGE(before << " lines before the move, " << after << " after");
  CHECK(before > 0);
  CHECK(after > 0);
  // Read as one stream, oldest first: every record once, in order.
  std::filesystem::rename(root.file("out/moved-by-logrotate"), root.file("out/load.log.1"));
  auto check = test::read_output(root.file("out"), "load");
  test::expect_loadgen_ids(check, 1, 2, 40000);
  CHECK_MESSAGE(check.ok(), test::summary(check));
}

TEST_CASE("a torn last line left by a killed write is cut off even when no ring needs resuming") {
  test::TempDir root("shmlog-sidecar");
  child_environment(root);
  std::filesystem::create_directories(root.file("out"));
  const std::string whole =
      "{\"timestamp\":\"2026-01-01T00:00:00.000000000Z\",\"level\":\"INFO\",\"message\":\"old\",\"service\":"
      "\"load\",\"file\":\"a.cpp\",\"line\":1,\"function\":\"f\"}\n";
  test::write_file(root.file("out/load.log"), whole + "{\"timestamp\":\"2026-01-01T00:00:01");
  Child sidecar = Child::spawn(sidecar_argv(root), root.file("sidecar.err"));  // no rings yet
  wait_started(root, 1);
  Child load = Child::spawn(loadgen_argv(1, 1, 1000, 0));
  REQUIRE(exited_ok(load.wait(60s)));
  sidecar.kill(SIGTERM);
  REQUIRE(exited_ok(sidecar.wait(30s)));
  const auto lines = file_lines(root.file("out/load.log"));
  REQUIRE(lines.size() == 1001);
  CHECK(lines[0] + "\n" == whole);
  for (const auto& l : lines) CHECK(test::schema_error(l).empty());
}
