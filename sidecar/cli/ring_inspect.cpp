#include "cli/ring_inspect.hpp"

#include "cli/command.hpp"
#include "cli/display.hpp"
#include "cli/json_fields.hpp"
#include "cli/ring_paths.hpp"

#include <shmlog/json_line.hpp>
#include <shmlog/reader.hpp>

#include <array>
#include <cstdio>
#include <limits>
#include <memory>

#include <fmt/format.h>
#include <unistd.h>

namespace shmlog::cli {
namespace {

// Everything inspect shows about one ring, read once so both renderings agree.
struct RingReport {
  RingInfo info;
  bool writer_alive = false;
  std::uint32_t writer_state = 0;  // raw: a hostile file may hold any value
  Level min_level = Level::info;
  std::size_t sites_registered = 0;
  std::uint64_t sites_dropped = 0;
  std::string registry_error;
  std::vector<LaneState> lanes;
  // Totals over the lanes.
  std::uint64_t used_bytes = 0;
  std::array<std::uint64_t, kLevelCount> dropped{};
  std::uint64_t blocked = 0;

  std::uint64_t capacity_bytes() const { return std::uint64_t{info.lane_count} * info.lane_bytes; }
  std::uint64_t dropped_total() const {
    std::uint64_t n = 0;
    for (auto d : dropped) n += d;
    return n;
  }
};

RingReport read_report(RingReader& reader) {
  RingReport r;
  r.info = reader.info();
  r.writer_alive = reader.writer_alive();
  r.writer_state = static_cast<std::uint32_t>(reader.writer_state());
  r.min_level = reader.min_level();
  r.sites_registered = reader.load_sites();
  r.sites_dropped = reader.sites_dropped();
  r.registry_error = reader.registry_error();
  for (std::uint32_t lane = 0; lane < r.info.lane_count; ++lane) {
    const LaneState s = reader.lane_state(lane);
    r.used_bytes += s.used_bytes();
    for (std::size_t level = 0; level < s.dropped.size(); ++level) r.dropped[level] += s.dropped[level];
    r.blocked += s.blocked;
    r.lanes.push_back(s);
  }
  return r;
}

std::string state_name(std::uint32_t state) {
  switch (static_cast<ring::WriterState>(state)) {
    case ring::WriterState::live:
      return "live";
    case ring::WriterState::closed:
      return "closed";
  }
  return fmt::format("unknown ({})", state);
}

std::string_view clock_name(ring::ClockSource source) {
  return source == ring::ClockSource::tsc ? "tsc" : "realtime";
}

// "free", "shared" or "tid 1234".
std::string owner_text(std::uint32_t owner_tid) {
  if (owner_tid == 0) return "free";
  if (owner_tid == ring::kSharedLaneOwner) return "shared";
  return fmt::format("tid {}", owner_tid);
}

// ---- human output ----

std::string writer_text(const RingReport& r) {
  const bool live = r.writer_state == static_cast<std::uint32_t>(ring::WriterState::live);
  std::string text = fmt::format("pid {}, {}, state {}", r.info.writer_pid,
                                 r.writer_alive ? "running" : "not running", state_name(r.writer_state));
  if (live && !r.writer_alive) text += " (it ended without shutting down: crashed, killed or _exit)";
  return text;
}

std::string render_human(const RingReport& r) {
  const RingInfo& info = r.info;
  Table facts({{"key"}, {"value"}}, false);
  facts.add_row({"service", printable(info.service)});
  const std::pair<const char*, const std::string*> identity[] = {{"pod", &info.pod},
                                                                 {"namespace", &info.pod_namespace},
                                                                 {"container", &info.container},
                                                                 {"host", &info.host}};
  for (const auto& [key, value] : identity)
    if (!value->empty()) facts.add_row({key, printable(*value)});
  facts.add_row({"writer", writer_text(r)});
  facts.add_row({"layout", fmt::format("version {}, {} lanes x {}, file {} ({} bytes)", info.layout_version,
                                       info.lane_count, human_bytes(info.lane_bytes),
                                       human_bytes(info.file_bytes), info.file_bytes)});
  std::string clock(clock_name(info.clock_source));
  if (info.clock_source == ring::ClockSource::tsc)
    clock += fmt::format(", {:.3f} GHz ({} Hz)", static_cast<double>(info.tsc_hz) / 1e9, info.tsc_hz);
  facts.add_row({"clock", clock});
  facts.add_row({"started", iso8601_utc(info.start_ns)});
  facts.add_row({"min level", std::string(level_name(r.min_level))});
  std::string sites = fmt::format("{} registered, {} dropped", r.sites_registered, r.sites_dropped);
  if (!r.registry_error.empty())
    sites += "; registry unreadable past an entry: " + printable(r.registry_error);
  facts.add_row({"call sites", sites});
  facts.add_row({"fill", fmt::format("{} ({} of {})", fill_text(r.used_bytes, r.capacity_bytes()),
                                     human_bytes(r.used_bytes), human_bytes(r.capacity_bytes()))});
  facts.add_row({"dropped", fmt::format("{} records, {} waited for space (block policy)", r.dropped_total(),
                                        r.blocked)});

  using A = Table::Align;
  std::vector<Table::Column> columns = {
      {"lane", A::right},     {"owner"},          {"claims", A::right}, {"write_pos", A::right},
      {"read_pos", A::right}, {"used", A::right}, {"fill", A::right},   {"blocked", A::right}};
  for (int level = 0; level < kLevelCount; ++level)
    columns.push_back({std::string(level_name(static_cast<Level>(level))), A::right});
  Table lanes(std::move(columns));
  auto drop_cells = [](std::vector<std::string>& row, const std::array<std::uint64_t, kLevelCount>& dropped) {
    for (auto d : dropped) row.push_back(std::to_string(d));
  };
  for (std::uint32_t i = 0; i < r.lanes.size(); ++i) {
    const LaneState& s = r.lanes[i];
    std::vector<std::string> row = {std::to_string(i),
                                    owner_text(s.owner_tid),
                                    std::to_string(s.claim_count),
                                    std::to_string(s.write_pos),
                                    std::to_string(s.read_pos),
                                    std::to_string(s.used_bytes()),
                                    fill_text(s.used_bytes(), info.lane_bytes),
                                    std::to_string(s.blocked)};
    drop_cells(row, s.dropped);
    lanes.add_row(std::move(row));
  }
  std::vector<std::string> total = {"all",
                                    "",
                                    "",
                                    "",
                                    "",
                                    std::to_string(r.used_bytes),
                                    fill_text(r.used_bytes, r.capacity_bytes()),
                                    std::to_string(r.blocked)};
  drop_cells(total, r.dropped);
  lanes.add_row(std::move(total));

  return printable(info.path) + "\n" + facts.render("  ") +
         "\n  lanes (TRACE..CRITICAL: records dropped at that level)\n" + lanes.render("  ");
}

// ---- JSON output ----

void write_json(JsonWriter& w, const RingReport& r) {
  const RingInfo& info = r.info;
  w.StartObject();
  put_field(w, "file", info.path);
  put_field(w, "service", info.service);
  put_identity(w, info);

  w.Key("writer");
  w.StartObject();
  w.Key("pid");
  w.Int(info.writer_pid);
  w.Key("alive");
  w.Bool(r.writer_alive);
  put_field(w, "state", state_name(r.writer_state));
  w.EndObject();

  w.Key("layout_version");
  w.Uint(info.layout_version);
  w.Key("lane_count");
  w.Uint(info.lane_count);
  w.Key("lane_bytes");
  w.Uint64(info.lane_bytes);
  w.Key("sites_bytes");
  w.Uint64(info.sites_bytes);
  w.Key("file_bytes");
  w.Uint64(info.file_bytes);
  w.Key("clock");
  w.StartObject();
  put_field(w, "source", clock_name(info.clock_source));
  w.Key("tsc_hz");
  w.Uint64(info.tsc_hz);
  w.EndObject();
  put_field(w, "start_time", iso8601_utc(info.start_ns));
  w.Key("start_ns");
  w.Uint64(info.start_ns);
  put_field(w, "min_level", level_name(r.min_level));

  w.Key("sites");
  w.StartObject();
  w.Key("registered");
  w.Uint64(r.sites_registered);
  w.Key("dropped");
  w.Uint64(r.sites_dropped);
  if (!r.registry_error.empty()) put_field(w, "error", r.registry_error);
  w.EndObject();

  w.Key("lanes");
  w.StartArray();
  for (std::uint32_t i = 0; i < r.lanes.size(); ++i) {
    const LaneState& s = r.lanes[i];
    w.StartObject();
    w.Key("lane");
    w.Uint(i);
    if (s.owner_tid == 0 || s.owner_tid == ring::kSharedLaneOwner) {
      put_field(w, "owner", owner_text(s.owner_tid));
    } else {
      put_field(w, "owner", "thread");
      w.Key("tid");
      w.Uint(s.owner_tid);
    }
    w.Key("claims");
    w.Uint(s.claim_count);
    w.Key("write_pos");
    w.Uint64(s.write_pos);
    w.Key("read_pos");
    w.Uint64(s.read_pos);
    w.Key("used_bytes");
    w.Uint64(s.used_bytes());
    w.Key("fill_percent");
    w.Double(fill_percent(s.used_bytes(), info.lane_bytes));
    put_dropped(w, s.dropped);
    w.Key("blocked");
    w.Uint64(s.blocked);
    w.EndObject();
  }
  w.EndArray();

  w.Key("totals");
  w.StartObject();
  w.Key("capacity_bytes");
  w.Uint64(r.capacity_bytes());
  w.Key("used_bytes");
  w.Uint64(r.used_bytes);
  w.Key("fill_percent");
  w.Double(fill_percent(r.used_bytes, r.capacity_bytes()));
  put_dropped(w, r.dropped);
  w.Key("dropped_total");
  w.Uint64(r.dropped_total());
  w.Key("blocked");
  w.Uint64(r.blocked);
  w.EndObject();
  w.EndObject();
}

}  // namespace

int run_inspect(const InspectOptions& options) {
  auto sources = resolve_sources(options.paths);
  if (!sources) {
    print_problem(sources.error().message);
    return kExitUsage;
  }
  std::vector<Error> errors;
  const std::vector<RingFile> files = ring_files(sources.value(), errors);
  std::vector<RingReport> reports;
  for (const RingFile& file : files) {
    auto reader = RingReader::open(file.path, OpenMode::observer);
    if (!reader) {
      if (file.listed && ::access(file.path.c_str(), F_OK) != 0) continue;  // drained and removed meanwhile
      errors.push_back(reader.error());
      continue;
    }
    reports.push_back(read_report(*reader.value()));
  }
  for (const Error& e : errors) print_problem(e.message);

  std::string out;
  if (options.json) {
    rapidjson::StringBuffer sb;
    JsonWriter w(sb);
    w.SetIndent(' ', 2);
    w.StartObject();
    w.Key("rings");
    w.StartArray();
    for (const RingReport& r : reports) write_json(w, r);
    w.EndArray();
    w.Key("errors");
    w.StartArray();
    for (const Error& e : errors) put_string(w, e.message);
    w.EndArray();
    w.EndObject();
    out.assign(sb.GetString(), sb.GetSize());
    out += '\n';
  } else {
    for (const RingReport& r : reports) out += (out.empty() ? "" : "\n") + render_human(r);
    if (reports.empty() && errors.empty()) print_problem("no ring files found");
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return errors.empty() ? kExitOk : kExitFailed;
}

}  // namespace shmlog::cli
