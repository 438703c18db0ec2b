// YAML <-> JSON as `shmlog inject` reads and writes it: plain scalars typed by YAML 1.1 as kubectl
// does, quoted ones kept as strings, and output that a YAML 1.1 reader (kubectl) reads back
// as the same strings.
#include "inject/yaml_json.hpp"

#include <cmath>
#include <string>

#include <doctest/doctest.h>

using namespace shmlog;

namespace {

rapidjson::Document one(const std::string& yaml) {
  auto docs = inject::yaml_to_json(yaml, "test.yaml");
  INFO(yaml);
  REQUIRE(docs.ok());
  REQUIRE(docs->size() == 1);
  return std::move((*docs)[0]);
}

// A map {v: <s>} written as YAML and read back: the same string.
std::string round_trip(const std::string& s) {
  rapidjson::Document doc(rapidjson::kObjectType);
  doc.AddMember("v",
                rapidjson::Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), doc.GetAllocator()),
                doc.GetAllocator());
  const std::string yaml = inject::to_yaml(doc);
  const auto back = one(yaml);
  INFO("written as: " << yaml);
  REQUIRE(back["v"].IsString());
  return std::string(back["v"].GetString(), back["v"].GetStringLength());
}

}  // namespace

TEST_CASE("plain scalars are typed as kubectl types them (YAML 1.1), quoted ones stay strings") {
  const auto doc =
      one("n1: null\nn2: ~\nn3:\nt: true\nf: False\ni: 42\nneg: -7\nhex: 0x1F\noct: 0o17\nfl: 1.5\nexp: 1e3\n"
          "inf: -.inf\nnan: .nan\nyes_word: yes\non_word: on\nq1: \"true\"\nq2: '42'\nblock: |\n  x\nstr: "
          "!!str 12\n"
          "big: 18446744073709551615\nmode: 0644\nbin: 0b101\nsep: 1_000\nnamed: web_1\nyn: n\n");
  CHECK(doc["n1"].IsNull());
  CHECK(doc["n2"].IsNull());
  CHECK(doc["n3"].IsNull());
  CHECK(doc["t"].IsTrue());
  CHECK(doc["f"].IsFalse());
  CHECK(doc["i"].GetInt64() == 42);
  CHECK(doc["neg"].GetInt64() == -7);
  CHECK(doc["hex"].GetInt64() == 31);
  CHECK(doc["oct"].GetInt64() == 15);
  CHECK(doc["fl"].GetDouble() == 1.5);
  CHECK(doc["exp"].GetDouble() == 1000.0);
  CHECK(std::isinf(doc["inf"].GetDouble()));
  CHECK(std::isnan(doc["nan"].GetDouble()));
  CHECK(doc["yes_word"].IsTrue());  // 1.1, as kubectl reads it: a boolean
  CHECK(doc["on_word"].IsTrue());
  CHECK(doc["yn"].IsFalse());
  CHECK(doc["mode"].GetInt64() == 420);  // octal, as a volume's defaultMode is meant
  CHECK(doc["bin"].GetInt64() == 5);
  CHECK(doc["sep"].GetInt64() == 1000);
  CHECK(std::string(doc["named"].GetString()) == "web_1");  // '_' goes only from numbers
  CHECK(std::string(doc["q1"].GetString()) == "true");
  CHECK(std::string(doc["q2"].GetString()) == "42");
  CHECK(std::string(doc["block"].GetString()) == "x\n");
  CHECK(std::string(doc["str"].GetString()) == "12");
  CHECK(doc["big"].GetUint64() == 18446744073709551615ull);
}

TEST_CASE("key order is kept and merge keys are applied") {
  const auto doc = one("base: &b {x: 1, y: 2}\nz: 0\nm:\n  <<: *b\n  y: 3\na: 1\n");
  std::string keys;
  for (const auto& member : doc.GetObject()) keys += std::string(member.name.GetString()) + " ";
  CHECK(keys == "base z m a ");
  CHECK(doc["m"]["x"].GetInt64() == 1);
  CHECK(doc["m"]["y"].GetInt64() == 3);  // the map's own key wins over the merged one
}

TEST_CASE("strings a YAML 1.1 reader would retype are quoted, and read back as strings") {
  for (const char* s : {"true",  "False", "yes",   "No",         "on",
                        "OFF",   "y",     "n",     "null",       "Null",
                        "~",     "",      "1",     "-1",         "1.5",
                        ".5",    "1e3",   "0x10",  "0o17",       "0755",
                        "0b101", "1_000", "12:30", "2024-01-01", "2001-12-14t21:59:43.10-05:00",
                        ".inf",  "-.Inf", ".NaN",  "<<"}) {
    INFO("'" << s << "'");
    CHECK(inject::needs_quotes_for_yaml11(s));
    CHECK(round_trip(s) == s);
  }
  for (const char* s :
       {"50m", "128Mi", "8MiB", "web", "example/web:1.2", "http://loki:3100", "infinity", "NaN"}) {
    INFO("'" << s << "'");
    CHECK_FALSE(inject::needs_quotes_for_yaml11(s));
    CHECK(round_trip(s) == s);
  }
}

TEST_CASE("multi-line and awkward strings survive the emitter") {
  for (const char* s : {"a\nb\n", "a\nb", "  lead\nx\n", "x\n\n", "\nx\n", "tab\there\n", "trail \nx\n",
                        "{\"json\":\"in a string\"}", "it's", "a: b", "- item", "# not a comment", "@at",
                        "é ü", "line1\r\nline2\n", "x\n  indented\ny\n"}) {
    INFO("'" << s << "'");
    CHECK(round_trip(s) == s);
  }
  CHECK(inject::to_yaml(one("script: \"echo hi\\nexit 0\\n\"\n")) == "script: |\n  echo hi\n  exit 0\n");
}

TEST_CASE("syntax errors name the source, the line and the column") {
  auto bad = inject::yaml_to_json("a: 1\nb: [1, 2\nc: 3\n", "pods.yaml");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("pods.yaml:") == 0);
  CHECK(bad.error().message.find("invalid YAML") != std::string::npos);
  auto dup = inject::yaml_to_json("a: 1\nb: 2\na: 3\n", "dup.yaml");
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.error().message == "dup.yaml:3:1: duplicate key \"a\"");
  auto json = inject::json_stream("{\n  \"a\": 1,\n}\n", "x.json");
  REQUIRE_FALSE(json.ok());
  CHECK(json.error().message.find("x.json:3:1: invalid JSON") == 0);
}

TEST_CASE("a stream drops empty documents; JSON streams of several values are read") {
  auto docs = inject::yaml_to_json("---\n# only a comment\n---\na: 1\n---\n---\nb: 2\n", "s.yaml");
  REQUIRE(docs.ok());
  CHECK(docs->size() == 2);
  auto json = inject::json_stream("{\"a\": 1}\n{\"b\": 2}\n", "s.json");
  REQUIRE(json.ok());
  CHECK(json->size() == 2);
}
