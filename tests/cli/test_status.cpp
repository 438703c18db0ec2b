// `shmlog status` as an operator runs it: the built program on a directory of rings written by
// real processes (forked children: one still running, one ended without shutting down), with
// hostile files beside them, and its --json read back with RapidJSON.
#include "support/test_dir.hpp"

#include <shmlog/level.hpp>
#include <shmlog/logger.hpp>
#include <shmlog/reader.hpp>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>

#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace shmlog;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

using Run = test::CommandRun;
using test::quoted;

// Runs `[env] shmlog <args>` through the shell; stdout captured, stderr via a file.
Run shmlog_cli(const std::string& args, const test::TempDir& scratch, const std::string& env = "") {
  return test::run_command(env + " " + quoted(SHMLOG_CLI_PATH) + " " + args, scratch);
}

rapidjson::Document parse(const Run& run) {
  rapidjson::Document doc;
  doc.Parse(run.out.c_str());
  INFO(run.out);
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc.IsObject());
  REQUIRE(doc["rings"].IsArray());
  return doc;
}

// The entry of `doc["rings"]` whose "name" is `name`.
const rapidjson::Value& ring_named(const rapidjson::Document& doc, const std::string& name) {
  for (const auto& r : doc["rings"].GetArray())
    if (name == r["name"].GetString()) return r;
  FAIL("no ring named " << name);
  return doc;  // not reached
}

std::string file_name(const std::string& path) {
  return path.substr(path.rfind('/') + 1);
}

// A ring per service, logged by a forked child.
Config writer_config(const std::string& dir, const std::string& service) {
  Config config;
  config.dir = dir;
  config.service = service;
  config.lanes = 4;
  config.ring_bytes = 256u << 10;
  config.level = Level::debug;
  return config;
}

void log_a_few() {
  Logger log{"status"};
  log.info("started {}", 1);
  log.warning("something to look at {}", 2);
}

// The ring file `pid` created in `dir` (its file name holds the pid).
std::string ring_of(const std::string& dir, pid_t pid) {
  auto rings = list_rings(dir);
  REQUIRE(rings.ok());
  for (const std::string& path : *rings)
    if (contains(file_name(path), std::to_string(pid))) return path;
  FAIL("no ring of pid " << pid << " in " << dir);
  return {};
}

// Forks a writer that logs, then ends with _exit: no shutdown, no drain. Returns its pid.
template <typename Body>
pid_t dead_writer(const Config& config, Body body) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (!init(config) || sink_name() != "ring") ::_exit(3);
    body();
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return pid;
}

// A writer that logs and then holds its ring open until the test is done with it.
class LiveWriter {
 public:
  explicit LiveWriter(const Config& config) {
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    REQUIRE(::pipe(release_) == 0);
    std::fflush(nullptr);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::close(ready[0]);
      ::close(release_[1]);
      if (!init(config) || sink_name() != "ring") ::_exit(3);
      log_a_few();
      char c = 1;
      (void)!::write(ready[1], &c, 1);
      (void)!::read(release_[0], &c, 1);  // returns at EOF: the test is done with us
      ::_exit(0);
    }
    ::close(ready[1]);
    ::close(release_[0]);
    char c = 0;
    REQUIRE(::read(ready[0], &c, 1) == 1);
    ::close(ready[0]);
  }
  ~LiveWriter() {
    ::close(release_[1]);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  LiveWriter(const LiveWriter&) = delete;
  LiveWriter& operator=(const LiveWriter&) = delete;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int release_[2] = {-1, -1};
};

std::uint64_t realtime_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// What a draining sidecar leaves in the ring's header.
void set_heartbeat(const std::string& ring, std::int32_t pid, std::uint64_t ns) {
  auto reader = RingReader::open(ring, OpenMode::consumer);
  REQUIRE(reader.ok());
  reader.value()->heartbeat(pid, ns);
}

std::string level_key(Level level) {
  return std::string(level_name(level));
}

}  // namespace

TEST_CASE("status shows a running writer as alive and one that ended without shutting down as dead") {
  test::TempDir dir("shmlog-status"), scratch("shmlog-status-out");
  const pid_t dead = dead_writer(writer_config(dir.path(), "billing"), log_a_few);
  LiveWriter live(writer_config(dir.path(), "checkout"));
  const std::string dead_ring = ring_of(dir.path(), dead), live_ring = ring_of(dir.path(), live.pid());

  SUBCASE("--json") {
    const Run run = shmlog_cli("status --json --dir " + quoted(dir.path()), scratch);
    INFO(run.err);
    CHECK(run.status == 0);
    CHECK(run.err == "");
    const auto doc = parse(run);
    CHECK(std::string(doc["dir"].GetString()) == dir.path());
    REQUIRE(doc["rings"].Size() == 2);

    const auto& l = ring_named(doc, file_name(live_ring));
    CHECK(std::string(l["file"].GetString()) == live_ring);
    CHECK(std::string(l["service"].GetString()) == "checkout");
    CHECK(l["writer_pid"].GetInt() == live.pid());
    CHECK(l["writer_alive"].GetBool() == true);
    CHECK(std::string(l["writer_status"].GetString()) == "alive");
    CHECK(l["lanes"].GetUint() == 4);
    CHECK(l["lanes_in_use"].GetUint() == 2);  // the shared lane and the main thread's
    CHECK(l["capacity_bytes"].GetUint64() == 256u << 10);
    CHECK(l["used_bytes"].GetUint64() > 0);
    CHECK(l["fill_percent"].GetDouble() > 0.0);
    CHECK(l["dropped_total"].GetUint64() == 0);
    CHECK(l["dropped"].MemberCount() == static_cast<unsigned>(kLevelCount));
    CHECK(std::string(l["drainer"]["state"].GetString()) == "none");
    CHECK(l["drainer"]["heartbeat_age_s"].IsNull());

    const auto& d = ring_named(doc, file_name(dead_ring));
    CHECK(std::string(d["service"].GetString()) == "billing");
    CHECK(d["writer_pid"].GetInt() == dead);
    CHECK(d["writer_alive"].GetBool() == false);
    CHECK(std::string(d["writer_status"].GetString()) == "dead");

    CHECK(doc["summary"]["rings"].GetUint() == 2);
    CHECK(doc["summary"]["unreadable"].GetUint() == 0);
    CHECK(doc["summary"]["writers_alive"].GetUint() == 1);
    CHECK(doc["summary"]["without_active_drainer"].GetUint() == 2);
    CHECK(doc["summary"]["dropped_total"].GetUint64() == 0);
  }
  SUBCASE("the table: one row per ring, then a summary line") {
    const Run run = shmlog_cli("status --dir " + quoted(dir.path()), scratch);
    INFO(run.out, run.err);
    CHECK(run.status == 0);
    CHECK(contains(run.out, "RING"));
    CHECK(contains(run.out, "DRAINER"));
    CHECK(contains(run.out, file_name(live_ring)));
    CHECK(contains(run.out, "checkout"));
    CHECK(contains(run.out, "pid " + std::to_string(live.pid()) + " alive"));
    CHECK(contains(run.out, "pid " + std::to_string(dead) + " dead"));
    CHECK(contains(run.out, "2/4"));
    CHECK(contains(run.out, "no sidecar seen"));
    CHECK(contains(run.out, "2 rings in " + dir.path() +
                                ", 1 writer alive, 2 without an active sidecar, "
                                "0 records dropped\n"));
  }
  SUBCASE("$SHMLOG_DIR is the default directory, and a ring file may be named instead") {
    const auto doc = parse(shmlog_cli("status --json", scratch, "SHMLOG_DIR=" + quoted(dir.path())));
    CHECK(doc["rings"].Size() == 2);
    const auto one = parse(shmlog_cli("status --json --dir " + quoted(dead_ring), scratch));
    REQUIRE(one["rings"].Size() == 1);
    CHECK(std::string(one["rings"][0]["service"].GetString()) == "billing");
  }
  SUBCASE("it only looks: the ring files are the same bytes afterwards") {
    const std::string before = test::read_file(dead_ring);
    CHECK(shmlog_cli("status --dir " + quoted(dir.path()), scratch).status == 0);
    CHECK(shmlog_cli("status --json --dir " + quoted(dir.path()), scratch).status == 0);
    CHECK(test::read_file(dead_ring) == before);
  }
}

TEST_CASE("drops are counted per level: every record logged is either in the ring or dropped") {
  test::TempDir dir("shmlog-status"), scratch("shmlog-status-out");
  constexpr int kEach = 400;  // of each level: far more than 8 KiB holds
  Config config = writer_config(dir.path(), "flood");
  config.ring_bytes = 8u << 10;
  config.lanes = 2;
  const pid_t writer = dead_writer(config, [] {
    Logger log{"flood"};
    for (int i = 0; i < kEach; ++i) {
      log.info("info record number {} with some padding to take room", i);
      log.error("error record number {} with some padding to take room", i);
    }
  });
  const std::string ring = ring_of(dir.path(), writer);
  std::map<std::string, int> in_ring;
  for (const std::string& line : test::peek_lines(ring)) ++in_ring[test::field(line, "level")];

  const Run run = shmlog_cli("status --json --dir " + quoted(dir.path()), scratch);
  CHECK(run.status == 0);
  const auto doc = parse(run);
  const auto& r = ring_named(doc, file_name(ring));
  const auto& dropped = r["dropped"];
  INFO(run.out);
  CHECK(dropped[level_key(Level::info).c_str()].GetUint64() > 0);
  CHECK(dropped[level_key(Level::info).c_str()].GetUint64() + in_ring[level_key(Level::info)] == kEach);
  CHECK(dropped[level_key(Level::error).c_str()].GetUint64() + in_ring[level_key(Level::error)] == kEach);
  for (Level other : {Level::trace, Level::debug, Level::warning, Level::critical})
    CHECK(dropped[level_key(other).c_str()].GetUint64() == 0);
  const std::uint64_t total = dropped[level_key(Level::info).c_str()].GetUint64() +
                              dropped[level_key(Level::error).c_str()].GetUint64();
  CHECK(r["dropped_total"].GetUint64() == total);
  CHECK(doc["summary"]["dropped_total"].GetUint64() == total);
  CHECK(r["capacity_bytes"].GetUint64() == 8u << 10);

  const Run table = shmlog_cli("status --dir " + quoted(dir.path()), scratch);
  CHECK(contains(table.out, std::to_string(total) + " records dropped\n"));
}

TEST_CASE("the drainer: a fresh heartbeat names the sidecar, an old one is stale") {
  test::TempDir dir("shmlog-status"), scratch("shmlog-status-out");
  const std::string ring = ring_of(dir.path(), dead_writer(writer_config(dir.path(), "drained"), log_a_few));

  set_heartbeat(ring, 4242, realtime_ns());
  // A generous threshold, so a slow machine cannot turn "fresh" into "stale".
  Run run = shmlog_cli("status --stale-after 1h --dir " + quoted(dir.path()), scratch);
  INFO(run.out, run.err);
  CHECK(contains(run.out, "drained by pid 4242, "));
  CHECK_FALSE(contains(run.out, "without an active sidecar"));
  auto doc = parse(shmlog_cli("status --json --stale-after 1h --dir " + quoted(dir.path()), scratch));
  CHECK(std::string(doc["rings"][0]["drainer"]["state"].GetString()) == "active");
  CHECK(doc["rings"][0]["drainer"]["pid"].GetInt() == 4242);
  CHECK(doc["rings"][0]["drainer"]["heartbeat_age_s"].GetDouble() >= 0.0);
  CHECK(doc["summary"]["without_active_drainer"].GetUint() == 0);

  set_heartbeat(ring, 4242, realtime_ns() - 7200ull * 1'000'000'000ull);  // two hours ago
  run = shmlog_cli("status --dir " + quoted(dir.path()), scratch);
  CHECK(contains(run.out, "stale: pid 4242 last seen "));
  CHECK(contains(run.out, "1 without an active sidecar"));
  doc = parse(shmlog_cli("status --json --dir " + quoted(dir.path()), scratch));
  CHECK(std::string(doc["rings"][0]["drainer"]["state"].GetString()) == "stale");
  CHECK(doc["rings"][0]["drainer"]["heartbeat_age_s"].GetDouble() >= 7200.0);

  CHECK(shmlog_cli("status --stale-after 0s --dir " + quoted(dir.path()), scratch).status != 0);
  CHECK(shmlog_cli("status --stale-after soon --dir " + quoted(dir.path()), scratch).status != 0);
}

TEST_CASE("files that are not rings get a row saying why; the rest are shown; exit 0") {
  test::TempDir dir("shmlog-status"), scratch("shmlog-status-out");
  const std::string ring = ring_of(dir.path(), dead_writer(writer_config(dir.path(), "good"), log_a_few));
  std::string garbage(5000, '\0');
  for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>((i * 7919u + 13u) % 251u);
  test::write_file(dir.file("x.ring"), garbage);
  test::write_file(dir.file("empty.ring"), "");
  test::write_file(dir.file("truncated.ring"), test::read_file(ring).substr(0, 100000));

  const Run run = shmlog_cli("status --json --dir " + quoted(dir.path()), scratch);
  INFO(run.out, run.err);
  CHECK(run.status == 0);
  const auto doc = parse(run);
  REQUIRE(doc["rings"].Size() == 4);
  CHECK(contains(ring_named(doc, "x.ring")["error"].GetString(), "not a shmlog ring file"));
  CHECK(
      contains(ring_named(doc, "empty.ring")["error"].GetString(), "0 bytes is too small to be a ring file"));
  CHECK(contains(ring_named(doc, "truncated.ring")["error"].GetString(), "file is 100000 bytes"));
  CHECK_FALSE(ring_named(doc, "x.ring").HasMember("service"));
  const auto& good = ring_named(doc, file_name(ring));
  CHECK_FALSE(good.HasMember("error"));
  CHECK(std::string(good["service"].GetString()) == "good");
  CHECK(doc["summary"]["rings"].GetUint() == 4);
  CHECK(doc["summary"]["unreadable"].GetUint() == 3);

  const Run table = shmlog_cli("status --dir " + quoted(dir.path()), scratch);
  INFO(table.out);
  CHECK(table.status == 0);
  CHECK(contains(table.out, "x.ring"));
  CHECK(contains(table.out, "unreadable: not a shmlog ring file"));
  CHECK(contains(table.out, "good"));
  CHECK(contains(table.out, "4 rings in " + dir.path() + " (3 unreadable)"));
}

TEST_CASE("a directory that does not exist is exit 2 and named; an empty one is exit 0") {
  test::TempDir dir("shmlog-status"), scratch("shmlog-status-out");

  Run run = shmlog_cli("status --dir " + quoted(dir.file("missing")), scratch);
  CHECK(run.status == 2);
  CHECK(run.out == "");
  CHECK(contains(run.err, dir.file("missing") + ": No such file or directory"));
  run = shmlog_cli("status --json", scratch, "SHMLOG_DIR=" + quoted(dir.file("gone")));
  CHECK(run.status == 2);
  CHECK(contains(run.err, dir.file("gone") + ": No such file or directory (from SHMLOG_DIR)"));

  run = shmlog_cli("status --dir " + quoted(dir.path()), scratch);
  CHECK(run.status == 0);
  CHECK(run.out == "no ring files in " + dir.path() + "\n");
  run = shmlog_cli("status --json --dir " + quoted(dir.path()), scratch);
  CHECK(run.status == 0);
  const auto doc = parse(run);
  CHECK(doc["rings"].Size() == 0);
  CHECK(doc["summary"]["rings"].GetUint() == 0);
}
