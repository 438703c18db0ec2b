// The app-facing API end to end in one process: log through shmlog::Logger into a real ring
// file, take the records back with a consumer and check the JSON lines the reader makes.
#define SHMLOG_ACTIVE_LEVEL 1  // DEBUG: TRACE calls in this file compile to nothing
#include "support/test_dir.hpp"

#include <shmlog/logger.hpp>
#include <shmlog/reader.hpp>
#include <shmlog/trace.hpp>

#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

using namespace shmlog;
using test::field;

namespace {

std::vector<std::string> take_all(const std::string& path) {
  auto lines = test::drain_lines(path);
  for (const auto& l : lines) {
    auto err = test::schema_error(l);
    CHECK_MESSAGE(err.empty(), err);
  }
  return lines;
}

enum class Colour : std::uint8_t { red = 1, green = 2 };

}  // namespace

TEST_CASE("every argument type reaches the line formatted as fmt would") {
  test::TempDir dir;
  const auto path = test::start_ring(dir);
  Logger log{"types"};
  const char* cstr = "c-string";
  char* null_cstr = nullptr;
  std::string str = "std-string";
  std::string_view view = "view";
  int x = 0;
  log.info("ints {} {} {} {} {} {} {} {}", std::int8_t{-8}, std::int16_t{-16}, std::int32_t{-32},
           std::int64_t{-64}, std::uint8_t{8}, std::uint16_t{16}, std::uint32_t{32}, std::uint64_t{1} << 63);
  log.info("floats {} {:.3f} {}", 1.5f, 3.14159, 2.0L);
  log.info("misc {} {} {} {}", true, 'c', Colour::green, &x);
  log.info("strings {} {} {} {} {}", cstr, null_cstr, str, view, "literal");
  log.info("specs {:>6}|{:<4}|{:x}|{:08.2f}", 42, "ab", 255u, 3.5);
  log.info("no args at all");
  log.info("braces {{}} {}", 1);

  auto lines = take_all(path);
  REQUIRE(lines.size() == 7);
  CHECK(field(lines[0], "message") == "ints -8 -16 -32 -64 8 16 32 9223372036854775808");
  CHECK(field(lines[1], "message") == "floats 1.5 3.142 2");
  CHECK(field(lines[2], "message").rfind("misc true c 2 0x", 0) == 0);
  CHECK(field(lines[3], "message") == "strings c-string (null) std-string view literal");
  CHECK(field(lines[4], "message") == "specs     42|ab  |ff|00003.50");
  CHECK(field(lines[5], "message") == "no args at all");
  CHECK(field(lines[6], "message") == "braces {} 1");
  CHECK(field(lines[0], "level") == "INFO");
  CHECK(field(lines[0], "logger") == "types");
  CHECK(field(lines[0], "service") == "unit-test");
  CHECK_FALSE(field(lines[0], "function").empty());
  CHECK(field(lines[0], "file").find("test_logger.cpp") != std::string::npos);
  CHECK(std::stoi(field(lines[0], "line")) > 0);
  CHECK(field(lines[0], "seq") == "0");
  CHECK(field(lines[6], "seq") == "6");
}

TEST_CASE("levels, the runtime minimum in the ring header, and the compile-time minimum") {
  test::TempDir dir;
  const auto path = test::start_ring(dir);
  Logger log;
  int evaluated = 0;
  auto side_effect = [&] { return ++evaluated; };

  log.trace("compiled out {}", 1);  // SHMLOG_ACTIVE_LEVEL 1 removes TRACE from this file
  SHMLOG_TRACE(log, "compiled out too {}", side_effect());
  log.debug("debug {}", 1);
  log.info("info");
  log.warning("warning");
  log.error("error");
  log.critical("critical");
  CHECK(evaluated == 0);

  auto reader = RingReader::open(path, OpenMode::consumer);
  REQUIRE(reader);
  REQUIRE(reader.value()->set_min_level(Level::warning));
  CHECK_FALSE(Logger::enabled(Level::info));
  CHECK(Logger::enabled(Level::warning));
  log.info("dropped by the runtime level");
  SHMLOG_INFO(log, "not evaluated {}", side_effect());
  log.warning("kept {}", 2);
  CHECK(evaluated == 0);
  REQUIRE(reader.value()->set_min_level(Level::trace));
  SHMLOG_DEBUG(log, "evaluated {}", side_effect());
  CHECK(evaluated == 1);

  auto lines = take_all(path);
  std::vector<std::string> levels, messages;
  for (const auto& l : lines) {
    levels.push_back(field(l, "level"));
    messages.push_back(field(l, "message"));
  }
  CHECK(levels ==
        std::vector<std::string>{"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "WARNING", "DEBUG"});
  CHECK(messages[5] == "kept 2");
  CHECK(messages[6] == "evaluated 1");
}

TEST_CASE("structured context: per call, child loggers, and which one wins") {
  test::TempDir dir;
  const auto path = test::start_ring(dir);
  Logger log{"ctx"};
  const Logger child = log.with_context(kv("tenant", "acme"), kv("shard", 7));
  const Logger grandchild = child.with_context(kv("region", std::string("eu")));
  log.info("order {} placed", 17, kv("order_id", std::string("o-1")), kv("amount", 12.5), kv("paid", true));
  child.info("from child", kv("shard", 9));
  grandchild.warning("from grandchild");
  log.info("secrets", kv("password", "hunter2"), kv("api_key", 1234), kv("Authorization", "Bearer x"));
  log.info("user", kv("user_id", 42));

  auto lines = take_all(path);
  REQUIRE(lines.size() == 5);
  CHECK(field(lines[0], "message") == "order 17 placed");
  CHECK(field(lines[0], "context") == R"({"order_id":"o-1","amount":12.5,"paid":true})");
  CHECK(field(lines[1], "context") == R"({"tenant":"acme","shard":9})");
  CHECK(field(lines[2], "context") == R"({"tenant":"acme","shard":7,"region":"eu"})");
  CHECK(field(lines[3], "context") ==
        R"({"password":"[REDACTED]","api_key":"[REDACTED]","Authorization":"[REDACTED]"})");
  CHECK(field(lines[4], "user_id") == "42");
  CHECK(field(lines[4], "context").empty());
}

TEST_CASE("exceptions: dynamic type demangled and what(), also from catch (...)") {
  test::TempDir dir;
  const auto path = test::start_ring(dir);
  Logger log;
  try {
    throw std::out_of_range("index 12 past the end");
  } catch (const std::exception& e) {
    log.error("lookup failed for {}", 12, exception(e));
  }
  try {
    throw 42;
  } catch (...) {
    log.critical("something odd", current_exception());
  }
  auto lines = take_all(path);
  REQUIRE(lines.size() == 2);
  CHECK(field(lines[0], "message") == "lookup failed for 12");
  CHECK(field(lines[0], "exception.type") == "std::out_of_range");
  CHECK(field(lines[0], "exception.message") == "index 12 past the end");
  CHECK(field(lines[1], "exception.type") == "int");
}

TEST_CASE("the RAII timer logs duration_ms when its scope ends") {
  test::TempDir dir;
  const auto path = test::start_ring(dir);
  Logger log;
  {
    auto timer = log.time("slept");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  { auto quiet = log.time("debug timer", Level::debug); }
  auto lines = take_all(path);
  REQUIRE(lines.size() == 2);
  CHECK(field(lines[0], "message") == "slept");
  const double ms = std::stod(field(lines[0], "duration_ms"));
  CHECK(ms >= 20.0);
  CHECK(ms < 5000.0);
  CHECK(field(lines[1], "level") == "DEBUG");
}

TEST_CASE("trace and correlation context follow the thread and are restored") {
  test::TempDir dir;
  const auto path = test::start_ring(dir);
  Logger log;
  auto incoming = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  REQUIRE(incoming);
  {
    ScopedTrace trace(*incoming);
    ScopedCorrelation corr("req-123");
    log.info("inside");
    {
      ScopedCorrelation inner("req-inner");
      log.info("nested");
    }
    std::thread([&] { log.info("other thread has none"); }).join();
    log.info("restored");
  }
  log.info("outside");
  auto lines = take_all(path);
  REQUIRE(lines.size() == 5);
  // The other thread's record is on another lane: find lines by message.
  auto by = [&](const char* m) {
    for (auto& l : lines)
      if (field(l, "message") == m) return l;
    FAIL("no line " << m);
    return std::string();
  };
  CHECK(field(by("inside"), "trace_id") == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(field(by("inside"), "span_id") == "00f067aa0ba902b7");
  CHECK(field(by("inside"), "correlation_id") == "req-123");
  CHECK(field(by("nested"), "correlation_id") == "req-inner");
  CHECK(field(by("restored"), "correlation_id") == "req-123");
  CHECK(field(by("other thread has none"), "trace_id").empty());
  CHECK(field(by("outside"), "trace_id").empty());
  CHECK(field(by("outside"), "correlation_id").empty());
}

TEST_CASE("hostile strings cannot forge lines; long strings are cut and flagged") {
  test::TempDir dir;
  auto config = test::test_config();
  config.max_string_bytes = 100;
  const auto path = test::start_ring(dir, config);
  Logger log;
  log.warning("{}", std::string("line one\n{\"level\":\"CRITICAL\",\"message\":\"forged\"}\r\n\x1b[31mred"));
  log.info("{}", std::string("bad utf8 \xC0\xAF \xED\xA0\x80 \xF4\x90\x80\x80 end"));
  log.info("{}", std::string(5000, 'x'));
  auto lines = take_all(path);
  REQUIRE(lines.size() == 3);
  for (const auto& l : lines) CHECK(l.find('\n') == std::string::npos);
  CHECK(field(lines[0], "message").find("forged") != std::string::npos);
  CHECK(field(lines[0], "level") == "WARNING");
  CHECK(field(lines[1], "message") ==
        "bad utf8 \xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD "
        "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD end");
  CHECK(field(lines[2], "message") == std::string(100, 'x'));
  CHECK(field(lines[2], "truncated") == "true");
}

TEST_CASE("a call site is registered once, whatever calls it") {
  test::TempDir dir;
  const auto path = test::start_ring(dir);
  Logger a{"a"}, b{"b"};
  auto emit = [](const Logger& l, int i) { l.info("loop {}", i); };  // one call site
  for (int i = 0; i < 100; ++i) emit(i % 2 ? a : b, i);
  std::thread([&] { emit(a, 100); }).join();
  auto reader = RingReader::open(path, OpenMode::observer);
  REQUIRE(reader);
  auto& r = *reader.value();
  // Resolve sites until one is missing: the loop is one site, whichever logger or thread.
  std::uint32_t sites = 0;
  while (r.site(sites + 1) != nullptr) ++sites;
  std::uint32_t loop_sites = 0;
  for (std::uint32_t id = 1; id <= sites; ++id)
    if (r.site(id)->format == "loop {}") ++loop_sites;
  CHECK(loop_sites == 1);
  CHECK(r.logger(Logger{"a"}.id()) != nullptr);
  CHECK(*r.logger(a.id()) == "a");
  CHECK(*r.logger(b.id()) == "b");
  CHECK(a.id() != b.id());
  CHECK(take_all(path).size() == 101);
}

TEST_CASE("a record larger than a quarter lane is dropped and counted, never written") {
  test::TempDir dir;
  auto config = test::test_config();
  config.lanes = 2;
  config.ring_bytes = 2 * 8192;  // 8 KiB lanes: records up to 2 KiB
  config.max_string_bytes = 1 << 20;
  const auto path = test::start_ring(dir, config);
  Logger log;
  std::string big(1000, 'y');
  log.error("{} {} {}", big, big, big);  // strings are cut to 1 KiB each, the record still too big
  log.error("fits");
  auto reader = RingReader::open(path, OpenMode::consumer);
  REQUIRE(reader);
  std::uint64_t dropped = 0;
  for (std::uint32_t lane = 0; lane < 2; ++lane)
    dropped += reader.value()->lane_state(lane).dropped[static_cast<int>(Level::error)];
  CHECK(dropped == 1);
  auto lines = take_all(path);
  REQUIRE(lines.size() == 1);
  CHECK(field(lines[0], "message") == "fits");
}

TEST_CASE("NaN and infinities stay valid JSON") {
  test::TempDir dir;
  const auto path = test::start_ring(dir);
  Logger log;
  log.info("values {} {}", std::nan(""), -INFINITY, kv("ratio", INFINITY));
  auto lines = take_all(path);
  REQUIRE(lines.size() == 1);
  CHECK(field(lines[0], "message") == "values nan -inf");
  CHECK(field(lines[0], "context.ratio") == "Infinity");
}
