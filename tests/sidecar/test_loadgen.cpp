// shmlog-loadgen as the sidecar tests run it: the built program, P processes x T threads, into
// a fresh SHMLOG_DIR with no consumer. Its rings are read back as an observer: one closed ring
// per child holding only that child's ids, every id of the split exactly once, seq rising per
// thread, and the summary line's counts matching what the rings hold.
#include "sidecar/output_check.hpp"
#include "support/test_dir.hpp"

#include <shmlog/reader.hpp>
#include <shmlog/ring_format.hpp>

#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <sys/wait.h>

using namespace shmlog;

namespace {

using Run = test::CommandRun;
using test::quoted;

// Runs `env shmlog-loadgen args` through the shell; stdout captured, stderr via a file.
Run loadgen(const std::string& env, const std::string& args, const test::TempDir& scratch) {
  return test::run_command("env " + env + " " + quoted(SHMLOG_LOADGEN_PATH) + " " + args, scratch);
}

struct Summary {
  std::uint64_t records = 0, dropped = 0;
  unsigned processes = 0, threads = 0;
  double seconds = -1, records_per_s = -1;
};

// The summary line: exactly one line, one JSON object with exactly the six documented fields.
Summary parse_summary(const std::string& out) {
  INFO("stdout: ", out);
  REQUIRE(!out.empty());
  REQUIRE(out.back() == '\n');
  REQUIRE(out.find('\n') == out.size() - 1);
  rapidjson::Document doc;
  doc.Parse(out.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc.IsObject());
  CHECK(doc.MemberCount() == 6);
  for (const char* key : {"records", "processes", "threads", "dropped"}) {
    INFO(key);
    REQUIRE(doc.HasMember(key));
    REQUIRE(doc[key].IsUint64());
  }
  for (const char* key : {"seconds", "records_per_s"}) {
    INFO(key);
    REQUIRE(doc.HasMember(key));
    REQUIRE(doc[key].IsNumber());
  }
  Summary s;
  s.records = doc["records"].GetUint64();
  s.processes = doc["processes"].GetUint();
  s.threads = doc["threads"].GetUint();
  s.dropped = doc["dropped"].GetUint64();
  s.seconds = doc["seconds"].GetDouble();
  s.records_per_s = doc["records_per_s"].GetDouble();
  return s;
}

struct Rings {
  test::OutputCheck check;
  std::size_t count = 0;
  std::uint64_t blocked = 0;
};

// Every ring in `dir`, read as an observer, through the output checker; each ring must be
// closed, named for the service, and hold the ids of one process index only.
Rings read_rings(const std::string& dir, const std::string& service) {
  Rings rings;
  auto paths = list_rings(dir);
  REQUIRE(paths);
  std::set<std::int32_t> writers;
  std::set<std::string> process_indexes;
  for (const std::string& path : paths.value()) {
    INFO("ring ", path);
    auto reader = RingReader::open(path, OpenMode::observer);
    REQUIRE(reader);
    const RingReader& r = *reader.value();
    CHECK(r.info().service == service);
    CHECK(r.writer_state() == ring::WriterState::closed);  // the child shut down
    writers.insert(r.info().writer_pid);
    for (std::uint32_t lane = 0; lane < r.info().lane_count; ++lane)
      rings.blocked += r.lane_state(lane).blocked;
    std::set<std::string> indexes;
    std::size_t line_number = 0;
    for (const std::string& line : test::peek_lines(path)) {
      test::check_line(rings.check, path + ":" + std::to_string(++line_number), line);
      const std::string id = test::field(line, "context.id");
      indexes.insert(id.substr(0, id.find('-')));
    }
    CHECK(indexes.size() <= 1);  // one child, one ring
    process_indexes.insert(indexes.begin(), indexes.end());
    ++rings.count;
  }
  CHECK(writers.size() == rings.count);
  CHECK(process_indexes.size() == rings.count);
  return rings;
}

}  // namespace

TEST_CASE("2 processes x 2 threads x 2000 records: one ring per child, every id exactly once") {
  test::TempDir rings_dir{"loadgen-rings"};
  test::TempDir scratch{"loadgen-scratch"};
  const Run run =
      loadgen("SHMLOG_DIR=" + quoted(rings_dir.path()),
              "--processes 2 --threads 2 --records 2000 --service loadgen-test --flush-ms 0", scratch);
  INFO("stderr: ", run.err);
  REQUIRE(run.status == 0);
  const Summary s = parse_summary(run.out);
  CHECK(s.records == 2000);
  CHECK(s.processes == 2);
  CHECK(s.threads == 2);
  CHECK(s.dropped == 0);
  CHECK(s.seconds > 0);
  CHECK(s.records_per_s > 0);
  CHECK(run.err.find("not drained") != std::string::npos);  // no consumer ran, and it says so

  Rings rings = read_rings(rings_dir.path(), "loadgen-test");
  CHECK(rings.count == 2);
  test::expect_loadgen_ids(rings.check, 2, 2, 2000);
  CHECK_MESSAGE(rings.check.ok(), test::summary(rings.check));
  CHECK(rings.check.lines == 2000);
  CHECK(rings.check.ids.size() == 2000);
  CHECK(rings.check.ids.contains("1-1-499"));  // k = 1999, the last one
}

TEST_CASE("--payload-bytes adds a payload of that size to each record's context") {
  test::TempDir rings_dir{"loadgen-rings"};
  test::TempDir scratch{"loadgen-scratch"};
  const Run run =
      loadgen("SHMLOG_DIR=" + quoted(rings_dir.path()),
              "--processes 1 --threads 3 --records 10 --payload-bytes 300 --seed 7 --flush-ms 0", scratch);
  INFO("stderr: ", run.err);
  REQUIRE(run.status == 0);
  auto paths = list_rings(rings_dir.path());
  REQUIRE(paths);
  REQUIRE(paths.value().size() == 1);
  const auto lines = test::peek_lines(paths.value()[0]);
  REQUIRE(lines.size() == 10);
  for (const std::string& line : lines) CHECK(test::field(line, "context.payload").size() == 300);
  Rings rings = read_rings(rings_dir.path(), "shmlog-loadgen");  // the default service
  test::expect_loadgen_ids(rings.check, 1, 3, 10);
  CHECK_MESSAGE(rings.check.ok(), test::summary(rings.check));
}

TEST_CASE("a full lane with no consumer: the summary's dropped plus what the rings hold is every record") {
  test::TempDir rings_dir{"loadgen-rings"};
  test::TempDir scratch{"loadgen-scratch"};
  // 2 lanes of 4 KiB: a few dozen records fit in the thread's lane, the rest are dropped.
  const std::string env = "SHMLOG_DIR=" + quoted(rings_dir.path()) + " SHMLOG_RING_BYTES=8KiB SHMLOG_LANES=2";
  SUBCASE("drop") {
    const Run run =
        loadgen(env, "--processes 1 --threads 1 --records 500 --overflow drop --flush-ms 0", scratch);
    INFO("stderr: ", run.err);
    REQUIRE(run.status == 0);
    const Summary s = parse_summary(run.out);
    Rings rings = read_rings(rings_dir.path(), "shmlog-loadgen");
    CHECK(s.dropped > 0);
    CHECK(rings.check.lines + s.dropped == 500);
    CHECK(rings.blocked == 0);
    test::expect_loadgen_ids(rings.check, 1, 1, 500);
    CHECK(rings.check.missing == s.dropped);
    CHECK(rings.check.duplicates == 0);
    CHECK(rings.check.order_violations == 0);
  }
  SUBCASE("--overflow block waits (bounded) before it drops") {
    const Run run =
        loadgen(env, "--processes 1 --threads 1 --records 100 --overflow block --flush-ms 0", scratch);
    INFO("stderr: ", run.err);
    REQUIRE(run.status == 0);
    const Summary s = parse_summary(run.out);
    Rings rings = read_rings(rings_dir.path(), "shmlog-loadgen");
    CHECK(s.dropped > 0);
    CHECK(rings.check.lines + s.dropped == 100);
    CHECK(rings.blocked > 0);
    CHECK(s.seconds >= 0.005 * static_cast<double>(s.dropped));  // 10 ms per dropped record, with slack
  }
}

TEST_CASE("--rate paces the records with absolute deadlines") {
  test::TempDir rings_dir{"loadgen-rings"};
  test::TempDir scratch{"loadgen-scratch"};
  // 1000/s over 2 threads: each thread's record i is due at i / 500 s, the last (i = 99) at 0.198 s.
  const Run run = loadgen("SHMLOG_DIR=" + quoted(rings_dir.path()),
                          "--processes 1 --threads 2 --records 200 --rate 1000 --flush-ms 0", scratch);
  INFO("stderr: ", run.err);
  REQUIRE(run.status == 0);
  const Summary s = parse_summary(run.out);
  CHECK(s.seconds >= 0.198);
  CHECK(s.seconds < 5);
  CHECK(s.records_per_s <= 1010);
}

TEST_CASE("bad flags and a failing child end with a non-zero status and say why") {
  test::TempDir rings_dir{"loadgen-rings"};
  test::TempDir scratch{"loadgen-scratch"};
  const std::string env = "SHMLOG_DIR=" + quoted(rings_dir.path());
  struct Case {
    const char* args;
    const char* says;
  };
  SUBCASE("bad flags") {
    for (const Case& c : {Case{"--processes 0 --threads 1 --records 10", "--processes"},
                          Case{"--processes 1 --threads 1", "--records is required"},
                          Case{"--processes 1 --threads 1 --records 10 --overflow sometimes", "--overflow"},
                          Case{"--processes 1 --threads 1 --records 10 --rate=-5", "--rate"},
                          Case{"--processes 1 --threads 1 --records 10 --bogus", "bogus"}}) {
      const Run run = loadgen(env, c.args, scratch);
      INFO(c.args, " -> stderr: ", run.err);
      CHECK(run.status != 0);
      CHECK(run.out.empty());
      CHECK(run.err.find(c.says) != std::string::npos);
    }
  }
  SUBCASE("a bad SHMLOG_* setting") {
    const Run run = loadgen(env + " SHMLOG_LANES=1", "--processes 1 --threads 1 --records 10", scratch);
    CHECK(run.status != 0);
    CHECK(run.err.find("SHMLOG_LANES") != std::string::npos);
  }
  SUBCASE("no ring directory: the children fail, so does the run") {
    const Run run = loadgen("SHMLOG_DIR=" + quoted(rings_dir.file("missing")),
                            "--processes 2 --threads 1 --records 10", scratch);
    INFO("stderr: ", run.err);
    CHECK(run.status != 0);
    CHECK(run.out.empty());
    CHECK(run.err.find("no ring file") != std::string::npos);
    CHECK(run.err.find("child 1") != std::string::npos);
  }
}
