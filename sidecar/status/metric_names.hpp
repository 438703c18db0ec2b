// Every metric `GET /metrics` serves, declared once: name, type, label names and help text. The
// renderer (metrics.cpp) refers to them by id and writes the families in this table's order;
// the tests check the rendered text against it. Labels stay low-cardinality: service and level
// (six values), ring (the ring file's name, one per producing process), status (HTTP class).
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

namespace shmlog::sidecar {

enum class MetricType { counter, gauge, histogram };

constexpr std::string_view metric_type_name(MetricType type) {
  switch (type) {
    case MetricType::counter:
      return "counter";
    case MetricType::gauge:
      return "gauge";
    case MetricType::histogram:
      return "histogram";
  }
  return "untyped";
}

// In the table's order; the static_assert below keeps the two in step.
enum class MetricId : std::size_t {
  build_info,
  start_time,
  uptime,
  ready,
  degraded,
  records_written,
  records_dropped,
  records_sampled_out,
  records_rate_limited,
  rings_open,
  ring_fill_ratio,
  ring_used_bytes,
  ring_capacity_bytes,
  ring_lanes_in_use,
  ring_records,
  output_bytes,
  output_lines,
  output_rotations,
  output_write_errors,
  output_file_size,
  output_failing,
  loki_entries_sent,
  loki_entries_rejected,
  loki_requests,
  loki_retries,
  loki_wire_bytes,
  loki_pending_bytes,
  loki_lag,
  loki_lost_bytes,
  loki_lost_files,
  loki_truncated_lines,
  loki_unparsable_lines,
  loki_push_duration,
  loki_last_push,
};

struct MetricDef {
  MetricId id;
  std::string_view name;
  MetricType type;
  std::array<std::string_view, 2> labels;  // in the order samples give their values; unused: ""
  std::string_view help;

  constexpr std::size_t label_count() const {
    std::size_t n = 0;
    for (const auto l : labels) n += l.empty() ? 0 : 1;
    return n;
  }
};

namespace metric_table {
// Spelled out in a namespace of their own, so includers do not get `ready` or `gauge` as names.
using enum MetricId;
using enum MetricType;

inline constexpr std::array kTable = {
    MetricDef{build_info, "shmlog_build_info", gauge, {"version"}, "The sidecar's version; always 1."},
    MetricDef{
        start_time, "shmlog_start_time_seconds", gauge, {}, "When the sidecar started, in Unix seconds."},
    MetricDef{uptime, "shmlog_uptime_seconds", gauge, {}, "Seconds since the sidecar started."},
    MetricDef{ready, "shmlog_ready", gauge, {}, "1 while /readyz answers 200: the rings are being drained."},
    MetricDef{
        degraded, "shmlog_degraded", gauge, {}, "1 while an output fails; its records wait in the rings."},
    MetricDef{records_written,
              "shmlog_records_written_total",
              counter,
              {"service", "level"},
              "Records written to the service's file."},
    MetricDef{records_dropped,
              "shmlog_records_dropped_total",
              counter,
              {"service", "level"},
              "Records the apps dropped because their ring was full, summed over the service's rings."},
    MetricDef{records_sampled_out,
              "shmlog_records_sampled_out_total",
              counter,
              {"service", "level"},
              "Records let go by --sample."},
    MetricDef{records_rate_limited,
              "shmlog_records_rate_limited_total",
              counter,
              {"service", "level"},
              "Records let go by --rate-limit."},
    MetricDef{rings_open, "shmlog_rings_open", gauge, {}, "Ring files being drained."},
    MetricDef{ring_fill_ratio,
              "shmlog_ring_fill_ratio",
              gauge,
              {"ring", "service"},
              "Share of the ring's record space written and not yet drained, 0 to 1."},
    MetricDef{ring_used_bytes,
              "shmlog_ring_used_bytes",
              gauge,
              {"ring", "service"},
              "Bytes of the ring written and not yet drained."},
    MetricDef{ring_capacity_bytes,
              "shmlog_ring_capacity_bytes",
              gauge,
              {"ring", "service"},
              "Record space of all the ring's lanes."},
    MetricDef{ring_lanes_in_use,
              "shmlog_ring_lanes_in_use",
              gauge,
              {"ring", "service"},
              "Lanes of the ring owned by a live writer thread."},
    MetricDef{ring_records,
              "shmlog_ring_records_total",
              counter,
              {"ring", "service"},
              "Records this sidecar took from the ring."},
    MetricDef{output_bytes,
              "shmlog_output_bytes_total",
              counter,
              {"service"},
              "Bytes written to the service's file."},
    MetricDef{output_lines,
              "shmlog_output_lines_total",
              counter,
              {"service"},
              "Lines written to the service's file."},
    MetricDef{output_rotations,
              "shmlog_output_rotations_total",
              counter,
              {"service"},
              "Rotations of the service's file."},
    MetricDef{output_write_errors,
              "shmlog_output_write_errors_total",
              counter,
              {"service"},
              "Appends, reopens and syncs of the service's file that failed."},
    MetricDef{output_file_size,
              "shmlog_output_file_size_bytes",
              gauge,
              {"service"},
              "Size of the service's live file."},
    MetricDef{output_failing,
              "shmlog_output_failing",
              gauge,
              {"service"},
              "1 while writes to the service's file fail."},
    MetricDef{loki_entries_sent, "shmlog_loki_entries_sent_total", counter, {}, "Log entries Loki accepted."},
    MetricDef{loki_entries_rejected,
              "shmlog_loki_entries_rejected_total",
              counter,
              {},
              "Log entries Loki refused on their own (4xx) and that were given up."},
    MetricDef{loki_requests,
              "shmlog_loki_requests_total",
              counter,
              {"status"},
              "Push requests by the class of their HTTP status (none: no answer)."},
    MetricDef{loki_retries,
              "shmlog_loki_retries_total",
              counter,
              {},
              "Push requests sent again after a retriable failure."},
    MetricDef{loki_wire_bytes,
              "shmlog_loki_wire_bytes_total",
              counter,
              {},
              "Compressed push bodies sent, retries included."},
    MetricDef{loki_pending_bytes,
              "shmlog_loki_pending_bytes",
              gauge,
              {},
              "Bytes in the files not yet shipped to Loki."},
    MetricDef{loki_lag,
              "shmlog_loki_lag_seconds",
              gauge,
              {},
              "Age of the newest entry Loki has, while lines wait to be shipped."},
    MetricDef{loki_lost_bytes,
              "shmlog_loki_lost_bytes_total",
              counter,
              {},
              "Bytes deleted from the files before they were shipped."},
    MetricDef{loki_lost_files,
              "shmlog_loki_lost_files_total",
              counter,
              {},
              "Files deleted before they were completely shipped."},
    MetricDef{loki_truncated_lines,
              "shmlog_loki_truncated_lines_total",
              counter,
              {},
              "Lines cut to Loki's line size limit."},
    MetricDef{loki_unparsable_lines,
              "shmlog_loki_unparsable_lines_total",
              counter,
              {},
              "Lines that were not valid JSON records, shipped as they were."},
    MetricDef{loki_push_duration,
              "shmlog_loki_push_duration_seconds",
              histogram,
              {},
              "Duration of push requests, answered or not."},
    MetricDef{loki_last_push,
              "shmlog_loki_last_push_timestamp_seconds",
              gauge,
              {},
              "When Loki last accepted a push, in Unix seconds; 0: not yet."},
};
}  // namespace metric_table

inline constexpr const auto& kMetrics = metric_table::kTable;

constexpr const MetricDef& metric(MetricId id) {
  return kMetrics[static_cast<std::size_t>(id)];
}

static_assert([] {
  for (std::size_t i = 0; i < kMetrics.size(); ++i)
    if (static_cast<std::size_t>(kMetrics[i].id) != i) return false;
  return static_cast<std::size_t>(MetricId::loki_last_push) + 1 == kMetrics.size();
}());

}  // namespace shmlog::sidecar
