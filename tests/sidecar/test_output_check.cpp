// The output checker on hand-made output files: a clean set of backups and the current file reads
// clean, oldest first; each kind of fault (duplicate, missing or foreign id, seq out of order, a
// line that is not JSON or breaks the schema or has no newline, a bad gzip backup, an odd set of
// files) is reported with the file and line it is in.
#include "loadgen_ids.hpp"
#include "sidecar/output_check.hpp"
#include "support/test_dir.hpp"

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <zlib.h>

using namespace shmlog;

namespace {

// A valid record line of writer thread (pid, tid), without its newline; no id when `id` is empty.
std::string record(std::int64_t pid, std::int64_t tid, std::uint64_t seq, const std::string& id) {
  std::string line =
      R"({"timestamp":"2024-05-01T12:00:00.123456789Z","level":"INFO","message":"Logging int: 1, int: 2, double: 3.5",)"
      R"("service":"svc","file":"bench/loadgen.cpp","line":80,"function":"write_records","logger":"loadgen",)"
      R"("pid":)" +
      std::to_string(pid) + R"(,"tid":)" + std::to_string(tid) + R"(,"seq":)" + std::to_string(seq);
  if (!id.empty()) line += R"(,"context":{"id":")" + id + R"("})";
  return line + "}";
}

// The sidecar's own kind of line: no pid, tid, seq or id.
const std::string kDropWarning =
    R"({"timestamp":"2024-05-01T12:00:01.000000000Z","level":"WARNING","message":"3 records dropped",)"
    R"("service":"svc","file":"","line":0,"function":""})";

std::string lines(const std::vector<std::string>& each) {
  std::string out;
  for (const std::string& line : each) out += line + "\n";
  return out;
}

void write_gzip(const std::string& path, const std::string& content) {
  gzFile gz = ::gzopen(path.c_str(), "wb");
  REQUIRE(gz != nullptr);
  REQUIRE(::gzwrite(gz, content.data(), static_cast<unsigned>(content.size())) ==
          static_cast<int>(content.size()));
  REQUIRE(::gzclose(gz) == Z_OK);
}

// The records of shmlog-loadgen --processes 1 --threads 2 --records 6, thread 0 as tid 11 and
// thread 1 as tid 12, spread oldest first over svc.log.3.gz, svc.log.2.gz, svc.log.1, svc.log.
// Record k = t + 2 * i has seq i in its thread's lane.
struct CleanOutput {
  test::TempDir dir{"output-check"};
  CleanOutput() {
    write_gzip(dir.file("svc.log.3.gz"), lines({record(7, 11, 0, "0-0-0"), record(7, 12, 0, "0-1-0")}));
    write_gzip(dir.file("svc.log.2.gz"), lines({record(7, 11, 1, "0-0-1"), kDropWarning}));
    test::write_file(dir.file("svc.log.1"), lines({record(7, 12, 1, "0-1-1"), record(7, 11, 2, "0-0-2")}));
    test::write_file(dir.file("svc.log"), lines({record(7, 12, 2, "0-1-2")}));
  }
};

bool mentions(const test::OutputCheck& check, const std::string& a, const std::string& b = "") {
  for (const std::string& p : check.problems)
    if (p.find(a) != std::string::npos && p.find(b) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("the loadgen id rule: record k is process k % P, thread (k / P) % T, counter k / (P * T)") {
  const loadgen::Split split{3, 2, 20};
  std::set<std::uint64_t> seen;
  loadgen::for_each_record(split, [&](unsigned p, unsigned t, std::uint64_t i) {
    const std::uint64_t k = split.index(p, t, i);
    CHECK(k < 20);
    CHECK(k % 3 == p);
    CHECK((k / 3) % 2 == t);
    CHECK(k / 6 == i);
    CHECK(loadgen::parse_id(loadgen::record_id(p, t, i), split) == k);
    seen.insert(k);
  });
  CHECK(seen.size() == 20);
  CHECK(loadgen::record_id(2, 1, 3) == "2-1-3");  // k = 2 + 3 * (1 + 2 * 3) = 23: past 20
  CHECK_FALSE(loadgen::parse_id("2-1-3", split).has_value());
  CHECK(loadgen::parse_id("2-1-2", split) == 2 + 3 * (1 + 2 * 2));
  for (const char* bad :
       {"", "0-0", "0-0-0-0", "3-0-0", "0-2-0", "00-0-0", "0-0-01", "-0-0-0", "0-0-x", "0-0-0 "})
    CHECK_MESSAGE(!loadgen::parse_id(bad, split).has_value(), bad);
}

TEST_CASE("clean output: every file read oldest first, every id once, seq rising across files") {
  CleanOutput out;
  auto check = test::read_output(out.dir.path(), "svc");
  test::expect_loadgen_ids(check, 1, 2, 6);
  CHECK_MESSAGE(check.ok(), test::summary(check));
  CHECK(check.lines == 7);
  CHECK(check.ids.size() == 6);
  CHECK(check.ids["0-1-2"] == 1);
  CHECK(check.duplicates == 0);
  CHECK(check.missing == 0);
}

TEST_CASE("a duplicate id is counted and named with its file and line") {
  CleanOutput out;
  test::write_file(out.dir.file("svc.log"), lines({record(7, 12, 2, "0-1-2"), record(8, 1, 0, "0-0-1")}));
  auto check = test::read_output(out.dir.path(), "svc");
  test::expect_loadgen_ids(check, 1, 2, 6);
  CHECK(check.duplicates == 1);
  CHECK(check.ids["0-0-1"] == 2);
  CHECK(check.missing == 0);
  CHECK(mentions(check, "svc.log:2:", "id 0-0-1 seen 2 times"));
  CHECK_FALSE(check.ok());
}

TEST_CASE("a missing id is counted and named") {
  CleanOutput out;
  test::write_file(out.dir.file("svc.log"), "");
  auto check = test::read_output(out.dir.path(), "svc");
  CHECK(check.ok());  // nothing wrong with the files themselves
  test::expect_loadgen_ids(check, 1, 2, 6);
  CHECK(check.missing == 1);
  CHECK(mentions(check, "1 of 6 ids", "missing, e.g. 0-1-2"));
  CHECK_FALSE(check.ok());
}

TEST_CASE("an id the generator does not write is unexpected") {
  CleanOutput out;
  test::write_file(out.dir.file("svc.log"), lines({record(7, 12, 2, "0-1-2"), record(7, 12, 3, "0-2-0")}));
  auto check = test::read_output(out.dir.path(), "svc");
  test::expect_loadgen_ids(check, 1, 2, 6);
  CHECK(check.unexpected == 1);
  CHECK(check.missing == 0);
  CHECK(mentions(check, "id 0-2-0 is not one shmlog-loadgen --processes 1 --threads 2 --records 6 writes"));
}

TEST_CASE("seq going back within one (pid, tid) is an order violation; other threads are independent") {
  CleanOutput out;
  // tid 11 was at seq 2 in svc.log.1; tid 12 at 1. A line of tid 11 with seq 1 is out of order,
  // tid 12 going on at 2 is not, and neither is a new pid reusing tid 11.
  test::write_file(out.dir.file("svc.log"), lines({record(7, 12, 2, "0-1-2"), record(7, 11, 1, ""),
                                                   record(9, 11, 0, ""), record(7, 11, 3, "")}));
  auto check = test::read_output(out.dir.path(), "svc");
  CHECK(check.order_violations == 1);
  CHECK(mentions(check, "svc.log:2:", "pid 7 tid 11: seq 1 after seq 2"));
  CHECK(check.problem_count == 1);
}

TEST_CASE("a line that is not JSON, or breaks the schema, is named with its file and line") {
  CleanOutput out;
  std::string bad_level = record(5, 5, 0, "");
  bad_level.replace(bad_level.find("\"INFO\""), 6, "\"LOUD\"");
  test::write_file(out.dir.file("svc.log.1"), lines({record(7, 12, 1, "0-1-1"), "Logging int: 1 {not json",
                                                     bad_level, "", record(7, 11, 2, "0-0-2")}));
  auto check = test::read_output(out.dir.path(), "svc");
  CHECK(check.lines == 10);
  CHECK(mentions(check, "svc.log.1:2: not JSON", "Logging int: 1 {not json"));
  CHECK(mentions(check, "svc.log.1:3: schema violation", "'enum'"));
  CHECK(mentions(check, "svc.log.1:4: not JSON"));
  CHECK(check.problem_count == 3);
  test::expect_loadgen_ids(check, 1, 2, 6);
  CHECK(check.missing == 0);  // the good lines around them still count
}

TEST_CASE("a last line without its newline is reported, and still read") {
  CleanOutput out;
  test::write_file(out.dir.file("svc.log"), record(7, 12, 2, "0-1-2"));
  auto check = test::read_output(out.dir.path(), "svc");
  CHECK(mentions(check, "svc.log:1: last line does not end in a newline"));
  CHECK(check.problem_count == 1);
  CHECK(check.ids["0-1-2"] == 1);
}

TEST_CASE("gzip backups: read through zlib; one cut short or not compressed at all is reported") {
  CleanOutput out;
  SUBCASE("the gzipped lines are read") {
    auto check = test::read_output(out.dir.path(), "svc");
    CHECK(check.ids.contains("0-0-0"));
    CHECK(check.ids.contains("0-0-1"));
  }
  SUBCASE("cut short") {
    const std::string whole = test::read_file(out.dir.file("svc.log.3.gz"));
    test::write_file(out.dir.file("svc.log.3.gz"), whole.substr(0, whole.size() - 12));
    auto check = test::read_output(out.dir.path(), "svc");
    CHECK_MESSAGE(mentions(check, "svc.log.3.gz: gzip error"), test::summary(check));
  }
  SUBCASE("plain text under a .gz name") {
    test::write_file(out.dir.file("svc.log.3.gz"), lines({record(7, 11, 0, "0-0-0")}));
    auto check = test::read_output(out.dir.path(), "svc");
    CHECK_MESSAGE(mentions(check, "svc.log.3.gz: named .gz but not gzip-compressed"), test::summary(check));
  }
  SUBCASE("empty") {
    test::write_file(out.dir.file("svc.log.3.gz"), "");
    auto check = test::read_output(out.dir.path(), "svc");
    CHECK(mentions(check, "svc.log.3.gz: empty"));
  }
}

TEST_CASE("the set of files: a gap, a backup both plain and gzipped, no current file, nothing at all") {
  SUBCASE("a gap in the backup numbers") {
    CleanOutput out;
    std::filesystem::rename(out.dir.file("svc.log.3.gz"), out.dir.file("svc.log.5.gz"));
    auto check = test::read_output(out.dir.path(), "svc");
    CHECK_MESSAGE(check.problems.empty(),
                  test::summary(check));  // a killed rotation leaves gaps; the order is kept
    CHECK(check.order_violations == 0);
  }
  SUBCASE("one number both plain and gzipped: the .gz is read") {
    CleanOutput out;
    test::write_file(out.dir.file("svc.log.2"), "not read\n");
    auto check = test::read_output(out.dir.path(), "svc");
    CHECK(mentions(check, "svc.log.2 and svc.log.2.gz both exist"));
    CHECK(check.problem_count == 1);
  }
  SUBCASE("backups but no current file") {
    CleanOutput out;
    std::filesystem::remove(out.dir.file("svc.log"));
    auto check = test::read_output(out.dir.path(), "svc");
    CHECK(mentions(check, "no svc.log"));
    CHECK(check.lines == 6);
  }
  SUBCASE("nothing for the service; other services' files are not read") {
    test::TempDir dir{"output-check"};
    test::write_file(dir.file("other.log"), lines({record(1, 1, 0, "0-0-0")}));
    test::write_file(dir.file("svc.log.tmp"), "ignored\n");
    auto check = test::read_output(dir.path(), "svc");
    CHECK(mentions(check, "no svc.log and no backups of it"));
    CHECK(check.lines == 0);
  }
  SUBCASE("no directory") {
    auto check = test::read_output("/nonexistent/shmlog-output", "svc");
    CHECK(mentions(check, "/nonexistent/shmlog-output: cannot list"));
  }
}

TEST_CASE("problems are kept up to a cap but all counted; the summary names the first") {
  test::TempDir dir{"output-check"};
  std::vector<std::string> bad(60, "oops");
  test::write_file(dir.file("svc.log"), lines(bad));
  auto check = test::read_output(dir.path(), "svc");
  CHECK(check.lines == 60);
  CHECK(check.problems.size() == test::OutputCheck::kMaxProblems);
  CHECK(check.problem_count == 60);
  const std::string s = test::summary(check);
  CHECK(s.find("60 lines") != std::string::npos);
  CHECK(s.find("60 problems: svc.log:1: not JSON") != std::string::npos);
  CHECK(s.find("57 more") != std::string::npos);
}
