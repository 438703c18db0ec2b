// The README's settings table is `shmlog settings --markdown`, word for word: the settings live
// in one table in libshm/config.cpp, and this keeps the front door from drifting away from it.
#include "support/test_dir.hpp"

#include <cstdio>
#include <string>

#include <doctest/doctest.h>

namespace {

std::string run(const std::string& command) {
  const shmlog::test::TempDir scratch("shmlog-readme");
  const auto result = shmlog::test::run_command(command, scratch);
  CHECK(result.status == 0);
  return result.out;
}

// The table between `<!-- <marker>:begin` and `<!-- <marker>:end -->` must be `command`'s output.
void check_table(const std::string& marker, const std::string& command) {
  const std::string readme = shmlog::test::read_file(SHMLOG_README_PATH);
  const std::string begin = "<!-- " + marker + ":begin";
  const std::string end = "<!-- " + marker + ":end -->";
  const auto b = readme.find(begin);
  REQUIRE_MESSAGE(b != std::string::npos, "README.md has no " << marker << ":begin marker");
  const auto table_start = readme.find('\n', b) + 1;
  const auto e = readme.find(end, table_start);
  REQUIRE(e != std::string::npos);
  const std::string in_readme = readme.substr(table_start, e - table_start);
  const std::string generated = run(std::string(SHMLOG_CLI_PATH) + " " + command);
  CHECK_MESSAGE(in_readme == generated,
                "README.md's " << marker << " table is stale; replace it with `shmlog " << command << "`:\n"
                               << generated);
}

}  // namespace

TEST_CASE("the README's settings table is what `shmlog settings --markdown` prints") {
  check_table("settings", "settings --markdown");
}

TEST_CASE("the README's sidecar settings table is what `shmlog settings --sidecar --markdown` prints") {
  check_table("sidecar-settings", "settings --sidecar --markdown");
}
