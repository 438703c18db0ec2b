#include "status/status_json.hpp"

#include <shmlog/json_line.hpp>

#include <cmath>
#include <cstdio>
#include <ctime>
#include <string_view>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace shmlog::sidecar {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// Invalid UTF-8 replaced first: RapidJSON would copy it through, or, validating, stop halfway
// and leave a broken document.
void text(Writer& w, std::string_view s) {
  std::string clean;
  if (sanitize_utf8(s, clean)) s = clean;
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()), true);
}

// JSON has no NaN or Infinity, and RapidJSON refuses to write them.
void number(Writer& w, double d) {
  w.Double(std::isfinite(d) ? d : 0.0);
}

// "2026-11-21T09:31:44.890Z"
std::string iso8601_ms(std::int64_t unix_ms) {
  std::int64_t secs = unix_ms / 1000;
  std::int64_t ms = unix_ms % 1000;
  if (ms < 0) {  // before 1970: the millisecond part still counts forward
    ms += 1000;
    --secs;
  }
  const auto t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

void levels(Writer& w, const LevelCounts& counts, bool nonzero_only) {
  w.StartObject();
  for (int i = 0; i < kLevelCount; ++i) {
    const std::uint64_t n = counts[static_cast<std::size_t>(i)];
    if (nonzero_only && n == 0) continue;
    const std::string_view name = level_name(static_cast<Level>(i));
    w.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
    w.Uint64(n);
  }
  w.EndObject();
}

void write_sidecar(Writer& w, const SidecarInfo& s, const StatusExtras& extras) {
  w.StartObject();
  w.Key("version");
  text(w, s.version);
  w.Key("pid");
  w.Int(s.pid);
  w.Key("uptime_s");
  number(w, s.uptime_s);
  w.Key("started_at");
  text(w, iso8601_ms(s.started_unix_ms));
  w.Key("health");
  text(w, extras.health);
  w.Key("ready");
  w.Bool(extras.ready);
  w.Key("reason");
  text(w, extras.reason);
  w.Key("settings");
  w.StartObject();
  for (const auto& [name, value] : s.settings) {
    std::string clean;
    const std::string_view key =
        sanitize_utf8(name, clean) ? std::string_view(clean) : std::string_view(name);
    w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()), true);
    text(w, value);
  }
  w.EndObject();
  w.EndObject();
}

void write_ring(Writer& w, const RingStatus& r) {
  w.StartObject();
  w.Key("file");
  text(w, r.file);
  w.Key("service");
  text(w, r.service);
  w.Key("pod");
  text(w, r.pod);
  w.Key("namespace");
  text(w, r.pod_namespace);
  w.Key("container");
  text(w, r.container);
  w.Key("writer_pid");
  w.Int(r.writer_pid);
  w.Key("writer_alive");
  w.Bool(r.writer_alive);
  w.Key("capacity_bytes");
  w.Uint64(r.capacity_bytes);
  w.Key("used_bytes");
  w.Uint64(r.used_bytes);
  w.Key("fill_ratio");
  number(w, r.fill_ratio);
  w.Key("lanes_total");
  w.Uint(r.lanes_total);
  w.Key("lanes_in_use");
  w.Uint(r.lanes_in_use);
  w.Key("lanes_set_aside");
  w.Uint(r.lanes_set_aside);
  w.Key("records_total");
  w.Uint64(r.records_total);
  w.Key("records_per_s");
  number(w, r.records_per_s);
  w.Key("last_write_age_s");  // null: nothing taken from the ring yet
  if (r.last_write_age_s < 0)
    w.Null();
  else
    number(w, r.last_write_age_s);
  w.Key("dropped");
  levels(w, r.dropped, false);
  std::uint64_t dropped_total = 0;
  for (const auto n : r.dropped) dropped_total += n;
  w.Key("dropped_total");
  w.Uint64(dropped_total);
  w.Key("min_level");
  text(w, level_name(r.min_level));
  w.EndObject();
}

void write_file(Writer& w, const FileStatus& f) {
  w.StartObject();
  w.Key("service");
  text(w, f.service);
  w.Key("path");
  text(w, f.path);
  w.Key("size_bytes");
  w.Uint64(f.stats.current_size);
  w.Key("bytes_total");
  w.Uint64(f.stats.bytes_written);
  w.Key("lines_total");
  w.Uint64(f.stats.lines_written);
  w.Key("rotations");
  w.Uint64(f.stats.rotations);
  w.Key("write_errors");
  w.Uint64(f.stats.write_errors);
  w.Key("failing");
  w.Bool(f.failing);
  w.Key("last_error");
  text(w, f.stats.last_error);
  w.Key("records");
  levels(w, f.records, false);
  // Only the levels something was let go at, as docs/http.md shows: most services use neither.
  w.Key("sampled_out");
  levels(w, f.sampled, true);
  w.Key("rate_limited");
  levels(w, f.limited, true);
  w.EndObject();
}

void write_loki(Writer& w, const std::string& url, const loki::ShipperStats& l) {
  w.StartObject();
  w.Key("url");
  text(w, url);
  w.Key("entries_sent");
  w.Uint64(l.entries_sent);
  w.Key("entries_rejected");
  w.Uint64(l.entries_rejected);
  w.Key("requests");
  w.Uint64(l.requests);
  w.Key("retries");
  w.Uint64(l.retries);
  w.Key("wire_bytes");
  w.Uint64(l.wire_bytes);
  w.Key("pending_bytes");
  w.Uint64(l.pending_bytes);
  w.Key("last_push");  // null: Loki has accepted nothing yet
  if (l.last_push_unix_ms == 0)
    w.Null();
  else
    text(w, iso8601_ms(l.last_push_unix_ms));
  w.Key("last_status");
  w.Int(l.last_status);
  w.Key("last_error");
  text(w, l.last_error);
  w.Key("lag_s");
  number(w, l.lag_seconds);
  w.Key("lost_bytes");
  w.Uint64(l.lost_bytes);
  w.Key("lost_files");
  w.Uint64(l.lost_files);
  w.Key("truncated_lines");
  w.Uint64(l.truncated_lines);
  w.Key("unparsable_lines");
  w.Uint64(l.unparsable_lines);
  w.EndObject();
}

}  // namespace

std::string render_status_json(const Snapshot& snapshot, const StatusExtras& extras) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("sidecar");
  write_sidecar(w, snapshot.sidecar, extras);
  w.Key("rings");
  w.StartArray();
  for (const RingStatus& r : snapshot.drain.rings) write_ring(w, r);
  w.EndArray();
  w.Key("sinks");
  w.StartObject();
  w.Key("files");
  w.StartArray();
  for (const FileStatus& f : snapshot.drain.files) write_file(w, f);
  w.EndArray();
  w.Key("loki");
  if (snapshot.loki)
    write_loki(w, snapshot.loki_url, *snapshot.loki);
  else
    w.Null();
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace shmlog::sidecar
