// The Loki push API stand-in: decoding and Loki's limits without sockets first, then the HTTP
// receiver and its faults over real sockets on 127.0.0.1 (every wait bounded).
#include "loki_receiver/go_text.hpp"
#include "loki_receiver/loki_receiver.hpp"
#include "loki_receiver/recent_keys.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <doctest/doctest.h>
#include <httplib.h>
#include <loki_push.pb.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <snappy.h>
#include <unistd.h>
#include <zlib.h>

namespace {

using namespace shmlog::loki;
using namespace std::chrono_literals;

constexpr const char* kJson = "application/json";

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// zlib's deflate with `window_bits`: 16 + MAX_WBITS for gzip, -MAX_WBITS for raw deflate.
std::string compress_with(std::string_view data, int window_bits) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string gzip(std::string_view data) {
  return compress_with(data, 16 + MAX_WBITS);
}

std::string deflate_raw(std::string_view data) {
  return compress_with(data, -MAX_WBITS);
}

std::string snappy_of(const std::string& data) {
  std::string out;
  snappy::Compress(data.data(), data.size(), &out);
  return out;
}

// A snappy-compressed protobuf PushRequest: (label text, entries) per stream; `metadata` on
// every entry.
std::string proto_body(
    const std::vector<std::pair<std::string, std::vector<std::pair<std::int64_t, std::string>>>>& streams,
    const std::vector<std::pair<std::string, std::string>>& metadata = {}) {
  shmlog::lokipb::PushRequest request;
  for (const auto& [labels, entries] : streams) {
    auto* s = request.add_streams();
    s->set_labels(labels);
    for (const auto& [ts, line] : entries) {
      auto* e = s->add_entries();
      e->mutable_timestamp()->set_seconds(ts / 1'000'000'000);
      e->mutable_timestamp()->set_nanos(static_cast<std::int32_t>(ts % 1'000'000'000));
      e->set_line(line);
      for (const auto& [name, value] : metadata) {
        auto* m = e->add_structured_metadata();
        m->set_name(name);
        m->set_value(value);
      }
    }
  }
  return snappy_of(request.SerializeAsString());
}

std::string json_string(std::string_view s) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  return buf.GetString();
}

using Values = std::vector<std::pair<std::int64_t, std::string>>;

// {"stream":<labels_json>,"values":[["<ts>","<line>"],...]}
std::string stream_json(const std::string& labels_json, const Values& values) {
  std::string s = R"({"stream":)" + labels_json + R"(,"values":[)";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) s += ",";
    s += "[\"" + std::to_string(values[i].first) + "\"," + json_string(values[i].second) + "]";
  }
  return s + "]}";
}

std::string push_json(const std::vector<std::string>& streams) {
  std::string s = R"({"streams":[)";
  for (std::size_t i = 0; i < streams.size(); ++i) s += (i > 0 ? "," : "") + streams[i];
  return s + "]}";
}

// decode_push with a JSON content type and no encoding.
PushResult push_plain(StreamStore& store, const std::string& body, std::string_view tenant = "",
                      const PushLimits& limits = {}) {
  return decode_push(PushRequestInfo{kJson, "", tenant}, body, limits, store);
}

std::size_t count_lines(const std::string& s) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// decoding and limits, no sockets

TEST_CASE("a valid gzip push is stored under canonical labels with its timestamps, lines and tenant") {
  StreamStore store;
  const std::int64_t t = now_ns();
  const std::string body =
      push_json({stream_json(R"({"level":"info","app":"pay\"ments\n"})", {{t, "one"}, {t + 1, "two"}})});
  const PushResult r =
      decode_push(PushRequestInfo{"application/json; charset=utf-8", "gzip", "acme"}, gzip(body), {}, store);
  CHECK(r.status == 204);
  CHECK(r.body.empty());
  CHECK(r.accepted == 2);
  REQUIRE(store.entries().size() == 2);
  const ReceivedEntry& e = store.entries()[0];
  CHECK(e.labels == R"({app="pay\"ments\n", level="info"})");  // sorted, Go-quoted, ", "-joined
  CHECK(e.ts_ns == t);
  CHECK(e.line == "one");
  CHECK(e.tenant == "acme");
  CHECK(store.entries()[1].line == "two");
}

TEST_CASE("empty label values are dropped from the label set, as Loki's label builder does") {
  StreamStore store;
  const auto r = push_plain(store, push_json({stream_json(R"({"job":"x","env":""})", {{now_ns(), "l"}})}));
  CHECK(r.status == 204);
  REQUIRE(store.entries().size() == 1);
  CHECK(store.entries()[0].labels == R"({job="x"})");
}

TEST_CASE("structured metadata, an entry's third element, is recorded") {
  StreamStore store;
  const std::string body = R"({"streams":[{"stream":{"job":"x"},"values":[[")" + std::to_string(now_ns()) +
                           R"(","line",{"trace_id":"abc","user":"u1"}]]}]})";
  const auto r = push_plain(store, body);
  CHECK(r.status == 204);
  REQUIRE(store.entries().size() == 1);
  CHECK(store.entries()[0].metadata ==
        std::map<std::string, std::string>{{"trace_id", "abc"}, {"user", "u1"}});
}

TEST_CASE("a body that cannot be decoded fails as a whole: 400 and nothing stored") {
  StreamStore store;
  const std::string good = stream_json(R"({"job":"x"})", {{now_ns(), "fine"}});
  const std::string ts = std::to_string(now_ns());
  SUBCASE("timestamp as a JSON number") {
    const auto r =
        push_plain(store, push_json({good, R"({"stream":{"job":"y"},"values":[[)" + ts + R"(,"l"]]})"}));
    CHECK(r.status == 400);
    CHECK(r.body.find("got a number") != std::string::npos);
  }
  SUBCASE("timestamp that is not all digits") {
    const auto r = push_plain(store, push_json({good, R"({"stream":{"job":"y"},"values":[["12a4","l"]]})"}));
    CHECK(r.status == 400);
  }
  SUBCASE("label name outside [a-zA-Z_][a-zA-Z0-9_]*") {
    const auto r =
        push_plain(store, push_json({good, stream_json(R"({"bad-name":"v"})", {{now_ns(), "l"}})}));
    CHECK(r.status == 400);
    CHECK(r.body.find("bad-name") != std::string::npos);
  }
  SUBCASE("label name starting with __ (reserved)") {
    const auto r =
        push_plain(store, push_json({good, stream_json(R"({"__name__":"v"})", {{now_ns(), "l"}})}));
    CHECK(r.status == 400);
    CHECK(r.body.find("reserved") != std::string::npos);
  }
  SUBCASE("label value that is not UTF-8") {
    const auto r = push_plain(store, push_json({good, stream_json("{\"job\":\"\xff\"}", {{now_ns(), "l"}})}));
    CHECK(r.status == 400);
  }
  SUBCASE("not JSON") {
    CHECK(push_plain(store, "{\"streams\":[").status == 400);
  }
  SUBCASE("trailing bytes after the object") {
    CHECK(push_plain(store, push_json({good}) + " x").status == 400);
  }
  SUBCASE("an entry with four elements") {
    CHECK(push_plain(store,
                     push_json({good, R"({"stream":{"job":"y"},"values":[[")" + ts + R"(","l",{},1]]})"}))
              .status == 400);
  }
  CHECK(store.entries().empty());
}

TEST_CASE("no streams at all is 422; a stream without values is skipped without checks") {
  StreamStore store;
  CHECK(push_plain(store, R"({"streams":[]})").status == 422);
  CHECK(push_plain(store, R"({})").status == 422);
  CHECK(push_plain(store, R"({"streams":[{"stream":{},"values":[]}]})").status == 204);
}

TEST_CASE("per-stream label limits refuse that stream's entries only, with Loki's messages") {
  StreamStore store;
  const std::string good = stream_json(R"({"job":"ok"})", {{now_ns(), "kept"}});
  SUBCASE("empty label set") {
    const auto r = push_plain(store, push_json({good, stream_json("{}", {{now_ns(), "l"}})}));
    CHECK(r.status == 400);
    CHECK(r.body == "error at least one label pair is required per stream\n");
  }
  SUBCASE("16 label names, over Loki's 15") {
    std::string labels = "{";
    for (int i = 0; i < 16; ++i) labels += (i > 0 ? ",\"l" : "\"l") + std::to_string(i) + "\":\"v\"";
    const auto r =
        push_plain(store, push_json({good, stream_json(labels + "}", {{now_ns(), "a"}, {now_ns(), "b"}})}));
    CHECK(r.status == 400);
    CHECK(r.body.find("has 16 label names; limit 15") != std::string::npos);
    CHECK(r.rejected == 2);
  }
  SUBCASE("a label name given twice") {
    const auto r =
        push_plain(store, push_json({good, stream_json(R"({"a":"1","a":"2"})", {{now_ns(), "l"}})}));
    CHECK(r.status == 400);
    CHECK(r.body.find("has duplicate label name: 'a'") != std::string::npos);
  }
  SUBCASE("a label value over 2048 bytes") {
    const auto r = push_plain(
        store,
        push_json({good, stream_json(R"({"a":")" + std::string(2049, 'v') + "\"}", {{now_ns(), "l"}})}));
    CHECK(r.status == 400);
    CHECK(r.body.find("has label value too long") != std::string::npos);
  }
  REQUIRE(store.entries().size() == 1);
  CHECK(store.entries()[0].line == "kept");
}

TEST_CASE("partial failure: a too long line among valid ones is 400 naming it, the others are stored") {
  StreamStore store;
  PushLimits limits;
  limits.max_line_bytes = 100;
  const std::int64_t t = now_ns();
  const auto r = push_plain(
      store,
      push_json({stream_json(R"({"job":"x"})",
                             {{t, "short"}, {t + 1, std::string(101, 'x')}, {t + 2, "also short"}})}),
      "", limits);
  CHECK(r.status == 400);
  CHECK(r.body ==
        "Max entry size '100' bytes exceeded for stream '{job=\"x\"}' while adding an entry with length "
        "'101' bytes\n");
  CHECK(r.accepted == 2);
  CHECK(r.rejected == 1);
  REQUIRE(store.entries().size() == 2);
  CHECK(store.entries()[1].line == "also short");
}

TEST_CASE("timestamps older than 7 days or over 10 minutes ahead are refused") {
  StreamStore store;
  const std::int64_t t = now_ns();
  const std::int64_t day = 24LL * 3600 * 1'000'000'000;
  const auto r = push_plain(
      store,
      push_json({stream_json(R"({"job":"x"})", {{t - 8 * day, "old"}, {t, "now"}, {t + day, "future"}})}));
  CHECK(r.status == 400);
  CHECK(r.body.find("has timestamp too old: ") != std::string::npos);
  CHECK(r.body.find("has timestamp too new: ") != std::string::npos);
  CHECK(count_lines(r.body) == 2);
  REQUIRE(store.entries().size() == 1);
  CHECK(store.entries()[0].line == "now");
}

TEST_CASE("out of order: within an hour of the stream's newest is accepted, further behind is refused") {
  StreamStore store;
  const std::int64_t t = now_ns();
  const std::int64_t minute = 60LL * 1'000'000'000;
  CHECK(push_plain(store, push_json({stream_json(R"({"job":"x"})", {{t, "newest"}})}), "acme").status == 204);
  CHECK(push_plain(store, push_json({stream_json(R"({"job":"x"})", {{t - 59 * minute, "59 min behind"}})}),
                   "acme")
            .status == 204);
  const auto r = push_plain(
      store, push_json({stream_json(R"({"job":"x"})", {{t - 61 * minute, "61 min behind"}})}), "acme");
  CHECK(r.status == 400);
  CHECK(r.body.find("reason: 'entry too far behind, entry timestamp is: ") != std::string::npos);
  CHECK(r.body.find("user 'acme', total ignored: 1 out of 1 for stream: {job=\"x\"}") != std::string::npos);
  // The window is per stream, and streams are per tenant: each has its own newest.
  CHECK(
      push_plain(store, push_json({stream_json(R"({"job":"y"})", {{t - 61 * minute, "first of y"}})}), "acme")
          .status == 204);
  CHECK(push_plain(store, push_json({stream_json(R"({"job":"x"})", {{t - 61 * minute, "other tenant"}})}), "")
            .status == 204);
  CHECK(store.entries().size() == 4);
}

TEST_CASE("exact duplicates are ignored and counted; the same timestamp with another line is kept") {
  StreamStore store;
  const std::int64_t t = now_ns();
  const std::string body = push_json({stream_json(R"({"job":"x"})", {{t, "a"}, {t, "b"}, {t + 5, "c"}})});
  CHECK(push_plain(store, body).accepted == 3);
  const auto again = push_plain(store, body);  // a client's retry of a batch Loki had stored
  CHECK(again.status == 204);
  CHECK(again.accepted == 0);
  CHECK(again.duplicates == 3);
  CHECK(push_plain(store, body, "other-tenant").accepted == 3);  // streams are per tenant
  CHECK(store.entries().size() == 6);
}

TEST_CASE("count-only mode keeps no entries yet still dedups recent ones and orders by the window") {
  StreamStore store(StoreOptions{false, 1000});
  const std::int64_t t = now_ns();
  Values values;
  for (int i = 0; i < 500; ++i) values.emplace_back(t + i, "line " + std::to_string(i));
  const std::string body = push_json({stream_json(R"({"job":"x"})", values)});
  CHECK(push_plain(store, body).accepted == 500);
  const auto again = push_plain(store, body);
  CHECK(again.duplicates == 500);
  CHECK(store.entries().empty());
  CHECK(store.stream_count() == 1);
}

TEST_CASE("RecentKeys remembers at least its window and stays within twice its window") {
  RecentKeys keys(100);
  for (std::uint64_t k = 1; k <= 10'000; ++k) keys.insert(k * 0x9E3779B97F4A7C15ULL);
  for (std::uint64_t k = 10'000 - 99; k <= 10'000; ++k) CHECK(keys.contains(k * 0x9E3779B97F4A7C15ULL));
  CHECK_FALSE(keys.contains(1 * 0x9E3779B97F4A7C15ULL));
}

TEST_CASE("any Content-Type but JSON means protobuf, as Loki documents; unknown encodings are 415") {
  StreamStore store;
  const std::string json = push_json({stream_json(R"({"job":"x"})", {{now_ns(), "l"}})});
  auto push = [&](std::string_view type, std::string_view encoding, const std::string& body) {
    return decode_push(PushRequestInfo{type, encoding, ""}, body, {}, store);
  };
  CHECK(push("Application/JSON ; charset=utf-8", "identity", json).status == 204);
  CHECK(push(kJson, "deflate", deflate_raw(json)).status == 204);
  // A JSON body sent as protobuf (or with no Content-Type) is not snappy: 400, as from Loki.
  const auto as_proto = push("application/x-protobuf", "", json);
  CHECK(as_proto.status == 400);
  CHECK(as_proto.body.find("snappy") != std::string::npos);
  CHECK(push("", "", json).status == 400);
  CHECK(push("text/plain", "", json).status == 400);
  const auto br = push(kJson, "br", json);
  CHECK(br.status == 415);
  CHECK(br.body == "Content-Encoding \"br\" not supported\n");
  CHECK(push(kJson, "GZIP", gzip(json)).status == 415);  // case-sensitive, as Loki's switch
}

TEST_CASE("a snappy protobuf push is decoded: text labels parsed and made canonical, metadata kept") {
  StreamStore store;
  const std::int64_t t = now_ns();
  // Labels as pushers write them: any order, escapes, single quotes, a trailing comma.
  const std::string body =
      proto_body({{R"({service="pay", app="a\x09b\u00e9", level='warn',})", {{t, "one"}, {t + 7, "two"}}}},
                 {{"trace_id", "abc"}});
  const auto r = decode_push(PushRequestInfo{"application/x-protobuf", "", "acme"}, body, {}, store);
  CHECK_MESSAGE(r.status == 204, r.body);
  REQUIRE(store.entries().size() == 2);
  const ReceivedEntry& e = store.entries()[1];
  CHECK(e.labels == "{app=\"a\\tb\xc3\xa9\", level=\"warn\", service=\"pay\"}");
  CHECK(e.ts_ns == t + 7);
  CHECK(e.line == "two");
  CHECK(e.tenant == "acme");
  CHECK(e.metadata == std::map<std::string, std::string>{{"trace_id", "abc"}});
  // The same entries pushed as JSON are the same stream: duplicates.
  const std::string json = push_json(
      {stream_json(R"({"level":"warn","service":"pay","app":"a\tb\u00e9"})", {{t, "one"}, {t + 7, "two"}})});
  CHECK(push_plain(store, json, "acme").duplicates == 2);
}

TEST_CASE("protobuf: bad label text fails the request; a too large snappy body is 413; limits apply") {
  StreamStore store;
  const std::int64_t t = now_ns();
  auto status = [&](const std::string& labels) {
    return decode_push(PushRequestInfo{"application/x-protobuf", "", ""}, proto_body({{labels, {{t, "l"}}}}),
                       {}, store)
        .status;
  };
  CHECK(status(R"({job="x"})") == 204);
  CHECK(status(R"(job="x")") == 400);
  CHECK(status(R"({job="x")") == 400);
  CHECK(status(R"({job="x\q"})") == 400);
  CHECK(status(R"({job=x})") == 400);
  CHECK(status(R"({__name__="x"})") == 400);
  CHECK(status(R"({})") == 400);  // a stream without labels: per stream, as in JSON
  PushLimits small;
  small.max_body_bytes = 1000;
  const auto big = decode_push(PushRequestInfo{"application/x-protobuf", "", ""},
                               proto_body({{R"({job="x"})", {{t, std::string(5000, 'x')}}}}), small, store);
  CHECK(big.status == 413);
  CHECK(decode_push(PushRequestInfo{"application/x-protobuf", "", ""}, "\x05garbage", {}, store).status ==
        400);
  CHECK(decode_push(PushRequestInfo{"application/x-protobuf", "", ""}, snappy_of(""), {}, store).status ==
        422);
}

TEST_CASE("gzip: garbage is 400, a truncated body is 400, concatenated members are one body") {
  StreamStore store;
  const std::string body = push_json({stream_json(R"({"job":"x"})", {{now_ns(), "l"}})});
  CHECK(decode_push(PushRequestInfo{kJson, "gzip", ""}, "this is not gzip", {}, store).status == 400);
  const std::string z = gzip(body);
  CHECK(decode_push(PushRequestInfo{kJson, "gzip", ""}, z.substr(0, z.size() - 6), {}, store).status == 400);
  CHECK(decode_push(PushRequestInfo{kJson, "gzip", ""}, "", {}, store).status == 400);
  const std::string half = body.substr(0, body.size() / 2);
  const auto r =
      decode_push(PushRequestInfo{kJson, "gzip", ""}, gzip(half) + gzip(body.substr(half.size())), {}, store);
  CHECK(r.status == 204);
  CHECK(r.accepted == 1);
  // A large first member and a tiny last one: the size guess (the last member's) is far too small.
  const std::string big(300'000, 'b');
  std::string out;
  std::string error;
  REQUIRE(gunzip_bounded(gzip(big) + gzip("tail"), 1 << 20, out, error) == 0);
  CHECK(out == big + "tail");
}

TEST_CASE("a gzip bomb is 413 and is never inflated past the limit") {
  StreamStore store;
  PushLimits limits;
  limits.max_body_bytes = 1 << 20;
  const std::string bomb = gzip(std::string(64 << 20, 'a'));  // 64 MiB of 'a': about 64 KiB gzipped
  CHECK(bomb.size() < (1 << 20));
  std::string out;
  std::string error;
  CHECK(gunzip_bounded(bomb, limits.max_body_bytes, out, error) == 413);
  CHECK(out.capacity() <= (std::size_t{2} << 20));
  const auto r = decode_push(PushRequestInfo{kJson, "gzip", ""}, bomb, limits, store);
  CHECK(r.status == 413);
  CHECK(r.body.find("request body too large") != std::string::npos);
}

TEST_CASE("labels print as Go's strconv.Quote prints them") {
  CHECK(go_quote("plain") == R"("plain")");
  CHECK(go_quote("tab\there \\ \"q\"") == R"("tab\there \\ \"q\"")");
  CHECK(go_quote(std::string("\x01\x7f", 2)) == R"("\x01\x7f")");
  CHECK(go_quote("caf\xc3\xa9") == "\"caf\xc3\xa9\"");   // printable: kept as UTF-8
  CHECK(go_quote("nb\xc2\xa0sp") == R"("nb\u00a0sp")");  // U+00A0 is a space Go escapes
  CHECK(go_quote("\xff") == R"("\xff")");
  CHECK(rfc3339(0) == "1970-01-01T00:00:00Z");
  CHECK(go_time_string(1'500'000'000) == "1970-01-01 00:00:01.5 +0000 UTC");
}

// ---------------------------------------------------------------------------------------------
// the HTTP receiver, real sockets on 127.0.0.1

namespace {

std::unique_ptr<Receiver> start_receiver(ReceiverOptions o = {}) {
  auto r = Receiver::start(std::move(o));
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
  return std::move(r).value();
}

httplib::Client client_for(const Receiver& r, std::chrono::milliseconds timeout = 5s) {
  httplib::Client c("127.0.0.1", r.port());
  c.set_connection_timeout(timeout);
  c.set_read_timeout(timeout);
  c.set_write_timeout(timeout);
  return c;
}

httplib::Result post_push(httplib::Client& c, const std::string& json, httplib::Headers headers = {}) {
  headers.emplace("Content-Encoding", "gzip");
  return c.Post("/loki/api/v1/push", headers, gzip(json), kJson);
}

std::string one_entry(const std::string& line, std::int64_t ts = now_ns()) {
  return push_json({stream_json(R"({"job":"x"})", {{ts, line}})});
}

}  // namespace

TEST_CASE("http: a gzip JSON push is answered 204 and stored with its tenant") {
  auto r = start_receiver();
  auto c = client_for(*r);
  const std::int64_t t = now_ns();
  const std::string json = push_json({stream_json(R"({"job":"x","level":"warn"})", {{t, "hello"}})});
  auto res = post_push(c, json, {{"X-Scope-OrgID", "acme"}});
  REQUIRE(res);
  CHECK_MESSAGE(res->status == 204, res->body);
  CHECK(res->body.empty());
  CHECK(r->wait_for_entries(1, 2s));
  const auto entries = r->entries();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].labels == R"({job="x", level="warn"})");
  CHECK(entries[0].ts_ns == t);
  CHECK(entries[0].line == "hello");
  CHECK(entries[0].tenant == "acme");
  const ReceiverStats s = r->stats();
  CHECK(s.requests == 1);
  CHECK(s.responses(204) == 1);
  CHECK(s.bytes_on_wire == gzip(json).size());
  CHECK(s.bytes_decoded == json.size());
}

TEST_CASE("http: a protobuf push, Loki's default format, is answered 204") {
  auto r = start_receiver();
  auto c = client_for(*r);
  const std::int64_t t = now_ns();
  auto res = c.Post("/loki/api/v1/push", {{"X-Scope-OrgID", "acme"}},
                    proto_body({{R"({job="x"})", {{t, "hello"}}}}), "application/x-protobuf");
  REQUIRE(res);
  CHECK_MESSAGE(res->status == 204, res->body);
  const auto entries = r->entries();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].labels == R"({job="x"})");
  CHECK(entries[0].line == "hello");
}

TEST_CASE("http: wrong method is 405, unknown path 404, a bad body 400 with a text reason") {
  auto r = start_receiver();
  auto c = client_for(*r);
  auto get = c.Get("/loki/api/v1/push");
  REQUIRE(get);
  CHECK(get->status == 405);
  auto other = c.Post("/api/prom/push", one_entry("x"), kJson);
  REQUIRE(other);
  CHECK(other->status == 404);
  auto proto = c.Post("/loki/api/v1/push", "\x0a\x00", "application/x-protobuf");
  REQUIRE(proto);
  CHECK(proto->status == 400);
  auto bad = post_push(c, push_json({stream_json("{}", {{now_ns(), "l"}})}));
  REQUIRE(bad);
  CHECK(bad->status == 400);
  CHECK(bad->body == "error at least one label pair is required per stream\n");
  CHECK(bad->get_header_value("Content-Type").starts_with("text/plain"));
}

TEST_CASE("http: fail_next(2, 429) gives two 429s with Retry-After, then 204") {
  auto r = start_receiver();
  auto c = client_for(*r);
  r->fail_next(2, 429, "3");
  for (int i = 0; i < 2; ++i) {
    auto res = post_push(c, one_entry("try"));
    REQUIRE(res);
    CHECK(res->status == 429);
    CHECK(res->get_header_value("Retry-After") == "3");
    CHECK(res->body.find("Ingestion rate limit exceeded") != std::string::npos);
  }
  auto ok = post_push(c, one_entry("try"));
  REQUIRE(ok);
  CHECK(ok->status == 204);
  CHECK(r->entries().size() == 1);  // the failed attempts stored nothing
  CHECK(r->stats().responses(429) == 2);
}

TEST_CASE("http: a delay past the client's timeout makes the client fail") {
  auto r = start_receiver();
  auto c = client_for(*r, 300ms);
  SUBCASE("the entries are stored, the answer comes too late") {
    r->set_delay(1500ms, true);
    CHECK_FALSE(post_push(c, one_entry("slow")));
    CHECK(r->wait_for_entries(1, 2s));
  }
  SUBCASE("nothing stored, a late 503") {
    r->set_delay(1500ms, false);
    CHECK_FALSE(post_push(c, one_entry("slow")));
    std::this_thread::sleep_for(1600ms);
    CHECK(r->entries().empty());
    CHECK(r->stats().responses_by_status.at(503) == 1);
  }
  r->set_delay(0ms);
  auto fast = client_for(*r);
  auto ok = post_push(fast, one_entry("after"));
  REQUIRE(ok);
  CHECK(ok->status == 204);
}

TEST_CASE("http: a dropped connection gives the client no answer; the next request is served") {
  auto r = start_receiver();
  auto c = client_for(*r, 2s);
  c.set_keep_alive(true);
  SUBCASE("before ingest: the request is lost") {
    r->drop_next(1, DropMode::before_ingest);
    const auto t0 = std::chrono::steady_clock::now();
    auto res = post_push(c, one_entry("lost"));
    CHECK_FALSE(res);
    CHECK(std::chrono::steady_clock::now() - t0 < 1s);  // an EOF, not a timeout
    CHECK(r->entries().empty());
  }
  SUBCASE("after ingest: stored, but the answer is lost; the client's resend is a duplicate") {
    r->drop_next(1, DropMode::after_ingest);
    const std::string body = one_entry("stored");
    CHECK_FALSE(post_push(c, body));
    CHECK(r->entries().size() == 1);
    auto resend = post_push(c, body);
    REQUIRE(resend);
    CHECK(resend->status == 204);
    CHECK(r->entries().size() == 1);
    CHECK(r->stats().duplicates == 1);
  }
  CHECK(r->stats().dropped_connections == 1);
  auto again = post_push(c, one_entry("again"));
  REQUIRE(again);
  CHECK(again->status == 204);
}

TEST_CASE("http: restart keeps the port and what was received, or forgets it when asked") {
  auto r = start_receiver();
  const int port = r->port();
  auto c = client_for(*r);
  c.set_keep_alive(true);
  REQUIRE(post_push(c, one_entry("before"))->status == 204);

  const auto t0 = std::chrono::steady_clock::now();
  r->stop();  // the client's idle keep-alive connection must not hold it up
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  CHECK_FALSE(r->running());
  CHECK_FALSE(post_push(c, one_entry("while down")));

  REQUIRE(r->restart().ok());
  CHECK(r->port() == port);
  auto res = post_push(c, one_entry("after"));
  REQUIRE(res);
  CHECK(res->status == 204);
  CHECK(r->entries().size() == 2);

  REQUIRE(r->restart(true).ok());
  CHECK(r->entries().empty());
  CHECK(r->stats().requests == 0);
}

TEST_CASE("http: require_tenant and expected_authorization answer 401 as Loki behind auth does") {
  ReceiverOptions o;
  o.require_tenant = true;
  o.expected_authorization = "Basic dXNlcjpwYXNz";
  auto r = start_receiver(o);
  auto c = client_for(*r);
  auto no_auth = post_push(c, one_entry("x"), {{"X-Scope-OrgID", "t"}});
  REQUIRE(no_auth);
  CHECK(no_auth->status == 401);
  auto no_tenant = post_push(c, one_entry("x"), {{"Authorization", "Basic dXNlcjpwYXNz"}});
  REQUIRE(no_tenant);
  CHECK(no_tenant->status == 401);
  CHECK(no_tenant->body == "no org id\n");
  auto ok = post_push(c, one_entry("x"), {{"Authorization", "Basic dXNlcjpwYXNz"}, {"X-Scope-OrgID", "t"}});
  REQUIRE(ok);
  CHECK(ok->status == 204);
}

TEST_CASE("http: the request hook sees each decoded request before the answer") {
  auto r = start_receiver();
  std::mutex m;
  std::vector<ObservedRequest> seen;
  r->set_request_hook([&](const ObservedRequest& o) {
    const std::lock_guard lock(m);
    seen.push_back(o);
  });
  auto c = client_for(*r);
  r->fail_next(1, 500);
  CHECK(post_push(c, one_entry("first"), {{"X-Scope-OrgID", "acme"}})->status == 500);
  CHECK(post_push(c, one_entry("second"), {{"X-Scope-OrgID", "acme"}})->status == 204);
  const std::lock_guard lock(m);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].injected);
  CHECK(seen[0].status == 500);
  REQUIRE(seen[0].entries.size() == 1);
  CHECK(seen[0].entries[0].line == "first");
  CHECK(seen[1].status == 204);
  CHECK(seen[1].tenant == "acme");
  const auto enc = std::find_if(seen[1].headers.begin(), seen[1].headers.end(),
                                [](const auto& h) { return h.first == "Content-Encoding"; });
  REQUIRE(enc != seen[1].headers.end());
  CHECK(enc->second == "gzip");
}

TEST_CASE("http: a body over the limit is 413 before or after gunzip, and the connection stays usable") {
  ReceiverOptions o;
  o.limits.max_body_bytes = 64 << 10;
  auto r = start_receiver(o);
  auto c = client_for(*r);
  c.set_keep_alive(true);
  auto bomb =
      c.Post("/loki/api/v1/push", {{"Content-Encoding", "gzip"}}, gzip(std::string(8 << 20, ' ')), kJson);
  REQUIRE(bomb);
  CHECK(bomb->status == 413);
  auto big = c.Post("/loki/api/v1/push", std::string(1 << 20, ' '), kJson);
  REQUIRE(big);
  CHECK(big->status == 413);
  auto ok = post_push(c, one_entry("small"));
  REQUIRE(ok);
  CHECK(ok->status == 204);
}

TEST_CASE("http: --dump's file gets every accepted entry as a JSON line") {
  char tmpl[] = "/tmp/loki-dump.XXXXXX";
  const int fd = mkstemp(tmpl);
  REQUIRE(fd >= 0);
  close(fd);
  {
    ReceiverOptions o;
    o.keep_entries = false;
    o.dump_path = tmpl;
    auto r = start_receiver(o);
    auto c = client_for(*r);
    const std::int64_t t = now_ns();
    CHECK(post_push(c, push_json({stream_json(R"({"job":"x"})", {{t, "a \"quoted\" line"}, {t + 1, "b"}})}))
              ->status == 204);
  }
  std::ifstream in(tmpl);
  std::string first;
  std::getline(in, first);
  rapidjson::Document d;
  d.Parse(first.c_str());
  REQUIRE(d.IsObject());
  CHECK(std::string(d["labels"].GetString()) == R"({job="x"})");
  CHECK(std::string(d["line"].GetString()) == "a \"quoted\" line");
  CHECK(d["ts"].IsString());
  std::string second;
  CHECK(std::getline(in, second));
  std::remove(tmpl);
}

TEST_CASE("http: concurrent pushers on several connections are all counted") {
  ReceiverOptions o;
  o.keep_entries = false;
  auto r = start_receiver(o);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto c = client_for(*r);
      c.set_keep_alive(true);
      for (int k = 0; k < 20; ++k) {
        Values v;
        for (int n = 0; n < 50; ++n)
          v.emplace_back(now_ns(), "t" + std::to_string(i) + " " + std::to_string(k * 50 + n));
        auto res = post_push(c, push_json({stream_json(R"({"job":"p)" + std::to_string(i) + "\"}", v)}));
        if (res && res->status == 204) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 80);
  CHECK(r->stats().accepted_entries == 4000);
  CHECK(r->stats().streams == 4);
}
