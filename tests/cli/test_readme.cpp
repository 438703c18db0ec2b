// The README's settings table is `shmlog settings --markdown`, word for word: the settings live
// in one table in libshm/config.cpp, and this keeps the front door from drifting away from it.
#include "support/test_dir.hpp"

#include <cstdio>
#include <string>

#include <doctest/doctest.h>

namespace {

std::string run(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  CHECK(::pclose(p) == 0);
  return out;
}

}  // namespace

TEST_CASE("the README's settings table is what `shmlog settings --markdown` prints") {
  const std::string readme = shmlog::test::read_file(SHMLOG_README_PATH);
  const std::string begin = "<!-- settings:begin";
  const std::string end = "<!-- settings:end -->";
  const auto b = readme.find(begin);
  REQUIRE_MESSAGE(b != std::string::npos, "README.md has no settings:begin marker");
  const auto table_start = readme.find('\n', b) + 1;
  const auto e = readme.find(end, table_start);
  REQUIRE(e != std::string::npos);
  const std::string in_readme = readme.substr(table_start, e - table_start);
  const std::string generated = run(std::string(SHMLOG_CLI_PATH) + " settings --markdown");
  CHECK_MESSAGE(in_readme == generated,
                "README.md's settings table is stale; replace it with `shmlog settings --markdown`:\n"
                    << generated);
}
