// The push batch: labels and timestamps taken from the JSON lines, streams by label set, the
// JSON body as Loki's push API defines it, long lines cut with a marker.
#include "loki_push.pb.h"
#include "sinks/loki/push_batch.hpp"

#include <shmlog/json_line.hpp>

#include <string>

#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

using namespace shmlog::sidecar::loki;

namespace {

std::string record(const std::string& ts, const std::string& level, const std::string& message,
                   const std::string& extra = "") {
  return "{\"timestamp\":\"" + ts + "\",\"level\":\"" + level + "\",\"message\":\"" + message +
         "\",\"service\":\"api\",\"file\":\"a.cpp\",\"line\":1,\"function\":\"f\",\"pod\":\"api-7\","
         "\"namespace\":"
         "\"prod\",\"pid\":1,\"tid\":2,\"seq\":3,\"context\":{\"service\":\"nested-ignored\",\"id\":\"x\"}" +
         extra + "}";
}

rapidjson::Document parse(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.c_str(), body.size());
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

}  // namespace

TEST_CASE("timestamps: ISO 8601 UTC with up to nine fraction digits") {
  CHECK(parse_timestamp_ns("1970-01-01T00:00:00Z") == 0);
  CHECK(parse_timestamp_ns("2023-11-14T22:13:20.123456789Z") == 1'700'000'000'123'456'789);
  CHECK(parse_timestamp_ns("2023-11-14T22:13:20.5Z") == 1'700'000'000'500'000'000);
  CHECK(parse_timestamp_ns("2024-02-29T00:00:00Z") == 1'709'164'800'000'000'000);
  CHECK(parse_timestamp_ns("2023-11-14 22:13:20Z") == -1);
  CHECK(parse_timestamp_ns("2023-11-14T22:13:20.1234567890Z") == -1);
  CHECK(parse_timestamp_ns("2023-13-14T22:13:20Z") == -1);
  CHECK(parse_timestamp_ns("") == -1);
}

TEST_CASE("streams by label set; entries keep the record's nanoseconds and the line as written") {
  LokiOptions o;
  PushBatch b(o);
  const auto a1 = record("2023-11-14T22:13:20.000000002Z", "INFO", "two");
  const auto a0 = record("2023-11-14T22:13:20.000000001Z", "INFO", "one \\\"quoted\\\"\\n");
  const auto e = record("2023-11-14T22:13:21Z", "ERROR", "bad");
  b.add("api", a1, 7);
  b.add("api", a0, 7);
  b.add("api", e, 7);
  REQUIRE(b.size() == 3);
  std::string body;
  b.encode_json(0, 3, body);
  auto d = parse(body);
  const auto& streams = d["streams"];
  REQUIRE(streams.Size() == 2);
  const auto& info = streams[0];
  CHECK(std::string(info["stream"]["job"].GetString()) == "shmlog");
  CHECK(std::string(info["stream"]["service"].GetString()) == "api");  // the top-level one
  CHECK(std::string(info["stream"]["namespace"].GetString()) == "prod");
  CHECK(std::string(info["stream"]["pod"].GetString()) == "api-7");
  CHECK(std::string(info["stream"]["level"].GetString()) == "INFO");
  CHECK_FALSE(info["stream"].HasMember("container"));  // absent in the record: no label
  CHECK_FALSE(info["stream"].HasMember("id"));
  REQUIRE(info["values"].Size() == 2);
  // In timestamp order within the stream, as strings of nanoseconds.
  CHECK(std::string(info["values"][0][0].GetString()) == "1700000000000000001");
  CHECK(std::string(info["values"][0][1].GetString()) == a0);
  CHECK(std::string(info["values"][1][1].GetString()) == a1);
  CHECK(std::string(streams[1]["stream"]["level"].GetString()) == "ERROR");
  CHECK(b.counts().unparsable == 0);
  // A part of the batch, for splitting a refused request.
  b.encode_json(2, 3, body);
  auto part = parse(body);
  REQUIRE(part["streams"].Size() == 1);
  CHECK(std::string(part["streams"][0]["values"][0][1].GetString()) == e);
}

TEST_CASE("label fields and static labels come from the settings") {
  LokiOptions o;
  o.static_labels = {{"job", "j"}, {"cluster", "c1"}};
  o.label_fields = {"level"};
  o.line_format = LineFormat::message;
  PushBatch b(o);
  b.add("api", record("2023-11-14T22:13:20Z", "WARNING", "hello \\u00e9"), 0);
  std::string body;
  b.encode_json(0, 1, body);
  auto d = parse(body);
  const auto& labels = d["streams"][0]["stream"];
  CHECK(labels.MemberCount() == 3);
  CHECK(std::string(labels["cluster"].GetString()) == "c1");
  CHECK(std::string(d["streams"][0]["values"][0][1].GetString()) == "hello \xc3\xa9");
}

TEST_CASE("a line that is not a record is shipped with the time now and its file's service") {
  LokiOptions o;
  PushBatch b(o);
  b.add("web", "plain text, not JSON", 42);
  std::string body;
  b.encode_json(0, 1, body);
  auto d = parse(body);
  CHECK(std::string(d["streams"][0]["stream"]["service"].GetString()) == "web");
  CHECK(std::string(d["streams"][0]["values"][0][0].GetString()) == "42");
  CHECK(b.counts().unparsable == 1);
}

TEST_CASE("lines over the size limit are cut at a character boundary and marked") {
  LokiOptions o;
  o.max_line_bytes = 1024;
  PushBatch b(o);
  std::string big =
      record("2023-11-14T22:13:20Z", "INFO", std::string(600, 'x') + "\xc3\xa9" + std::string(600, 'y'));
  b.add("api", big, 0);
  CHECK(b.counts().truncated == 1);
  const auto line = b.line(0);
  CHECK(line.size() <= 1024);
  CHECK(line.ends_with(shmlog::kTruncationMarker));
  CHECK(line.substr(0, 100) == big.substr(0, 100));
}

TEST_CASE("append_json_escaped writes what RapidJSON writes") {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  for (const std::string& s : {std::string("plain text of some length"), std::string("a\"b\\c\nd\te\x01\x1f"),
                               all, std::string(100, '"')}) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    std::string ours = "\"";
    shmlog::append_json_escaped(ours, s);
    ours += "\"";
    CHECK(ours == std::string(sb.GetString(), sb.GetSize()));
  }
}

TEST_CASE("the protobuf body is Loki's PushRequest: label sets sorted and quoted, seconds and nanos") {
  LokiOptions o;
  o.static_labels = {{"job", "j"}, {"team", "a\"b\\c"}};
  PushBatch b(o);
  b.add("api", record("2023-11-14T22:13:20.000000002Z", "INFO", "two"), 0);
  b.add("api", record("2023-11-14T22:13:20.000000001Z", "INFO", "one"), 0);
  b.add("api", record("2023-11-14T22:13:21Z", "ERROR", "bad"), 0);
  std::string body;
  b.encode_protobuf(0, 3, body);
  shmlog::lokipb::PushRequest request;
  REQUIRE(request.ParseFromString(body));
  REQUIRE(request.streams_size() == 2);
  const auto& info = request.streams(0);
  CHECK(info.labels() ==
        "{job=\"j\", level=\"INFO\", namespace=\"prod\", pod=\"api-7\", service=\"api\", "
        "team=\"a\\\"b\\\\c\"}");
  REQUIRE(info.entries_size() == 2);
  CHECK(info.entries(0).timestamp().seconds() == 1'700'000'000);
  CHECK(info.entries(0).timestamp().nanos() == 1);
  CHECK(info.entries(0).line() == record("2023-11-14T22:13:20.000000001Z", "INFO", "one"));
  CHECK(request.streams(1).entries(0).timestamp().nanos() == 0);
  // Written by hand from the batch, byte for byte what the generated code writes.
  CHECK(request.SerializeAsString() == body);
  b.encode_protobuf(1, 3, body);  // a part, as a refused request's halves are sent
  REQUIRE(request.ParseFromString(body));
  CHECK(request.streams_size() == 2);
  CHECK(request.streams(0).entries_size() == 1);
  CHECK(request.SerializeAsString() == body);
}
