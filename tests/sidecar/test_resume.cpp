// The resume index: which records at a cursor a killed sidecar had already written.
#include "drain/resume.hpp"
#include "support/test_dir.hpp"

#include <doctest/doctest.h>

using namespace shmlog;
using namespace shmlog::sidecar;

namespace {

std::string line(const std::string& timestamp, int seq, const std::string& message = "started") {
  return "{\"timestamp\":\"" + timestamp + "\",\"level\":\"INFO\",\"message\":\"" + message +
         "\",\"service\":\"svc\",\"pid\":1,\"tid\":1,\"seq\":" + std::to_string(seq) + "}\n";
}

}  // namespace

TEST_CASE("a record is found by everything but its timestamp, within a millisecond") {
  test::TempDir dir("shmlog-resume");
  const std::string path = dir.file("svc.log");
  test::write_file(path,
                   line("2026-11-21T10:00:00.000000000Z", 0) + line("2026-11-21T10:00:00.000100000Z", 1));
  auto index = ResumeIndex::load(path, 1 << 20);
  REQUIRE(index);
  CHECK(index.value()->contains(line("2026-11-21T10:00:00.000000000Z", 0)));
  CHECK(index.value()->contains(line("2026-11-21T10:00:00.000000731Z", 0)));        // re-estimated TSC rate
  CHECK(index.value()->contains(line("2026-11-21T09:59:59.999500000Z", 0)));        // across a second
  CHECK_FALSE(index.value()->contains(line("2026-11-21T10:00:00.000000000Z", 2)));  // another seq
  CHECK_FALSE(index.value()->contains(line("2026-11-21T10:00:00.000000000Z", 0, "x")));  // another text
  // The same app restarted in its container: same pid, tid, seq and text, but seconds later.
  CHECK_FALSE(index.value()->contains(line("2026-11-21T10:00:03.000000000Z", 0)));
  CHECK_FALSE(index.value()->contains(line("2026-11-21T10:00:00.002000000Z", 0)));
}

TEST_CASE("a torn last line is cut off the file; a missing file is an empty index") {
  test::TempDir dir("shmlog-resume");
  const std::string path = dir.file("svc.log");
  const std::string whole = line("2026-11-21T10:00:00.000000000Z", 0);
  test::write_file(path, whole + "{\"timestamp\":\"2026-11-21T10:00:00.1");
  auto index = ResumeIndex::load(path, 1 << 20);
  REQUIRE(index);
  CHECK(test::read_file(path) == whole);
  CHECK(index.value()->size() == 1);
  auto none = ResumeIndex::load(dir.file("absent.log"), 1 << 20);
  REQUIRE(none);
  CHECK(none.value()->size() == 0);
}

TEST_CASE("only the window at the end is indexed, starting at a whole line") {
  test::TempDir dir("shmlog-resume");
  const std::string path = dir.file("svc.log");
  std::string text;
  for (int i = 0; i < 100; ++i) text += line("2026-11-21T10:00:00.000000000Z", i);
  test::write_file(path, text);
  const std::size_t one = line("2026-11-21T10:00:00.000000000Z", 10).size();
  auto index = ResumeIndex::load(path, 10 * one + one / 2);
  REQUIRE(index);
  CHECK(index.value()->size() == 10);  // the cut line at the front of the window is skipped
  CHECK(index.value()->contains(line("2026-11-21T10:00:00.000000000Z", 99)));
  CHECK_FALSE(index.value()->contains(line("2026-11-21T10:00:00.000000000Z", 80)));
}
