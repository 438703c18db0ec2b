// The fields Loki's labels come from: the compact scan must give what RapidJSON gives, for the
// record writer's lines and for every damaged or unusual line made from them.
#include "sinks/loki/record_fields.hpp"

#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>

using namespace shmlog::sidecar::loki;

namespace {

constexpr unsigned kAll = (1u << kRecordFields) - 1;
constexpr unsigned kLabels =
    1u << kTimestamp | 1u << kService | 1u << kNamespace | 1u << kPod | 1u << kContainer | 1u << kLevel;

// Lines as the record writer writes them (json_line.cpp): timestamp, level, message, origin,
// pod identity, ids, then the nested values.
std::vector<std::string> writer_lines() {
  const std::string head = R"({"timestamp":"2026-11-21T09:31:44.890133936Z","level":"INFO","message":)";
  const std::string origin =
      R"x(,"service":"api","file":"src/a.cpp","line":42,"function":"void handle(int)","host":"node-3",)x"
      R"("pod":"api-7f9c","namespace":"shop","container":"app","pid":17,"tid":18,"seq":123456)";
  return {
      head + R"("order 7 paid")" + origin + "}",
      head + R"("say \"hi\"\nand go")" + origin + "}",  // escapes in the message
      head + R"("caf\u00e9 \u001b[31m")" + origin + "}",
      head + "\"ünïcødé ✓\"" + origin + R"(,"duration_ms":12.5,"context":{"service":"not-a-label"}})",
      head + R"("x")" + origin + R"(,"exception":{"type":"std::runtime_error","message":"boom"}})",
      head + R"("x")" + R"(,"service":"api","file":"a.cpp","line":1,"function":"f","logger":"db","pid":1})",
      R"({"timestamp":"2026-11-21T09:31:44Z","level":"WARNING","message":"dropped 5","service":"api"})",
      R"({"level":"INFO","service":"sv\"c","pod":"p","timestamp":"2026-11-21T09:31:44Z"})",  // escaped label
      R"({"timestamp":"t","service":"a","service":"b","level":"DEBUG"})",                    // a key twice
      R"({"timestamp":"t","line":-0,"x":0.25,"y":true,"z":null,"w":false,"service":"s"})",
      R"({"timestamp":"t","n":1e5,"service":"s"})",
      R"({"timestamp":"t","n":123456789012345678901234567890,"service":"s"})",
      R"({"timestamp":"t","a":[1,2],"service":"s"})",
      R"({ "timestamp" : "t", "service" : "s" })",
      R"({"timestamp":"t","level":5,"service":"s"})",
      R"({})",
      R"({"timestamp":"t"} trailing)",
      R"([1,2,3])",
      R"("just a string")",
      "not json at all",
      "",
  };
}

// One random change: cut, a byte replaced (often by JSON's own punctuation), a byte inserted.
std::string mutate(std::string s, std::mt19937& rng) {
  static const std::string bytes = std::string("\"\\{}[],: 0123456789-.eEtfn\x01\t\n") + '\0';
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % std::max<std::size_t>(n, 1)); };
  const auto byte = [&] { return rng() % 3 == 0 ? static_cast<char>(rng()) : bytes[pick(bytes.size())]; };
  switch (rng() % 3) {
    case 0:
      s.resize(pick(s.size() + 1));
      break;
    case 1:
      if (!s.empty()) s[pick(s.size())] = byte();
      break;
    default:
      s.insert(s.begin() + static_cast<std::ptrdiff_t>(pick(s.size() + 1)), byte());
  }
  return s;
}

void expect_same(const std::string& line, unsigned wanted) {
  RecordFields fast, slow;
  read_record_fields(line, wanted, fast);
  read_record_fields_rapidjson(line, wanted, slow);
  INFO("line: ", line, "  wanted: ", wanted);
  REQUIRE(fast.parsed == slow.parsed);
  for (std::size_t i = 0; i < kRecordFields; ++i) {
    CHECK(fast.seen[i] == slow.seen[i]);
    CHECK(fast.value[i] == slow.value[i]);
  }
}

bool points_into(std::string_view value, const std::string& line) {
  return value.data() >= line.data() && value.data() + value.size() <= line.data() + line.size();
}

}  // namespace

TEST_CASE("the writer's plain lines are read without a copy, and give the fields") {
  const std::string line = writer_lines()[0];
  RecordFields f;
  read_record_fields(line, kLabels, f);
  CHECK(f.parsed);
  CHECK(f.value[kTimestamp] == "2026-11-21T09:31:44.890133936Z");
  CHECK(f.value[kLevel] == "INFO");
  CHECK(f.value[kService] == "api");
  CHECK(f.value[kPod] == "api-7f9c");
  CHECK(f.value[kNamespace] == "shop");
  CHECK(f.value[kContainer] == "app");
  CHECK(f.value[kMessage] == "order 7 paid");  // known fields are kept on the way, wanted or not
  CHECK_FALSE(f.seen[kLogger]);
  // The scan, not RapidJSON, read it: the values are in the line itself.
  CHECK(points_into(f.value[kService], line));
  CHECK(points_into(f.value[kContainer], line));

  const std::string escaped = writer_lines()[1];
  read_record_fields(escaped, kAll, f);  // an escape: RapidJSON decodes it
  CHECK(f.value[kMessage] == "say \"hi\"\nand go");
}

TEST_CASE("a nested value ends the reading: context fields never become labels") {
  RecordFields f;
  const std::string line = writer_lines()[3];  // the values point into it
  read_record_fields(line, kAll, f);
  CHECK(f.parsed);
  CHECK(f.value[kService] == "api");
}

TEST_CASE("the scan and RapidJSON agree on every line, damaged ones included") {
  std::mt19937 rng(20261121);
  std::size_t lines = 0;
  for (const std::string& base : writer_lines()) {
    for (const unsigned wanted : {kLabels, kAll, 1u << kTimestamp, 1u << kTimestamp | 1u << kMessage}) {
      expect_same(base, wanted);
      ++lines;
    }
    for (int i = 0; i < 3000; ++i) {
      std::string line = mutate(base, rng);
      if (rng() % 4 == 0) line = mutate(line, rng);
      expect_same(line, rng() % 2 == 0 ? kLabels : kAll);
      ++lines;
    }
  }
  MESSAGE(lines << " lines compared");
}
