// GET /status and GET /metrics rendered from one snapshot: the JSON parsed back and checked
// against docs/http.md's shape; the exposition parsed line by line against metric_names.hpp,
// and checked by promtool (its parser and its lint).
#include "status/metric_names.hpp"
#include "status/metrics.hpp"
#include "status/status_json.hpp"
#include "support/test_dir.hpp"

#include <shmlog/json_line.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace shmlog;
using namespace shmlog::sidecar;

namespace {

// Quotes, a backslash, a newline and two bytes that are no UTF-8: what a hostile app may name
// its service.
const std::string kWeirdService = "we\"ird\\svc\nx\xff\xfe";
const std::string kWeirdServiceClean = "we\"ird\\svc\nx\xEF\xBF\xBD\xEF\xBF\xBD";

std::size_t at(Level l) {
  return static_cast<std::size_t>(l);
}

Snapshot rich_snapshot() {
  Snapshot s;
  s.sidecar.version = "0.1.0";
  s.sidecar.pid = 7;
  s.sidecar.uptime_s = 12.5;
  s.sidecar.started_unix_ms = 1'795'253'504'890;  // 2026-11-21T09:31:44.890Z
  s.sidecar.settings = {{"dir", "/var/run/shmlog"}, {"loki-password-file", "/etc/loki/pw"}, {"odd", "a\xff"}};

  RingStatus& api = s.drain.rings.emplace_back();
  api.file = "/var/run/shmlog/api-41.ring";
  api.service = "api";
  api.pod = "api-7f9c";
  api.pod_namespace = "shop";
  api.container = "app";
  api.writer_pid = 41;
  api.writer_alive = true;
  api.capacity_bytes = 16'777'216;
  api.used_bytes = 5120;
  api.fill_ratio = 5120.0 / 16'777'216;
  api.lanes_total = 64;
  api.lanes_in_use = 3;
  api.records_total = 1'200'345;
  api.records_per_s = 5012.5;
  api.dropped[at(Level::info)] = 12;
  api.last_write_age_s = 0.02;
  api.min_level = Level::info;

  RingStatus& weird = s.drain.rings.emplace_back();
  weird.file = "/var/run/shmlog/weird-42.ring";
  weird.service = kWeirdService;
  weird.writer_pid = 42;
  weird.capacity_bytes = 65536;
  weird.records_total = 12'345'678'901'234'567'890ull;  // past 2^53: must stay exact
  weird.records_per_s = std::numeric_limits<double>::quiet_NaN();
  weird.dropped[at(Level::debug)] = 5;
  weird.dropped[at(Level::critical)] = 1;
  // last_write_age_s stays -1: nothing taken yet

  FileStatus& api_file = s.drain.files.emplace_back();
  api_file.service = "api";
  api_file.path = "/var/log/shmlog/api.log";
  api_file.stats = {98'765'432, 250'000, 3, 0, 1'048'576, ""};
  api_file.records[at(Level::info)] = 240'000;
  api_file.records[at(Level::error)] = 10'000;
  api_file.sampled[at(Level::debug)] = 10;

  FileStatus& weird_file = s.drain.files.emplace_back();
  weird_file.service = safe_file_stem(kWeirdService);
  weird_file.path = "/var/log/shmlog/" + weird_file.service + ".log";
  weird_file.stats = {100, 2, 0, 4, 100, "write: No space left on device\n\"really\""};
  weird_file.failing = true;
  weird_file.limited[at(Level::warning)] = 7;

  loki::ShipperStats l;
  l.entries_sent = 250'000;
  l.entries_rejected = 3;
  l.requests = 108;
  l.retries = 2;
  l.wire_bytes = 19'000'000;
  l.pending_bytes = 4096;
  l.last_status = 204;
  l.last_push_unix_ms = 1'795'253'560'007;  // 2026-11-21T09:32:40.007Z
  l.lag_seconds = 0.25;
  l.lost_bytes = 1;
  l.lost_files = 1;
  l.truncated_lines = 4;
  l.unparsable_lines = 5;
  l.push_seconds_buckets = {1, 2, 3, 0, 0, 4, 0, 0, 0, 0, 0, 1};
  l.push_seconds_sum = 13.75;
  l.responses_by_status = {{0, 2}, {204, 100}, {302, 1}, {429, 1}, {500, 3}, {503, 1}};
  s.loki = l;
  s.loki_url = "https://loki:3100/loki/api/v1/push";
  s.drain.degraded = true;
  return s;
}

const StatusExtras kExtras{"degraded", false, "the file weird.log fails"};

rapidjson::Document parse_json(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  REQUIRE_MESSAGE(!d.HasParseError(), "not JSON: " << text);
  REQUIRE(d.IsObject());
  return d;
}

// Member names in document order; by index, as clang 14 in C++20 finds RapidJSON's member
// iterator comparison ambiguous.
std::vector<std::string> keys_of(const rapidjson::Value& v) {
  REQUIRE(v.IsObject());
  std::vector<std::string> keys;
  for (rapidjson::SizeType i = 0; i < v.MemberCount(); ++i) {
    const auto& name = (v.MemberBegin() + i)->name;
    keys.emplace_back(name.GetString(), name.GetStringLength());
  }
  return keys;
}

std::string str(const rapidjson::Value& v) {
  REQUIRE(v.IsString());
  return {v.GetString(), v.GetStringLength()};
}

const std::vector<std::string> kLevelKeys = {"TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};

}  // namespace

TEST_CASE("/status: the document has docs/http.md's shape, key for key") {
  const auto d = parse_json(render_status_json(rich_snapshot(), kExtras));
  CHECK(keys_of(d) == std::vector<std::string>{"sidecar", "rings", "sinks"});
  CHECK(keys_of(d["sidecar"]) == std::vector<std::string>{"version", "pid", "uptime_s", "started_at",
                                                          "health", "ready", "reason", "settings"});
  REQUIRE(d["rings"].IsArray());
  REQUIRE(d["rings"].Size() == 2);
  for (rapidjson::SizeType i = 0; i < 2; ++i) {
    CHECK(keys_of(d["rings"][i]) ==
          std::vector<std::string>{
              "file", "service", "pod", "namespace", "container", "writer_pid", "writer_alive",
              "capacity_bytes", "used_bytes", "fill_ratio", "lanes_total", "lanes_in_use", "lanes_set_aside",
              "records_total", "records_per_s", "last_write_age_s", "dropped", "dropped_total", "min_level"});
    CHECK(keys_of(d["rings"][i]["dropped"]) == kLevelKeys);
  }
  CHECK(keys_of(d["sinks"]) == std::vector<std::string>{"files", "loki"});
  REQUIRE(d["sinks"]["files"].Size() == 2);
  for (rapidjson::SizeType i = 0; i < 2; ++i) {
    CHECK(keys_of(d["sinks"]["files"][i]) ==
          std::vector<std::string>{"service", "path", "size_bytes", "bytes_total", "lines_total", "rotations",
                                   "write_errors", "failing", "last_error", "records", "sampled_out",
                                   "rate_limited"});
    CHECK(keys_of(d["sinks"]["files"][i]["records"]) == kLevelKeys);
  }
  CHECK(keys_of(d["sinks"]["loki"]) ==
        std::vector<std::string>{"url", "entries_sent", "entries_rejected", "requests", "retries",
                                 "wire_bytes", "pending_bytes", "last_push", "last_status", "last_error",
                                 "lag_s", "lost_bytes", "lost_files", "truncated_lines", "unparsable_lines"});
}

TEST_CASE("/status: the values, times in UTC with milliseconds, hostile strings kept valid") {
  const auto d = parse_json(render_status_json(rich_snapshot(), kExtras));
  const auto& sc = d["sidecar"];
  CHECK(str(sc["version"]) == "0.1.0");
  CHECK(sc["pid"].GetInt() == 7);
  CHECK(sc["uptime_s"].GetDouble() == 12.5);
  CHECK(str(sc["started_at"]) == "2026-11-21T09:31:44.890Z");
  CHECK(str(sc["health"]) == "degraded");
  CHECK(sc["ready"].IsFalse());
  CHECK(str(sc["reason"]) == "the file weird.log fails");
  CHECK(keys_of(sc["settings"]) == std::vector<std::string>{"dir", "loki-password-file", "odd"});
  CHECK(str(sc["settings"]["loki-password-file"]) == "/etc/loki/pw");
  CHECK(str(sc["settings"]["odd"]) == "a\xEF\xBF\xBD");

  const auto& api = d["rings"][0];
  CHECK(str(api["file"]) == "/var/run/shmlog/api-41.ring");
  CHECK(str(api["namespace"]) == "shop");
  CHECK(api["writer_alive"].IsTrue());
  CHECK(api["capacity_bytes"].GetUint64() == 16'777'216);
  CHECK(api["fill_ratio"].GetDouble() == doctest::Approx(0.000305).epsilon(0.01));
  CHECK(api["records_per_s"].GetDouble() == 5012.5);
  CHECK(api["last_write_age_s"].GetDouble() == 0.02);
  CHECK(api["dropped"]["INFO"].GetUint64() == 12);
  CHECK(api["dropped_total"].GetUint64() == 12);
  CHECK(str(api["min_level"]) == "INFO");

  const auto& weird = d["rings"][1];
  CHECK(str(weird["service"]) == kWeirdServiceClean);
  CHECK(weird["records_total"].GetUint64() == 12'345'678'901'234'567'890ull);
  CHECK(weird["records_per_s"].GetDouble() == 0);  // NaN: JSON has none
  CHECK(weird["last_write_age_s"].IsNull());       // nothing taken yet
  CHECK(weird["dropped_total"].GetUint64() == 6);
  CHECK(str(weird["min_level"]) == "TRACE");

  const auto& api_file = d["sinks"]["files"][0];
  CHECK(api_file["size_bytes"].GetUint64() == 1'048'576);
  CHECK(api_file["bytes_total"].GetUint64() == 98'765'432);
  CHECK(api_file["lines_total"].GetUint64() == 250'000);
  CHECK(api_file["rotations"].GetUint64() == 3);
  CHECK(api_file["failing"].IsFalse());
  CHECK(api_file["records"]["ERROR"].GetUint64() == 10'000);
  // Only the levels something was let go at.
  CHECK(keys_of(api_file["sampled_out"]) == std::vector<std::string>{"DEBUG"});
  CHECK(api_file["sampled_out"]["DEBUG"].GetUint64() == 10);
  CHECK(keys_of(api_file["rate_limited"]).empty());

  const auto& weird_file = d["sinks"]["files"][1];
  CHECK(weird_file["failing"].IsTrue());
  CHECK(weird_file["write_errors"].GetUint64() == 4);
  CHECK(str(weird_file["last_error"]) == "write: No space left on device\n\"really\"");
  CHECK(keys_of(weird_file["rate_limited"]) == std::vector<std::string>{"WARNING"});

  const auto& loki = d["sinks"]["loki"];
  CHECK(str(loki["url"]) == "https://loki:3100/loki/api/v1/push");
  CHECK(loki["entries_sent"].GetUint64() == 250'000);
  CHECK(loki["entries_rejected"].GetUint64() == 3);
  CHECK(loki["requests"].GetUint64() == 108);
  CHECK(str(loki["last_push"]) == "2026-11-21T09:32:40.007Z");
  CHECK(loki["last_status"].GetInt() == 204);
  CHECK(loki["lag_s"].GetDouble() == 0.25);
  CHECK(loki["unparsable_lines"].GetUint64() == 5);
}

TEST_CASE("/status: loki is null when shipping is off; last_push null before the first") {
  Snapshot s = rich_snapshot();
  s.loki->last_push_unix_ms = 0;
  CHECK(parse_json(render_status_json(s, kExtras))["sinks"]["loki"]["last_push"].IsNull());
  s.loki.reset();
  CHECK(parse_json(render_status_json(s, kExtras))["sinks"]["loki"].IsNull());
  // An empty snapshot (the sidecar just started) is a document too.
  const auto empty = parse_json(render_status_json(Snapshot{}, {"ok", false, "starting"}));
  CHECK(empty["rings"].Size() == 0);
  CHECK(str(empty["sidecar"]["started_at"]) == "1970-01-01T00:00:00.000Z");
}

TEST_CASE("/status: non-finite numbers are written as 0") {
  Snapshot s = rich_snapshot();
  s.sidecar.uptime_s = std::numeric_limits<double>::infinity();
  s.drain.rings[0].fill_ratio = std::numeric_limits<double>::quiet_NaN();
  s.drain.rings[0].last_write_age_s = std::numeric_limits<double>::quiet_NaN();
  s.loki->lag_seconds = -std::numeric_limits<double>::infinity();
  const auto d = parse_json(render_status_json(s, kExtras));
  CHECK(d["sidecar"]["uptime_s"].GetDouble() == 0);
  CHECK(d["rings"][0]["fill_ratio"].GetDouble() == 0);
  CHECK(d["rings"][0]["last_write_age_s"].GetDouble() == 0);
  CHECK(d["sinks"]["loki"]["lag_s"].GetDouble() == 0);
}

namespace {

// The exposition read back: what a scraper would see, or a failed check naming the line.
struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // values unescaped
  std::string value;                                        // as written

  std::string label(const std::string& key) const {
    for (const auto& [k, v] : labels)
      if (k == key) return v;
    return "<absent>";
  }
};

struct Family {
  std::string name, type, help;
  std::vector<Sample> samples;
};

// One sample line: name{k="v",...} value
Sample parse_sample(const std::string& line) {
  Sample s;
  std::size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') s.name += line[i++];
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      std::string key, value;
      while (i < line.size() && line[i] != '=') key += line[i++];
      REQUIRE_MESSAGE(line.compare(i, 2, "=\"") == 0, "label without =\": " << line);
      i += 2;
      while (i < line.size() && line[i] != '"') {
        if (line[i] == '\\') {
          REQUIRE_MESSAGE(i + 1 < line.size(), line);
          const char e = line[i + 1];
          REQUIRE_MESSAGE((e == '\\' || e == '"' || e == 'n'), "bad escape in: " << line);
          value += e == 'n' ? '\n' : e;
          i += 2;
        } else {
          value += line[i++];
        }
      }
      REQUIRE_MESSAGE(i < line.size(), "unterminated label value: " << line);
      ++i;  // the closing quote
      if (i < line.size() && line[i] == ',') ++i;
      s.labels.emplace_back(key, value);
    }
    REQUIRE_MESSAGE(i < line.size(), "unterminated labels: " << line);
    ++i;
  }
  REQUIRE_MESSAGE((i < line.size() && line[i] == ' '), "no space before the value: " << line);
  s.value = line.substr(i + 1);
  REQUIRE_MESSAGE(!s.value.empty(), line);
  REQUIRE_MESSAGE(s.value.find(' ') == std::string::npos, "a timestamp or junk after the value: " << line);
  return s;
}

bool belongs_to(const std::string& sample_name, const Family& f) {
  if (sample_name == f.name) return f.type != "histogram";
  if (f.type != "histogram") return false;
  for (const char* suffix : {"_bucket", "_sum", "_count"})
    if (sample_name == f.name + suffix) return true;
  return false;
}

// Checks the structure while reading: HELP then TYPE once per family, each sample under the
// family it belongs to, no series twice, no blank line, a newline at the end.
std::vector<Family> parse_exposition(const std::string& text) {
  REQUIRE(!text.empty());
  REQUIRE(text.back() == '\n');
  std::vector<Family> families;
  std::set<std::string> declared, series;
  std::istringstream in(text);
  std::string line;
  bool want_type = false;
  while (std::getline(in, line)) {
    REQUIRE_MESSAGE(!line.empty(), "a blank line");
    if (line.rfind("# HELP ", 0) == 0) {
      REQUIRE_MESSAGE(!want_type, "HELP without TYPE before: " << line);
      const std::string rest = line.substr(7);
      const auto space = rest.find(' ');
      REQUIRE(space != std::string::npos);
      Family f;
      f.name = rest.substr(0, space);
      f.help = rest.substr(space + 1);
      REQUIRE_MESSAGE(declared.insert(f.name).second, "family declared twice: " << f.name);
      families.push_back(f);
      want_type = true;
    } else if (line.rfind("# TYPE ", 0) == 0) {
      REQUIRE_MESSAGE(want_type, "TYPE without HELP: " << line);
      REQUIRE(line == "# TYPE " + families.back().name + line.substr(7 + families.back().name.size()));
      families.back().type = line.substr(8 + families.back().name.size());
      want_type = false;
    } else {
      REQUIRE_MESSAGE(line[0] != '#', "an unexpected comment: " << line);
      REQUIRE_MESSAGE((!families.empty() && !want_type), "a sample before its family: " << line);
      Sample s = parse_sample(line);
      REQUIRE_MESSAGE(belongs_to(s.name, families.back()), "sample outside its family: " << line);
      REQUIRE_MESSAGE(series.insert(line.substr(0, line.rfind(' '))).second, "series twice: " << line);
      families.back().samples.push_back(std::move(s));
    }
  }
  REQUIRE_FALSE(want_type);
  return families;
}

const Family& family(const std::vector<Family>& fs, MetricId id) {
  for (const Family& f : fs)
    if (f.name == metric(id).name) return f;
  FAIL("family missing: " << metric(id).name);
  return fs.front();  // not reached
}

// The value of the one sample of `id` whose labels include all of `want`.
std::string value_of(const std::vector<Family>& fs, MetricId id,
                     const std::vector<std::pair<std::string, std::string>>& want = {}) {
  std::vector<std::string> found;
  for (const Sample& s : family(fs, id).samples) {
    bool match = true;
    for (const auto& [k, v] : want) match = match && s.label(k) == v;
    if (match) found.push_back(s.value);
  }
  REQUIRE_MESSAGE(found.size() == 1, metric(id).name << ": " << found.size() << " samples match");
  return found.front();
}

bool is_integer_text(const std::string& v) {
  return !v.empty() && v.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

TEST_CASE("/metrics: every family of the table, in its order, with its type, help and labels") {
  const auto fs = parse_exposition(render_metrics(rich_snapshot(), true));
  REQUIRE(fs.size() == kMetrics.size());
  for (std::size_t i = 0; i < fs.size(); ++i) {
    const MetricDef& m = kMetrics[i];
    CAPTURE(m.name);
    CHECK(fs[i].name == m.name);
    CHECK(fs[i].type == metric_type_name(m.type));
    CHECK(fs[i].help == m.help);
    CHECK_FALSE(fs[i].samples.empty());
    for (const Sample& s : fs[i].samples) {
      std::vector<std::string> names;
      for (const auto& [k, v] : s.labels) names.push_back(k);
      std::vector<std::string> want(m.labels.begin(), m.labels.begin() + static_cast<long>(m.label_count()));
      if (s.name == std::string(m.name) + "_bucket") want.push_back("le");
      CHECK(names == want);
      // Counters are integers, written as such (no 1e+06).
      if (m.type == MetricType::counter) CHECK_MESSAGE(is_integer_text(s.value), s.name << " " << s.value);
      char* end = nullptr;
      std::strtod(s.value.c_str(), &end);
      CHECK_MESSAGE(*end == '\0', "not a number: " << s.value);
    }
  }
}

TEST_CASE("/metrics: values by service, level, ring and status") {
  using M = MetricId;
  const auto fs = parse_exposition(render_metrics(rich_snapshot(), true));
  CHECK(value_of(fs, M::build_info, {{"version", "0.1.0"}}) == "1");
  CHECK(value_of(fs, M::start_time) == "1795253504.89");
  CHECK(value_of(fs, M::uptime) == "12.5");
  CHECK(value_of(fs, M::ready) == "1");
  CHECK(value_of(fs, M::degraded) == "1");
  CHECK(value_of(fs, M::records_written, {{"service", "api"}, {"level", "INFO"}}) == "240000");
  CHECK(value_of(fs, M::records_written, {{"service", "api"}, {"level", "TRACE"}}) == "0");
  CHECK(family(fs, M::records_written).samples.size() == 2 * kLevelCount);
  CHECK(value_of(fs, M::records_dropped, {{"service", "api"}, {"level", "INFO"}}) == "12");
  // The hostile name comes back as written, broken bytes as U+FFFD.
  CHECK(value_of(fs, M::records_dropped, {{"service", kWeirdServiceClean}, {"level", "DEBUG"}}) == "5");
  CHECK(value_of(fs, M::records_sampled_out, {{"service", "api"}, {"level", "DEBUG"}}) == "10");
  CHECK(value_of(fs, M::records_rate_limited,
                 {{"service", safe_file_stem(kWeirdService)}, {"level", "WARNING"}}) == "7");
  CHECK(value_of(fs, M::rings_open) == "2");
  CHECK(value_of(fs, M::ring_capacity_bytes, {{"ring", "api-41.ring"}, {"service", "api"}}) == "16777216");
  CHECK(value_of(fs, M::ring_lanes_in_use, {{"ring", "api-41.ring"}}) == "3");
  CHECK(std::stod(value_of(fs, M::ring_fill_ratio, {{"ring", "api-41.ring"}})) == 5120.0 / 16'777'216);
  CHECK(value_of(fs, M::ring_records, {{"ring", "weird-42.ring"}, {"service", kWeirdServiceClean}}) ==
        "12345678901234567890");
  CHECK(value_of(fs, M::output_bytes, {{"service", "api"}}) == "98765432");
  CHECK(value_of(fs, M::output_file_size, {{"service", "api"}}) == "1048576");
  CHECK(value_of(fs, M::output_failing, {{"service", safe_file_stem(kWeirdService)}}) == "1");
  CHECK(value_of(fs, M::output_write_errors, {{"service", safe_file_stem(kWeirdService)}}) == "4");
  CHECK(value_of(fs, M::loki_entries_rejected) == "3");
  CHECK(value_of(fs, M::loki_requests, {{"status", "2xx"}}) == "100");
  CHECK(value_of(fs, M::loki_requests, {{"status", "3xx"}}) == "1");
  CHECK(value_of(fs, M::loki_requests, {{"status", "4xx"}}) == "1");
  CHECK(value_of(fs, M::loki_requests, {{"status", "5xx"}}) == "4");
  CHECK(value_of(fs, M::loki_requests, {{"status", "none"}}) == "2");
  CHECK(value_of(fs, M::loki_lag) == "0.25");
  CHECK(value_of(fs, M::loki_last_push) == "1795253560.007");
}

TEST_CASE("/metrics: label values escaped (backslash, quote, newline) and valid UTF-8") {
  const std::string text = render_metrics(rich_snapshot(), true);
  CHECK(text.find("service=\"we\\\"ird\\\\svc\\nx\xEF\xBF\xBD\xEF\xBF\xBD\"") != std::string::npos);
  std::string clean;
  CHECK_FALSE(sanitize_utf8(text, clean));  // nothing to replace: valid as it is
}

TEST_CASE("/metrics: the push duration histogram is cumulative, +Inf equal to _count") {
  const auto fs = parse_exposition(render_metrics(rich_snapshot(), true));
  const Family& h = family(fs, MetricId::loki_push_duration);
  std::vector<std::string> les;
  std::vector<std::uint64_t> counts;
  std::string sum, count;
  for (const Sample& s : h.samples) {
    if (s.name == h.name + "_bucket") {
      les.push_back(s.label("le"));
      counts.push_back(std::stoull(s.value));
    } else if (s.name == h.name + "_sum") {
      sum = s.value;
    } else if (s.name == h.name + "_count") {
      count = s.value;
    }
  }
  CHECK(les == std::vector<std::string>{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5",
                                        "5", "10", "+Inf"});
  // From the non-cumulative {1, 2, 3, 0, 0, 4, 0, 0, 0, 0, 0, 1}.
  CHECK(counts == std::vector<std::uint64_t>{1, 3, 6, 6, 6, 10, 10, 10, 10, 10, 10, 11});
  CHECK(count == "11");
  CHECK(std::to_string(counts.back()) == count);
  CHECK(sum == "13.75");
}

TEST_CASE("/metrics: a service's drops are summed over its rings") {
  Snapshot s = rich_snapshot();
  RingStatus second = s.drain.rings[0];
  second.file = "/var/run/shmlog/api-43.ring";
  second.dropped[at(Level::info)] = 30;
  s.drain.rings.push_back(second);
  const auto fs = parse_exposition(render_metrics(s, true));
  CHECK(value_of(fs, MetricId::records_dropped, {{"service", "api"}, {"level", "INFO"}}) == "42");
  CHECK(family(fs, MetricId::ring_records).samples.size() == 3);
}

TEST_CASE("/metrics: no Loki families when shipping is off; no ring families before a ring") {
  Snapshot s = rich_snapshot();
  s.loki.reset();
  const std::string text = render_metrics(s, false);
  CHECK(text.find("shmlog_loki_") == std::string::npos);
  const auto fs = parse_exposition(text);
  CHECK(value_of(fs, MetricId::ready) == "0");

  const auto bare = parse_exposition(render_metrics(Snapshot{}, false));
  std::vector<std::string> names;
  for (const Family& f : bare) names.push_back(f.name);
  CHECK(names == std::vector<std::string>{"shmlog_build_info", "shmlog_start_time_seconds",
                                          "shmlog_uptime_seconds", "shmlog_ready", "shmlog_degraded",
                                          "shmlog_rings_open"});
}

namespace {

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':'))
    if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
  return false;
}

}  // namespace

TEST_CASE("/metrics: promtool check metrics accepts the text with no lint problem") {
  REQUIRE_MESSAGE(
      on_path("promtool"),
      "promtool not found: run scripts/install-deps.sh (Debian's prometheus package; CI installs it)");
  test::TempDir dir("shmlog-metrics");
  const std::string file = dir.file("metrics.txt");
  {
    std::ofstream out(file, std::ios::binary);
    out << render_metrics(rich_snapshot(), true);
    REQUIRE(out.good());
  }
  FILE* p = ::popen(("promtool check metrics < '" + file + "' 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::string said;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) said.append(buf, n);
  const int status = ::pclose(p);
  CHECK_MESSAGE(said.empty(), "promtool says:\n" << said);
  CHECK_MESSAGE((WIFEXITED(status) && WEXITSTATUS(status) == 0), "promtool exit status " << status << "\n"
                                                                                         << said);
}
