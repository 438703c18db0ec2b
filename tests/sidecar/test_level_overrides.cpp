// Level overrides (PUT /api/level): per service or for every service, kept in a file that a
// restarted sidecar reads back, with the apps' own levels; a broken file is an error.
#include "control/level_overrides.hpp"
#include "support/test_dir.hpp"

#include <fstream>

#include <doctest/doctest.h>

using namespace shmlog;
using namespace shmlog::sidecar;

TEST_CASE("overrides: a service's own wins over every service's; they survive a reload") {
  test::TempDir dir("shmlog-levels");
  const std::string path = dir.file("levels.json");
  auto loaded = LevelOverrides::load(path);
  REQUIRE(loaded);  // no file yet: none
  auto& o = *loaded.value();
  CHECK_FALSE(o.for_service("api"));
  const auto g0 = o.generation();
  REQUIRE(o.set("*", Level::warning));
  REQUIRE(o.set("api", Level::debug));
  CHECK(o.generation() == g0 + 2);
  REQUIRE(o.set("api", Level::debug));  // no change: no new generation
  CHECK(o.generation() == g0 + 2);
  CHECK(o.for_service("api") == Level::debug);
  CHECK(o.for_service("worker") == Level::warning);
  REQUIRE(o.remember_own_level("/rings/api-1.ring", Level::info));

  auto again = LevelOverrides::load(path);
  REQUIRE(again);
  CHECK(again.value()->for_service("api") == Level::debug);
  CHECK(again.value()->for_service("other") == Level::warning);
  CHECK(again.value()->own_level("/rings/api-1.ring") == Level::info);
  REQUIRE(again.value()->set("*", std::nullopt));
  REQUIRE(again.value()->forget_own_level("/rings/api-1.ring"));
  auto third = LevelOverrides::load(path);
  REQUIRE(third);
  CHECK_FALSE(third.value()->for_service("other"));
  CHECK_FALSE(third.value()->own_level("/rings/api-1.ring"));
  CHECK(third.value()->all().size() == 1);
}

TEST_CASE("a broken overrides file is an error naming it; a failed save changes nothing") {
  test::TempDir dir("shmlog-levels");
  const std::string path = dir.file("levels.json");
  for (const char* text :
       {"{", "[]", R"({"levels":[]})", R"({"levels":{"api":"LOUD"}})", R"({"levels":{"api":3}})"}) {
    std::ofstream(path) << text;
    auto r = LevelOverrides::load(path);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find(path) != std::string::npos);
  }
  auto o = LevelOverrides::empty(dir.file("no-such-dir/levels.json"));
  CHECK_FALSE(o->set("api", Level::error));
  CHECK_FALSE(o->for_service("api"));
  CHECK(o->generation() == 0);
}
