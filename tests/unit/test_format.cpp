// The JSON line: schema, escaping, UTF-8 repair, redaction, truncation.
#include "support/test_dir.hpp"

#include <shmlog/json_line.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace shmlog;
using test::field;

namespace {

struct Fixture {
  SiteInfo site;
  RingInfo ring;
  RecordView rec;
  Fixture() {
    site.id = 1;
    site.line = 12;
    site.level = Level::info;
    site.file = "app.cpp";
    site.function = "handle";
    site.format = "user {} did {}";
    site.arg_types = "iz";
    ring.service = "svc";
    ring.writer_pid = 77;
    rec.site = &site;
    rec.site_id = 1;
    rec.level = Level::info;
    rec.timestamp_ns = 1'700'000'000'123'456'789ULL;
    rec.tid = 5;
    rec.seq = 9;
    rec.args.resize(2);
    rec.args[0].type = ring::ArgType::i32;
    rec.args[0].i = 3;
    rec.args[1].type = ring::ArgType::string;
    rec.args[1].s = "login";
  }
  std::string line(const JsonOptions& o = {}) {
    std::string out;
    append_json_line(rec, ring, o, out);
    REQUIRE(out.back() == '\n');
    out.pop_back();
    CHECK(out.find('\n') == std::string::npos);
    auto err = test::schema_error(out);
    CHECK_MESSAGE(err.empty(), err);
    return out;
  }
};

}  // namespace

TEST_CASE("a plain record has every required field") {
  Fixture f;
  auto l = f.line();
  CHECK(field(l, "timestamp") == "2023-11-14T22:13:20.123456789Z");
  CHECK(field(l, "level") == "INFO");
  CHECK(field(l, "message") == "user 3 did login");
  CHECK(field(l, "service") == "svc");
  CHECK(field(l, "file") == "app.cpp");
  CHECK(field(l, "line") == "12");
  CHECK(field(l, "function") == "handle");
  CHECK(field(l, "pid") == "77");
  CHECK(field(l, "tid") == "5");
  CHECK(field(l, "seq") == "9");
  CHECK(field(l, "context").empty());
  CHECK(field(l, "truncated").empty());
}

TEST_CASE("control characters and invalid UTF-8 cannot break or forge lines") {
  Fixture f;
  f.rec.args[1].s = "x\n{\"level\":\"CRITICAL\"}\x1b[2J\t\"\\ \xff\xfe";
  auto l = f.line();
  CHECK(field(l, "message") ==
        "user 3 did x\n{\"level\":\"CRITICAL\"}\x1b[2J\t\"\\ \xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(l.find("\\u001B[2J") != std::string::npos);
  ContextEntry weird;
  weird.key = "k\xc3";
  weird.value.type = ring::ArgType::string;
  weird.value.s = "v";
  f.rec.context.push_back(weird);
  CHECK(field(f.line(), "context") == "{\"k\xEF\xBF\xBD\":\"v\"}");
}

TEST_CASE("sanitize_utf8 keeps valid text and replaces each bad byte") {
  std::string out;
  CHECK_FALSE(sanitize_utf8("plain ascii", out));
  CHECK_FALSE(sanitize_utf8("héllo ✓ 𝄞", out));
  CHECK(sanitize_utf8("\xE2\x82", out));  // truncated sequence
  CHECK(out == "\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(
      sanitize_utf8("a\xC1\xBF"
                    "b",
                    out));  // overlong
  CHECK(out ==
        "a\xEF\xBF\xBD\xEF\xBF\xBD"
        "b");
}

TEST_CASE("long messages are cut at a character boundary with a marker") {
  Fixture f;
  std::string long_text;
  for (int i = 0; i < 100; ++i) long_text += "é";  // 2 bytes each
  f.rec.args[1].s = long_text;
  JsonOptions o;
  o.max_message_bytes = 20;  // "user 3 did " is 11 bytes, then 4 whole "é" and half of one
  auto l = f.line(o);
  CHECK(field(l, "message") == "user 3 did éééé" + std::string(kTruncationMarker));
  CHECK(field(l, "truncated") == "true");
}

TEST_CASE("redaction matches key substrings case-insensitively and is configurable") {
  Fixture f;
  auto add = [&](const char* key, const char* value) {
    ContextEntry e;
    e.key = key;
    e.value.type = ring::ArgType::string;
    e.value.s = value;
    f.rec.context.push_back(e);
  };
  add("DB_PASSWORD", "p");
  add("session_cookie", "c");
  add("color", "blue");
  CHECK(field(f.line(), "context") ==
        R"({"DB_PASSWORD":"[REDACTED]","session_cookie":"[REDACTED]","color":"blue"})");
  JsonOptions o;
  o.redact_keys = {"colo"};
  CHECK(field(f.line(o), "context") == R"({"DB_PASSWORD":"p","session_cookie":"c","color":"[REDACTED]"})");
}

TEST_CASE("a template that does not fit its arguments keeps the arguments") {
  Fixture f;
  f.site.format = "bad {:d} spec {}";
  f.rec.args[0].type = ring::ArgType::string;
  f.rec.args[0].s = "text";
  auto l = f.line();
  CHECK(field(l, "message") == "bad {:d} spec {} [format error; args: text login]");
}

TEST_CASE("an unknown site still gives a valid line") {
  Fixture f;
  f.rec.site = nullptr;
  f.rec.site_id = 99;
  f.rec.args.clear();
  auto l = f.line();
  CHECK(field(l, "message") == "(unknown call site 99)");
  CHECK(field(l, "line") == "0");
}

TEST_CASE("hostile widths and precisions fall back to the raw arguments") {
  Fixture f;
  f.rec.args.resize(1);
  f.rec.args[0].type = ring::ArgType::f64;
  f.rec.args[0].d = 1.5;
  for (const char* format : {"{:1000000000}", "{:.1000000000f}", "{:>99999999999999999999999}"}) {
    CAPTURE(format);
    f.site.format = format;
    CHECK(field(f.line(), "message") == std::string(format) + " [format spec too large; args: 1.5]");
  }
  // A width taken from an argument is held to the same limit; a modest one still works.
  f.site.format = "[{:>{}}]";
  f.rec.args.resize(2);
  f.rec.args[0].type = ring::ArgType::string;
  f.rec.args[0].s = "ab";
  f.rec.args[1].type = ring::ArgType::u64;
  f.rec.args[1].u = 4;
  CHECK(field(f.line(), "message") == "[  ab]");
  f.rec.args[1].u = 1'000'000'000;
  CHECK(field(f.line(), "message") == "[{:>{}}] [format spec too large; args: ab 1000000000]");
  f.rec.args[1].type = ring::ArgType::i64;
  f.rec.args[1].i = -1;
  CHECK(field(f.line(), "message") == "[{:>{}}] [format spec too large; args: ab -1]");
}

TEST_CASE("rendering stops one byte past the limit however much the template asks for") {
  Fixture f;
  // Each field is within the limit, together they are a gigabyte; and one argument repeated.
  std::string many;
  for (int i = 0; i < 16384; ++i) many += "{0:65536}";
  f.site.format = many;
  f.rec.args.resize(1);
  f.rec.args[0].type = ring::ArgType::string;
  const std::string text(4000, 'x');  // the record's argument is a view into its bytes
  f.rec.args[0].s = text;
  std::string out = "prefix";
  render_message(f.rec, out, 100000);
  CHECK(out.size() == 6 + 100001);
  std::string repeated;
  for (int i = 0; i < 20000; ++i) repeated += "{0}";
  f.site.format = repeated;
  out.clear();
  render_message(f.rec, out, 1000);
  CHECK(out == std::string(1001, 'x'));
  // The JSON line cuts that at max_message_bytes and marks it.
  JsonOptions o;
  o.max_message_bytes = 1000;
  const auto l = f.line(o);
  CHECK(field(l, "message") == std::string(1000, 'x') + std::string(kTruncationMarker));
  CHECK(field(l, "truncated") == "true");
}

TEST_CASE("plain templates, rendered without fmt's parser, read exactly as fmt writes them") {
  Fixture f;
  using T = ring::ArgType;
  auto arg = [](T type) {
    ArgValue v;
    v.type = type;
    return v;
  };
  std::vector<std::pair<ArgValue, std::string>> cases;
  for (double d : {0.0, -0.0, 1.5, 0.1, 1e21, 1e-7, 123456789.125, 5e-324, 1.7976931348623157e308,
                   std::numeric_limits<double>::quiet_NaN(), -std::numeric_limits<double>::infinity()}) {
    auto v = arg(T::f64);
    v.d = d;
    cases.emplace_back(v, fmt::format("{}", d));
  }
  for (std::int64_t i : {std::int64_t{0}, std::int64_t{-1}, std::numeric_limits<std::int64_t>::min(),
                         std::numeric_limits<std::int64_t>::max()}) {
    auto v = arg(T::i64);
    v.i = i;
    cases.emplace_back(v, fmt::format("{}", i));
  }
  auto u = arg(T::u64);
  u.u = std::numeric_limits<std::uint64_t>::max();
  cases.emplace_back(u, fmt::format("{}", u.u));
  auto p = arg(T::pointer);
  p.u = 0xdeadbeef;
  cases.emplace_back(p, fmt::format("{}", reinterpret_cast<const void*>(std::uintptr_t{0xdeadbeef})));
  auto b = arg(T::boolean);
  b.b = false;
  cases.emplace_back(b, "false");
  auto c = arg(T::character);
  c.c = '{';
  cases.emplace_back(c, "{");
  auto s = arg(T::string);
  s.s = "}}{}";
  cases.emplace_back(s, "}}{}");
  f.site.format = "{{a}} {} b}}{{ {}";
  f.rec.args.resize(2);
  for (const auto& [first, first_text] : cases) {
    for (const auto& [second, second_text] : cases) {
      f.rec.args[0] = first;
      f.rec.args[1] = second;
      std::string out;
      render_message(f.rec, out, 1000);
      CHECK(out == "{a} " + first_text + " b}{ " + second_text);
    }
  }
  // Not plain, so fmt's: more fields than arguments, a stray brace, a spec.
  f.site.format = "{} {} {}";
  std::string out;
  render_message(f.rec, out, 1000);
  CHECK(out.find("format error") != std::string::npos);
  f.site.format = "a } b {}";
  out.clear();
  render_message(f.rec, out, 1000);
  CHECK(out.find("format error") != std::string::npos);
  f.rec.args[0] = cases.front().first;
  f.site.format = "{:>6}|{}";
  out.clear();
  render_message(f.rec, out, 1000);
  CHECK(out == "     0|}}{}");
  // Long arguments stop one byte past the limit, as fmt's path does.
  const std::string text(3000, 'y');
  f.rec.args[0].type = T::string;
  f.rec.args[0].s = text;
  f.rec.args[1] = f.rec.args[0];
  f.site.format = "{}{}";
  out = "pre";
  render_message(f.rec, out, 4000);
  CHECK(out == "pre" + std::string(4001, 'y'));
}

TEST_CASE("with many context entries a later key still wins over an earlier one") {
  Fixture f;
  auto add = [&](std::string_view key, std::int64_t v) {
    ContextEntry e;
    e.key = key;
    e.value.type = ring::ArgType::i64;
    e.value.i = v;
    f.rec.context.push_back(e);
  };
  // Past 16 entries the formatter finds shadowed keys with a map; both ways agree.
  const std::string keys[] = {"a", "b", "c", "d", "e"};
  for (int i = 0; i < 40; ++i) add(keys[i % 5], i);
  CHECK(field(f.line(), "context") == R"({"a":35,"b":36,"c":37,"d":38,"e":39})");
  f.rec.context.resize(7);
  CHECK(field(f.line(), "context") == R"({"c":2,"d":3,"e":4,"a":5,"b":6})");
}

TEST_CASE("lines made with a LineCache are the lines made without one") {
  Fixture f;
  const std::string logger = "orders";
  f.ring.pod = "web-1";
  f.ring.container = "app";
  LineCache cache;
  for (int round = 0; round < 3; ++round) {
    for (const std::uint16_t logger_id : {std::uint16_t{0}, std::uint16_t{1}}) {
      f.rec.logger_id = logger_id;
      f.rec.logger = logger_id ? &logger : nullptr;
      f.rec.seq = static_cast<std::uint64_t>(round);
      std::string plain, cached;
      append_json_line(f.rec, f.ring, JsonOptions{}, plain);
      append_json_line(f.rec, f.ring, JsonOptions{}, cached, &cache);
      CHECK(cached == plain);
      CHECK(test::schema_error(cached.substr(0, cached.size() - 1)).empty());
    }
  }
  CHECK(cache.origins.size() == 2);  // one per (site, logger)
}
