// The JSON line: schema, escaping, UTF-8 repair, redaction, truncation.
#include "support/test_dir.hpp"

#include <shmlog/json_line.hpp>

#include <string>

#include <doctest/doctest.h>

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
