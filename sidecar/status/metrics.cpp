// Samples are gathered per family while the snapshot is visited in the order that suits it, then
// written out in the table's order, HELP and TYPE once per family.
#include "status/metrics.hpp"

#include "status/metric_names.hpp"

#include <shmlog/json_line.hpp>

#include <array>
#include <cassert>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <map>
#include <span>
#include <string_view>
#include <type_traits>

namespace shmlog::sidecar {
namespace {

using M = MetricId;

// Integers exactly (a counter past 2^53 keeps its last digits); doubles as the shortest text
// that reads back the same, the non-finite ones spelled as the format does.
template <class T>
void append_number(std::string& out, T v) {
  static_assert(!std::is_same_v<T, bool>, "write a flag as 1 or 0");
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(v)) {
      out += "NaN";
      return;
    }
    if (std::isinf(v)) {
      out += v > 0 ? "+Inf" : "-Inf";
      return;
    }
  }
  char buf[40];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, ec == std::errc{} ? end : buf);
}

// Prometheus refuses a label value that is not valid UTF-8; the broken bytes become U+FFFD, as
// in the JSON lines.
std::string label_text(std::string_view v) {
  std::string clean;
  return sanitize_utf8(v, clean) ? clean : std::string(v);
}

void append_escaped(std::string& out, std::string_view v, bool quote_too) {
  for (const char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '"' && quote_too)
      out += "\\\"";
    else
      out += c;
  }
}

class Exposition {
 public:
  using Labels = std::initializer_list<std::string_view>;  // values, in the table's label order

  template <class T>
  void add(M id, Labels values, T value) {
    std::string& out = sample(id, "", values);
    append_number(out, value);
    out += '\n';
  }

  // `buckets` are not cumulative and hold one more than `bounds`: the last counts what passed
  // every bound. Prometheus' are cumulative, ending in +Inf, which is also the count.
  void add_histogram(M id, Labels values, std::span<const double> bounds,
                     std::span<const std::uint64_t> buckets, double sum) {
    assert(buckets.size() == bounds.size() + 1);
    std::uint64_t cumulative = 0;
    std::string le;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
      cumulative += buckets[i];
      le.clear();
      if (i < bounds.size())
        append_number(le, bounds[i]);
      else
        le = "+Inf";
      add_line(sample(id, "_bucket", values, le), cumulative);
    }
    add_line(sample(id, "_sum", values), sum);
    add_line(sample(id, "_count", values), cumulative);
  }

  std::string text() const {
    std::string out;
    for (const MetricDef& m : kMetrics) {
      const std::string& body = bodies_[static_cast<std::size_t>(m.id)];
      if (body.empty()) continue;
      out += "# HELP ";
      out += m.name;
      out += ' ';
      append_escaped(out, m.help, false);
      out += "\n# TYPE ";
      out += m.name;
      out += ' ';
      out += metric_type_name(m.type);
      out += '\n';
      out += body;
    }
    return out;
  }

 private:
  template <class T>
  static void add_line(std::string& out, T value) {
    append_number(out, value);
    out += '\n';
  }

  // Starts a sample line: name, suffix and labels, up to the value.
  std::string& sample(M id, std::string_view suffix, Labels values, std::string_view le = {}) {
    const MetricDef& m = metric(id);
    assert(values.size() == m.label_count());
    std::string& out = bodies_[static_cast<std::size_t>(id)];
    out += m.name;
    out += suffix;
    if (values.size() > 0 || !le.empty()) {
      out += '{';
      std::size_t i = 0;
      for (const std::string_view v : values) {
        if (i > 0) out += ',';
        out += m.labels[i++];
        out += "=\"";
        std::string clean;
        append_escaped(out, sanitize_utf8(v, clean) ? std::string_view(clean) : v, true);
        out += '"';
      }
      if (!le.empty()) {
        if (i > 0) out += ',';
        out += "le=\"";
        out += le;
        out += '"';
      }
      out += '}';
    }
    out += ' ';
    return out;
  }

  std::array<std::string, kMetrics.size()> bodies_;
};

unsigned flag(bool b) {
  return b ? 1u : 0u;
}

void add_levels(Exposition& e, M id, std::string_view service, const LevelCounts& counts) {
  for (int i = 0; i < kLevelCount; ++i)
    e.add(id, {service, level_name(static_cast<Level>(i))}, counts[static_cast<std::size_t>(i)]);
}

std::string_view base_name(std::string_view path) {
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

void add_sidecar(Exposition& e, const Snapshot& s, bool ready) {
  e.add(M::build_info, {s.sidecar.version}, 1u);
  e.add(M::start_time, {}, static_cast<double>(s.sidecar.started_unix_ms) / 1000.0);
  e.add(M::uptime, {}, s.sidecar.uptime_s);
  e.add(M::ready, {}, flag(ready));
  e.add(M::degraded, {}, flag(s.drain.degraded));
}

void add_rings(Exposition& e, const std::vector<RingStatus>& rings) {
  e.add(M::rings_open, {}, rings.size());
  // A service may run several processes, each with its ring: the drops are the service's sum,
  // keyed by the label as written so two names that clean up alike stay one series.
  std::map<std::string, LevelCounts> dropped;
  for (const RingStatus& r : rings) {
    const std::string_view ring = base_name(r.file);
    e.add(M::ring_fill_ratio, {ring, r.service}, r.fill_ratio);
    e.add(M::ring_used_bytes, {ring, r.service}, r.used_bytes);
    e.add(M::ring_capacity_bytes, {ring, r.service}, r.capacity_bytes);
    e.add(M::ring_lanes_in_use, {ring, r.service}, r.lanes_in_use);
    e.add(M::ring_records, {ring, r.service}, r.records_total);
    LevelCounts& sum = dropped[label_text(r.service)];
    for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += r.dropped[i];
  }
  for (const auto& [service, counts] : dropped) add_levels(e, M::records_dropped, service, counts);
}

void add_files(Exposition& e, const std::vector<FileStatus>& files) {
  for (const FileStatus& f : files) {
    add_levels(e, M::records_written, f.service, f.records);
    add_levels(e, M::records_sampled_out, f.service, f.sampled);
    add_levels(e, M::records_rate_limited, f.service, f.limited);
    e.add(M::output_bytes, {f.service}, f.stats.bytes_written);
    e.add(M::output_lines, {f.service}, f.stats.lines_written);
    e.add(M::output_rotations, {f.service}, f.stats.rotations);
    e.add(M::output_write_errors, {f.service}, f.stats.write_errors);
    e.add(M::output_file_size, {f.service}, f.stats.current_size);
    e.add(M::output_failing, {f.service}, flag(f.failing));
  }
}

// 0 (no answer) and anything that is no HTTP status are "none".
std::string status_class(int status) {
  if (status < 100 || status > 599) return "none";
  return std::to_string(status / 100) + "xx";
}

void add_loki(Exposition& e, const loki::ShipperStats& l) {
  e.add(M::loki_entries_sent, {}, l.entries_sent);
  e.add(M::loki_entries_rejected, {}, l.entries_rejected);
  // The usual classes are always there, at 0 until seen, so a rate() over them starts at once.
  std::map<std::string, std::uint64_t> by_class = {{"2xx", 0}, {"4xx", 0}, {"5xx", 0}, {"none", 0}};
  for (const auto& [status, n] : l.responses_by_status) by_class[status_class(status)] += n;
  for (const auto& [status, n] : by_class) e.add(M::loki_requests, {status}, n);
  e.add(M::loki_retries, {}, l.retries);
  e.add(M::loki_wire_bytes, {}, l.wire_bytes);
  e.add(M::loki_pending_bytes, {}, l.pending_bytes);
  e.add(M::loki_lag, {}, l.lag_seconds);
  e.add(M::loki_lost_bytes, {}, l.lost_bytes);
  e.add(M::loki_lost_files, {}, l.lost_files);
  e.add(M::loki_truncated_lines, {}, l.truncated_lines);
  e.add(M::loki_unparsable_lines, {}, l.unparsable_lines);
  e.add_histogram(M::loki_push_duration, {}, loki::kPushSecondsBounds, l.push_seconds_buckets,
                  l.push_seconds_sum);
  e.add(M::loki_last_push, {}, static_cast<double>(l.last_push_unix_ms) / 1000.0);
}

}  // namespace

std::string render_metrics(const Snapshot& snapshot, bool ready) {
  Exposition e;
  add_sidecar(e, snapshot, ready);
  add_rings(e, snapshot.drain.rings);
  add_files(e, snapshot.drain.files);
  if (snapshot.loki) add_loki(e, *snapshot.loki);
  return e.text();
}

}  // namespace shmlog::sidecar
