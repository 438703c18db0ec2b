// `shmlog ring inspect` and `shmlog ring tail` as a person runs them: the built program on ring
// files written by a real process (a forked child that logs, then ends with _exit, so nothing
// is shut down or drained), with the output parsed and every tail line held to the schema.
#include "support/test_dir.hpp"

#include <shmlog/logger.hpp>
#include <shmlog/reader.hpp>
#include <shmlog/ring_format.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <fcntl.h>
#include <rapidjson/document.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace shmlog;

namespace {

constexpr std::uint32_t kLanes = 4;

// What the child logs, in this order; the thread's record falls between two of main's, in
// another lane, so only a tail that merges lanes by time prints them in this order.
const std::vector<std::string> kMessages = {"debug line 1", "first from main 1", "from a thread 2",
                                            "warning from main 3", "error from main 4"};

using Run = test::CommandRun;
using test::quoted;

// Runs `shmlog <args>` through the shell; stdout captured, stderr via a file.
Run shmlog_cli(const std::string& args, const test::TempDir& scratch) {
  return test::run_command(quoted(SHMLOG_CLI_PATH) + " " + args, scratch);
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// The "message" of each JSON line, after checking each line against the schema.
std::vector<std::string> messages_of(const std::string& output) {
  std::vector<std::string> messages;
  for (const std::string& line : split_lines(output)) {
    INFO(line);
    CHECK(test::schema_error(line) == "");
    rapidjson::Document doc;
    doc.Parse(line.c_str());
    REQUIRE_FALSE(doc.HasParseError());
    CHECK(std::string(doc["service"].GetString()) == "cli-test");
    messages.emplace_back(doc["message"].GetString());
  }
  return messages;
}

// In a forked child: opens a ring in `dir` and logs kMessages. Exits the child if it cannot.
void log_messages(const std::string& dir) {
  Config config;
  config.dir = dir;
  config.service = "cli-test";
  config.lanes = kLanes;
  config.ring_bytes = 256u << 10;
  config.level = Level::debug;
  if (!init(config) || sink_name() != "ring") ::_exit(3);
  Logger log{"cli"};
  log.debug("debug line {}", 1);
  log.info("first from main {}", 1);
  std::thread([&] { log.info("from a thread {}", 2); }).join();
  log.warning("warning from main {}", 3);
  log.error("error from main {}", 4, kv("order_id", 42));
}

// Forks a writer that logs kMessages and exits without shutting down or draining; returns its
// ring file (the only one in `dir`).
std::string write_ring(const test::TempDir& dir, pid_t* writer_pid = nullptr) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    log_messages(dir.path());
    ::_exit(0);  // no shutdown, no drain: the records stay in the ring
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  if (writer_pid != nullptr) *writer_pid = pid;
  auto rings = list_rings(dir.path());
  REQUIRE(rings.ok());
  REQUIRE(rings->size() == 1);
  return rings->front();
}

// A lane that holds records, the one with the most.
struct LaneAt {
  std::uint32_t lane = 0;
  std::uint64_t write_pos = 0;
  std::size_t data_offset = 0;  // of the lane's data in the file
  std::uint64_t lane_bytes = 0;
};
LaneAt fullest_lane(const std::string& ring_path) {
  auto reader = RingReader::open(ring_path, OpenMode::observer);
  REQUIRE(reader.ok());
  const RingInfo& info = reader.value()->info();
  LaneAt at;
  for (std::uint32_t lane = 0; lane < info.lane_count; ++lane) {
    const auto state = reader.value()->lane_state(lane);
    if (state.write_pos > at.write_pos) {
      at.lane = lane;
      at.write_pos = state.write_pos;
    }
  }
  REQUIRE(at.write_pos > 0);
  REQUIRE(at.write_pos < info.lane_bytes);  // not wrapped: positions are offsets
  const ring::Layout layout{info.lane_count, info.lane_bytes, info.sites_bytes};
  at.data_offset = static_cast<std::size_t>(layout.data_offset() + at.lane * info.lane_bytes);
  at.lane_bytes = info.lane_bytes;
  return at;
}

template <typename T>
void put(std::string& bytes, std::size_t offset, T value) {
  std::memcpy(bytes.data() + offset, &value, sizeof value);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("tail prints the records no consumer took, as schema-valid JSON lines in time order") {
  test::TempDir dir("shmlog-cli"), scratch("shmlog-cli-out");
  const std::string ring = write_ring(dir);

  const Run run = shmlog_cli("ring tail " + quoted(ring), scratch);
  INFO(run.err);
  CHECK(run.status == 0);
  CHECK(run.err == "");
  CHECK(messages_of(run.out) == kMessages);

  SUBCASE("without taking them: a second tail and a consumer still find every record") {
    CHECK(shmlog_cli("ring tail " + quoted(ring), scratch).out == run.out);
    CHECK(test::drain_lines(ring).size() == kMessages.size());
    CHECK(shmlog_cli("ring tail " + quoted(ring), scratch).out == "");  // now taken
  }
  SUBCASE("the directory gives the same lines") {
    CHECK(shmlog_cli("ring tail " + quoted(dir.path()), scratch).out == run.out);
  }
}

TEST_CASE("tail --level prints that level and above") {
  test::TempDir dir("shmlog-cli"), scratch("shmlog-cli-out");
  const std::string ring = write_ring(dir);
  const std::vector<std::string> warning_and_above = {"warning from main 3", "error from main 4"};
  CHECK(messages_of(shmlog_cli("ring tail --level WARNING " + quoted(ring), scratch).out) ==
        warning_and_above);
  CHECK(messages_of(shmlog_cli("ring tail --level warn " + quoted(ring), scratch).out) == warning_and_above);
  CHECK(messages_of(shmlog_cli("ring tail --level critical " + quoted(ring), scratch).out).empty());
}

TEST_CASE("inspect --json describes the ring and a writer that ended without shutting down") {
  test::TempDir dir("shmlog-cli"), scratch("shmlog-cli-out");
  pid_t writer = 0;
  const std::string ring = write_ring(dir, &writer);

  const Run run = shmlog_cli("ring inspect --json " + quoted(dir.path()), scratch);
  INFO(run.out, run.err);
  CHECK(run.status == 0);
  rapidjson::Document doc;
  doc.Parse(run.out.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc["rings"].Size() == 1);
  CHECK(doc["errors"].Size() == 0);
  const auto& r = doc["rings"][0];
  CHECK(std::string(r["file"].GetString()) == ring);
  CHECK(std::string(r["service"].GetString()) == "cli-test");
  CHECK(r["writer"]["pid"].GetInt() == writer);
  CHECK(r["writer"]["alive"].GetBool() == false);
  CHECK(std::string(r["writer"]["state"].GetString()) == "live");  // _exit: never marked closed
  CHECK(r["layout_version"].GetUint() == ring::kLayoutVersion);
  CHECK(r["lane_count"].GetUint() == kLanes);
  CHECK(r["lanes"].Size() == kLanes);
  CHECK(std::string(r["min_level"].GetString()) == "DEBUG");
  CHECK(r["sites"]["registered"].GetUint() == kMessages.size());  // one call site per message
  CHECK(r["sites"]["dropped"].GetUint() == 0);
  CHECK(r["totals"]["used_bytes"].GetUint64() > 0);
  CHECK(r["totals"]["dropped_total"].GetUint64() == 0);
  for (const auto& lane : r["lanes"].GetArray()) {
    for (const auto& level : lane["dropped"].GetObject()) CHECK(level.value.GetUint64() == 0);
    CHECK(lane["read_pos"].GetUint64() == 0);
  }
}

TEST_CASE("inspect shows a running writer as alive, and a readable table") {
  test::TempDir dir("shmlog-cli"), scratch("shmlog-cli-out");
  int ready[2], release[2];
  REQUIRE(::pipe(ready) == 0);
  REQUIRE(::pipe(release) == 0);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(ready[0]);
    ::close(release[1]);
    log_messages(dir.path());
    char c = 1;
    (void)!::write(ready[1], &c, 1);
    (void)!::read(release[0], &c, 1);  // returns at EOF: the test is done with us
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(release[0]);
  char c = 0;
  REQUIRE(::read(ready[0], &c, 1) == 1);

  const Run json = shmlog_cli("ring inspect --json " + quoted(dir.path()), scratch);
  const Run human = shmlog_cli("ring inspect " + quoted(dir.path()), scratch);
  ::close(release[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);

  rapidjson::Document doc;
  doc.Parse(json.out.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  CHECK(doc["rings"][0]["writer"]["alive"].GetBool() == true);
  INFO(human.out);
  CHECK(human.status == 0);
  CHECK(contains(human.out, "cli-test"));
  CHECK(contains(human.out, "pid " + std::to_string(pid) + ", running, state live"));
  CHECK(contains(human.out, "4 lanes x 64 KiB"));
}

TEST_CASE("a file that is not a ring is named on stderr, the other rings are still shown, exit 1") {
  test::TempDir dir("shmlog-cli"), scratch("shmlog-cli-out");
  const std::string ring = write_ring(dir);
  std::string garbage(5000, '\0');
  for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>((i * 7919u + 13u) % 251u);
  test::write_file(dir.file("x.ring"), garbage);
  test::write_file(dir.file("empty.ring"), "");
  test::write_file(dir.file("truncated.ring"), test::read_file(ring).substr(0, 100000));

  SUBCASE("inspect") {
    const Run run = shmlog_cli("ring inspect --json " + quoted(dir.path()), scratch);
    INFO(run.err);
    CHECK(run.status == 1);
    CHECK(contains(run.err, dir.file("x.ring") + ": not a shmlog ring file"));
    CHECK(contains(run.err, dir.file("empty.ring") + ": 0 bytes is too small to be a ring file"));
    CHECK(contains(run.err, dir.file("truncated.ring") + ": file is 100000 bytes"));
    rapidjson::Document doc;
    doc.Parse(run.out.c_str());
    REQUIRE_FALSE(doc.HasParseError());
    CHECK(doc["rings"].Size() == 1);
    CHECK(doc["errors"].Size() == 3);

    const Run human = shmlog_cli("ring inspect " + quoted(dir.file("x.ring")) + " " + quoted(ring), scratch);
    CHECK(human.status == 1);
    CHECK(contains(human.out, ring));
    CHECK_FALSE(contains(human.out, "x.ring"));
  }
  SUBCASE("tail") {
    const Run run = shmlog_cli("ring tail " + quoted(dir.path()), scratch);
    INFO(run.err);
    CHECK(run.status == 1);
    CHECK(contains(run.err, dir.file("x.ring") + ": not a shmlog ring file"));
    CHECK(messages_of(run.out) == kMessages);
  }
}

TEST_CASE("a PATH that does not exist is a usage error (exit 2)") {
  test::TempDir dir("shmlog-cli"), scratch("shmlog-cli-out");
  for (const char* command : {"ring inspect ", "ring tail "}) {
    const Run run = shmlog_cli(command + quoted(dir.file("missing")), scratch);
    CHECK(run.status == 2);
    CHECK(contains(run.err, dir.file("missing") + ": No such file or directory"));
  }
}

TEST_CASE("bad arguments are the parser's error, with a non-zero exit") {
  test::TempDir dir("shmlog-cli"), scratch("shmlog-cli-out");
  Run run = shmlog_cli("ring tail --level loud " + quoted(dir.path()), scratch);
  CHECK(run.status != 0);
  CHECK(contains(run.err, "unknown level 'loud'"));
  CHECK(shmlog_cli("ring tail --lanes x " + quoted(dir.path()), scratch).status != 0);
  CHECK(shmlog_cli("ring inspect", scratch).status != 0);
  CHECK(shmlog_cli("ring", scratch).status != 0);
  CHECK(shmlog_cli("", scratch).status != 0);
  run = shmlog_cli("--version", scratch);
  CHECK(run.status == 0);
  CHECK(run.out == "shmlog " SHMLOG_VERSION "\n");
}

TEST_CASE("tail --lanes reads only those lanes; a lane the ring lacks is named") {
  test::TempDir dir("shmlog-cli"), scratch("shmlog-cli-out");
  const std::string ring = write_ring(dir);
  const LaneAt main_lane = fullest_lane(ring);
  const Run run =
      shmlog_cli("ring tail --lanes " + std::to_string(main_lane.lane) + ",9 " + quoted(ring), scratch);
  CHECK(run.status == 1);
  CHECK(contains(run.err, ring + ": no lane 9"));
  const std::vector<std::string> main_only = {"debug line 1", "first from main 1", "warning from main 3",
                                              "error from main 4"};
  CHECK(messages_of(run.out) == main_only);
}

TEST_CASE("tail --follow prints records of rings that appear later, and exits 0 on SIGTERM") {
  test::TempDir dir("shmlog-cli"), scratch("shmlog-cli-out");
  const std::string out_path = scratch.file("follow.out");
  std::fflush(nullptr);
  const pid_t tail = ::fork();
  REQUIRE(tail >= 0);
  if (tail == 0) {
    const int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 1);
    ::execl(SHMLOG_CLI_PATH, "shmlog", "ring", "tail", "--follow", dir.path().c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  write_ring(dir);
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (split_lines(out).size() < kMessages.size() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    out = test::read_file(out_path);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // a few more polls: nothing twice
  REQUIRE(::kill(tail, SIGTERM) == 0);
  int status = 0;
  REQUIRE(::waitpid(tail, &status, 0) == tail);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(messages_of(test::read_file(out_path)) == kMessages);
}

TEST_CASE("a record that does not decode is reported; the records around it are still printed") {
  test::TempDir dir("shmlog-cli"), scratch("shmlog-cli-out");
  const std::string ring = write_ring(dir);
  const LaneAt lane = fullest_lane(ring);
  std::string bytes = test::read_file(ring);
  // The lane's first record ("debug line 1") claims more payload than it has room for.
  put<std::uint32_t>(bytes, lane.data_offset + offsetof(ring::RecordHeader, payload_bytes), 0xFFFFFFFFu);
  test::write_file(dir.file("bad-record.ring"), bytes);

  const Run run = shmlog_cli("ring tail " + quoted(dir.file("bad-record.ring")), scratch);
  CHECK(run.status == 1);
  CHECK(contains(run.err, "lane " + std::to_string(lane.lane) + " at position 0: invalid record"));
  const std::vector<std::string> rest(kMessages.begin() + 1, kMessages.end());
  CHECK(messages_of(run.out) == rest);
}

TEST_CASE("a lane whose records chain round and round is reported, not read forever") {
  test::TempDir dir("shmlog-cli"), scratch("shmlog-cli-out");
  const std::string ring = write_ring(dir);
  const LaneAt lane = fullest_lane(ring);
  std::string bytes = test::read_file(ring);
  // A padding record from the end of the lane's records to the lane's end: a reader wraps to
  // offset 0 and finds the same committed records again, and again.
  const auto pad = static_cast<std::uint32_t>(lane.lane_bytes - lane.write_pos);
  put<std::uint64_t>(bytes, lane.data_offset + lane.write_pos,
                     ring::make_commit(pad, ring::RecordKind::padding, 0, 0));
  test::write_file(dir.file("cycle.ring"), bytes);

  const Run run =
      shmlog_cli("ring tail " + quoted(dir.file("cycle.ring")), scratch);  // ctest's timeout guards a hang
  CHECK(run.status == 1);
  CHECK(contains(run.err, "lane " + std::to_string(lane.lane) + " at position"));
  CHECK(contains(run.err, "records run on past a whole lane ahead of the cursor"));
  CHECK(messages_of(run.out) == kMessages);  // each once
}
