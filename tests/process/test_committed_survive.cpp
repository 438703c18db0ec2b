// (b) A record committed before kill -9 is readable after it, byte for byte: the ring lives in
// the shared file, not in the dead process. Records are checked as the JSON lines the sidecar
// would write (parsed, field by field, and held against the schema).
#include "process_util.hpp"
#include "record_pattern.hpp"
#include "support/test_dir.hpp"

#include <shmlog/reader.hpp>

#include <csignal>
#include <map>
#include <set>

#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <sys/wait.h>

using namespace shmlog;
using namespace shmlog::test;

namespace {

// Checks one JSON line from the rich producer; returns the record's id, or -1 (with `problem`).
std::int64_t check_line(const std::string& line, pid_t pid, std::uint32_t threads, std::size_t payload,
                        std::string& problem) {
  if (auto bad = schema_error(line); !bad.empty()) {
    problem = bad;
    return -1;
  }
  rapidjson::Document d;
  d.Parse(line.c_str());
  const auto& ctx = d["context"];
  if (!ctx.IsObject() || !ctx.HasMember("id") || !ctx["id"].IsUint64() || !ctx.HasMember("thread") ||
      !ctx["thread"].IsUint() || !ctx.HasMember("who")) {
    problem = "context lacks id/thread/who: " + line;
    return -1;
  }
  const std::uint64_t id = ctx["id"].GetUint64();
  const std::uint32_t thread = ctx["thread"].GetUint();
  const std::uint64_t n = id / threads;
  auto fail = [&](const std::string& what) {
    problem = what + " in " + line.substr(0, 300);
    return -1;
  };
  if (id % threads != thread) return fail("thread does not match id");
  if (std::string_view(ctx["who"].GetString()) != "main") return fail("wrong who");
  if (d["message"].GetString() != expected_message(n, thread, make_pad(id, payload)))
    return fail("wrong message");
  if (d["level"].GetString() != kRichLevels[n % 4]) return fail("wrong level");
  if (std::string_view(d["service"].GetString()) != "survivor") return fail("wrong service");
  if (!d.HasMember("logger") || d["logger"].GetString() != kLoggerName) return fail("wrong logger");
  if (!d.HasMember("pid") || d["pid"].GetInt() != pid) return fail("wrong pid");
  if (!d.HasMember("seq") || !d.HasMember("tid")) return fail("no seq or tid");
  if (d.HasMember("exception") != (n % 4 == 2)) return fail("exception where none was logged or vice versa");
  if (n % 4 == 2 && (std::string_view(d["exception"]["type"].GetString()) != "std::runtime_error" ||
                     d["exception"]["message"].GetString() != rich_exception_what(id)))
    return fail("wrong exception");
  if (ctx.HasMember("tenant") != (n % 4 == 3)) return fail("tenant where none was logged or vice versa");
  return static_cast<std::int64_t>(id);
}

// The line with its converted timestamp replaced by the raw clock value. Two readers of one TSC
// ring may convert differently: one that opens it in its first second uses the writer's quick
// calibration, a later one re-estimates the rate over the ring's life (ClockConverter::refresh).
std::string comparable(const RecordView& v, const RingInfo& info) {
  std::string line;
  append_json_line(v, info, JsonOptions{}, line);
  const auto end = line.find("\",", 14);
  return "{\"raw\":" + std::to_string(v.raw_timestamp) + line.substr(end + 1);
}

std::multiset<std::string> without_timestamps(const std::vector<std::string>& lines) {
  std::multiset<std::string> out;
  for (const auto& line : lines) out.insert(line.substr(line.find("\",", 14) + 1));
  return out;
}

}  // namespace

TEST_CASE("every record committed before kill -9 is read back exactly after it") {
  constexpr std::uint32_t kThreads = 2;
  constexpr std::uint64_t kPerThread = 500;
  constexpr std::size_t kPayload = 100;
  TempDir dir("shmlog-committed");
  Child producer = Child::spawn(
      producer_argv(dir.path(), {"--service", "survivor", "--threads", std::to_string(kThreads), "--count",
                                 std::to_string(kPerThread), "--payload", std::to_string(kPayload), "--rich",
                                 "--ring-bytes", "2MiB", "--lanes", "4", "--then", "hang"}),
      dir.file("producer.stderr"));
  std::string why;
  const std::string path = expect_ring(producer, why);
  REQUIRE_MESSAGE(!path.empty(), why);
  REQUIRE_MESSAGE(producer.expect_line("done", milliseconds(20000)), producer.transcript());
  const pid_t pid = producer.pid();

  // Seen before the kill by an observer (which takes nothing) ...
  const auto before = peek_lines(path);
  CHECK(before.size() == kThreads * kPerThread);

  producer.kill(SIGKILL);
  const auto status = producer.wait(milliseconds(10000));
  REQUIRE(status);
  CHECK(WIFSIGNALED(*status));

  // ... and taken after it, identical.
  const auto lines = drain_lines(path);
  REQUIRE(lines.size() == kThreads * kPerThread);
  CHECK(without_timestamps(before) == without_timestamps(lines));  // see comparable()
  std::set<std::int64_t> ids;
  for (const auto& line : lines) {
    std::string problem;
    const std::int64_t id = check_line(line, pid, kThreads, kPayload, problem);
    REQUIRE_MESSAGE(id >= 0, problem);
    CHECK_MESSAGE(ids.insert(id).second, "id " << id << " twice");
  }
  CHECK(ids.size() == kThreads * kPerThread);
  CHECK(*ids.begin() == 0);
  CHECK(*ids.rbegin() == static_cast<std::int64_t>(kThreads * kPerThread - 1));
  // Taken means taken: nothing is left for the next consumer or observer.
  CHECK(drain_lines(path).empty());
  CHECK(peek_lines(path).empty());
}

TEST_CASE("records an observer saw before kill -9 are all there afterwards, identical") {
  constexpr std::size_t kSeen = 2000;
  TempDir dir("shmlog-committed");
  Child producer = Child::spawn(
      producer_argv(dir.path(), {"--service", "survivor", "--threads", "2", "--count", "0", "--payload", "40",
                                 "--rich", "--ring-bytes", "4MiB", "--lanes", "4", "--interval-us", "20"}),
      dir.file("producer.stderr"));
  std::string why;
  const std::string path = expect_ring(producer, why);
  REQUIRE_MESSAGE(!path.empty(), why);

  auto opened = RingReader::open(path, OpenMode::observer);
  REQUIRE_MESSAGE(opened, error_of(opened));
  RingReader& observer = *opened.value();
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::string> seen;  // (lane, seq) -> line
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (seen.size() < kSeen && std::chrono::steady_clock::now() < deadline) {
    for (std::uint32_t lane = 0; lane < observer.info().lane_count; ++lane) {
      auto n = observer.drain(lane, 256, [&](const RecordView& v) {
        seen.emplace(std::make_pair(v.lane, v.seq), comparable(v, observer.info()));
      });
      REQUIRE_MESSAGE(n, error_of(n));
    }
  }
  REQUIRE(seen.size() >= kSeen);
  const pid_t pid = producer.pid();
  producer.kill(SIGKILL);
  REQUIRE(producer.wait(milliseconds(10000)));

  auto consumer = RingReader::open(path, OpenMode::consumer);
  REQUIRE_MESSAGE(consumer, error_of(consumer));
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::string> after;
  for (std::uint32_t lane = 0; lane < consumer.value()->info().lane_count; ++lane) {
    for (;;) {
      auto n = consumer.value()->drain(lane, 256, [&](const RecordView& v) {
        std::string line;
        append_json_line(v, consumer.value()->info(), JsonOptions{}, line);
        line.pop_back();
        std::string problem;
        CHECK_MESSAGE(check_line(line, pid, 2, 40, problem) >= 0, problem);
        after.emplace(std::make_pair(v.lane, v.seq), comparable(v, consumer.value()->info()));
      });
      REQUIRE_MESSAGE(n, error_of(n));
      if (*n == 0) break;
    }
  }
  std::size_t missing = 0, different = 0;
  std::string example;
  for (const auto& [key, line] : seen) {
    auto it = after.find(key);
    if (it == after.end()) {
      ++missing;
    } else if (it->second != line) {
      if (different++ == 0) example = "before: " + line + "after:  " + it->second;
    }
  }
  CHECK(missing == 0);
  CHECK_MESSAGE(different == 0, example);
  CHECK(after.size() >= seen.size());
}
