// Settings: SHMLOG_* variables, sizes and durations, and errors that name what is wrong.
#include <shmlog/config.hpp>
#include <shmlog/logger.hpp>

#include <cstdlib>
#include <string>
#include <vector>

#include <doctest/doctest.h>

using namespace shmlog;

namespace {

// Sets variables for one scope and removes every SHMLOG_* variable afterwards.
struct Env {
  explicit Env(std::initializer_list<std::pair<const char*, const char*>> vars) {
    clear();
    for (auto& [k, v] : vars) setenv(k, v, 1);
  }
  ~Env() { clear(); }
  static void clear() {
    for (const auto& s : library_settings()) unsetenv(std::string(s.env).c_str());
  }
};

}  // namespace

TEST_CASE("no settings at all gives the documented defaults") {
  Env env({});
  auto c = Config::from_env();
  REQUIRE(c);
  CHECK(c->dir == "/var/run/shmlog");
  CHECK(c->service.empty());
  CHECK(c->ring_bytes == 8u << 20);
  CHECK(c->lanes == 16);
  CHECK(c->level == Level::info);
  CHECK(c->overflow == OverflowPolicy::drop);
  CHECK(c->fallback == FallbackSink::stderr_json);
  CHECK(c->validate());
}

TEST_CASE("every variable is read") {
  Env env({{"SHMLOG_DIR", "/tmp/x"},
           {"SHMLOG_SERVICE", "checkout"},
           {"SHMLOG_RING_BYTES", "16MiB"},
           {"SHMLOG_LANES", "32"},
           {"SHMLOG_LEVEL", "warn"},
           {"SHMLOG_OVERFLOW", "block:5ms"},
           {"SHMLOG_FALLBACK", "discard"},
           {"SHMLOG_MAX_STRING_BYTES", "1024"},
           {"SHMLOG_HEADROOM_PERCENT", "20"}});
  auto c = Config::from_env();
  REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  CHECK(c->dir == "/tmp/x");
  CHECK(c->service == "checkout");
  CHECK(c->ring_bytes == 16u << 20);
  CHECK(c->lanes == 32);
  CHECK(c->level == Level::warning);
  CHECK(c->overflow == OverflowPolicy::block);
  CHECK(c->block_timeout == std::chrono::milliseconds(5));
  CHECK(c->fallback == FallbackSink::discard);
  CHECK(c->max_string_bytes == 1024);
  CHECK(c->headroom_percent == 20);
}

TEST_CASE("a bad value names the variable, the value and what is allowed") {
  struct Case {
    const char* env;
    const char* value;
    const char* allowed;
  };
  const Case cases[] = {
      {"SHMLOG_LEVEL", "loud", "TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL"},
      {"SHMLOG_RING_BYTES", "lots", "8KiB to 4GiB"},
      {"SHMLOG_RING_BYTES", "4k", "8KiB to 4GiB"},
      {"SHMLOG_RING_BYTES", "9G", "8KiB to 4GiB"},
      {"SHMLOG_LANES", "1", "2 to 1024"},
      {"SHMLOG_LANES", "-3", "2 to 1024"},
      {"SHMLOG_OVERFLOW", "wait", "drop, block, or block:<duration>"},
      {"SHMLOG_OVERFLOW", "block:forever", "drop, block, or block:<duration>"},
      {"SHMLOG_OVERFLOW", "block:1m", "drop, block, or block:<duration>"},
      {"SHMLOG_FALLBACK", "syslog", "stderr or discard"},
      {"SHMLOG_SERVICE", "", "1-63 bytes"},
      {"SHMLOG_HEADROOM_PERCENT", "90", "0 to 50"},
      {"SHMLOG_MAX_STRING_BYTES", "12x", "64 to 1048576"},
  };
  for (const auto& c : cases) {
    Env env({{c.env, c.value}});
    auto r = Config::from_env();
    REQUIRE_MESSAGE(!r, c.env << "=" << c.value << " was accepted");
    const std::string& m = r.error().message;
    CHECK_MESSAGE(m.find(std::string(c.env) + "=\"" + c.value + "\"") != std::string::npos, m);
    CHECK_MESSAGE(m.find(c.allowed) != std::string::npos, m);
  }
}

TEST_CASE("sizes and durations") {
  CHECK(*parse_bytes("4096") == 4096);
  CHECK(*parse_bytes("512k") == 512u << 10);
  CHECK(*parse_bytes("8MiB") == 8u << 20);
  CHECK(*parse_bytes("1G") == 1u << 30);
  CHECK_FALSE(parse_bytes(""));
  CHECK_FALSE(parse_bytes("MiB"));
  CHECK_FALSE(parse_bytes("12 MiB"));
  CHECK(*parse_bytes("2TiB") == 2ull << 40);
  CHECK_FALSE(parse_bytes("3PB"));
  CHECK_FALSE(parse_bytes("99999999999999999999"));
  CHECK(*parse_duration("500us") == std::chrono::microseconds(500));
  CHECK(*parse_duration("10ms") == std::chrono::milliseconds(10));
  CHECK(*parse_duration("7") == std::chrono::milliseconds(7));
  CHECK(*parse_duration("2s") == std::chrono::seconds(2));
  CHECK(*parse_duration("1m") == std::chrono::minutes(1));
  CHECK(*parse_duration("1h") == std::chrono::hours(1));
  CHECK(*parse_duration("7d") == std::chrono::hours(24 * 7));
  CHECK_FALSE(parse_duration("1w"));
  CHECK_FALSE(parse_duration("-1s"));
}

TEST_CASE("programmatic settings are checked the same way and init reports them") {
  Config c;
  c.lanes = 1;
  auto s = init(c);
  REQUIRE_FALSE(s);
  CHECK(s.error().message.find("lanes") != std::string::npos);
  c = Config{};
  c.ring_bytes = 64 << 10;
  c.lanes = 1024;  // 64 bytes per lane
  CHECK_FALSE(c.validate());
  c = Config{};
  c.service = std::string(64, 's');
  CHECK_FALSE(c.validate());
}

TEST_CASE("the lazy start skips bad variables and keeps the good ones") {
  Env env({{"SHMLOG_LEVEL", "loud"}, {"SHMLOG_LANES", "8"}});
  std::string problems;
  Config c = detail::config_from_env_lenient(problems);
  CHECK(c.lanes == 8);
  CHECK(c.level == Level::info);
  CHECK(problems.find("SHMLOG_LEVEL=\"loud\"") != std::string::npos);
}
