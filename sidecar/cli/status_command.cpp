#include "cli/status_command.hpp"

#include "cli/display.hpp"
#include "cli/duration_option.hpp"
#include "cli/json_fields.hpp"
#include "cli/ring_paths.hpp"
#include "cli/status_remote.hpp"
#include "settings/sidecar_settings.hpp"

#include <shmlog/config.hpp>
#include <shmlog/json_line.hpp>
#include <shmlog/reader.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include <fmt/format.h>
#include <unistd.h>

namespace shmlog::cli {
namespace {

constexpr const char* kDirEnv = "SHMLOG_DIR";

// What status shows of one ring file, read once so the table and the JSON agree.
struct RingStatus {
  std::string path;
  std::string error;  // not empty: the file could not be read, and nothing below is set
  RingInfo info;
  bool writer_alive = false;
  std::uint32_t writer_state = 0;  // raw: a hostile file may hold any value
  std::uint32_t lanes_in_use = 0;  // lanes with an owner (the shared lane always has one)
  std::uint64_t used_bytes = 0;
  std::array<std::uint64_t, kLevelCount> dropped{};
  RingCounters counters;

  std::uint64_t capacity_bytes() const { return std::uint64_t{info.lane_count} * info.lane_bytes; }
  std::uint64_t dropped_total() const {
    std::uint64_t n = 0;
    for (auto d : dropped) n += d;
    return n;
  }
  // "closed" wins over the liveness lock: a writer that called shutdown() still holds the file
  // open, but will append nothing more.
  std::string_view writer_status() const {
    if (writer_state == static_cast<std::uint32_t>(ring::WriterState::closed)) return "closed";
    return writer_alive ? "alive" : "dead";
  }
};

RingStatus read_status(const std::string& path, RingReader& reader) {
  RingStatus s;
  s.path = path;
  s.info = reader.info();
  s.writer_alive = reader.writer_alive();
  s.writer_state = static_cast<std::uint32_t>(reader.writer_state());
  s.counters = reader.counters();
  for (std::uint32_t lane = 0; lane < s.info.lane_count; ++lane) {
    const LaneState l = reader.lane_state(lane);
    if (l.owner_tid != 0) ++s.lanes_in_use;
    s.used_bytes += l.used_bytes();
    for (std::size_t level = 0; level < l.dropped.size(); ++level) s.dropped[level] += l.dropped[level];
  }
  return s;
}

// The reader's messages start with the path; the row already names the file.
std::string reason(const std::string& path, const std::string& message) {
  const std::string prefix = path + ": ";
  return message.starts_with(prefix) ? message.substr(prefix.size()) : message;
}

std::string file_name(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The sidecar's heartbeat, as of `now_ns`.
struct Drainer {
  enum class State { active, stale, none } state = State::none;
  double age_s = 0;  // negative: the heartbeat is ahead of our clock
};

Drainer drainer_of(const RingStatus& s, std::uint64_t now_ns, std::chrono::milliseconds stale_after) {
  const std::uint64_t beat = s.counters.consumer_heartbeat_ns;
  if (beat == 0) return {};
  const double age = (static_cast<double>(now_ns) - static_cast<double>(beat)) / 1e9;
  const double limit = std::chrono::duration<double>(stale_after).count();
  if (std::abs(age) > limit) return {Drainer::State::stale, age};
  return {Drainer::State::active, std::max(age, 0.0)};  // a beat a moment "ahead" is a race, not skew
}

std::string_view drainer_state_name(Drainer::State state) {
  switch (state) {
    case Drainer::State::active:
      return "active";
    case Drainer::State::stale:
      return "stale";
    case Drainer::State::none:
      break;
  }
  return "none";
}

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// Totals for the last line and the JSON "summary".
struct Summary {
  std::size_t rings = 0;
  std::size_t unreadable = 0;
  std::size_t writers_alive = 0;
  std::size_t undrained = 0;  // readable rings without an active drainer
  std::uint64_t dropped = 0;
};

Summary summarize(const std::vector<RingStatus>& rings, std::uint64_t now,
                  std::chrono::milliseconds stale_after) {
  Summary sum;
  sum.rings = rings.size();
  for (const RingStatus& s : rings) {
    if (!s.error.empty()) {
      ++sum.unreadable;
      continue;
    }
    if (s.writer_status() == "alive") ++sum.writers_alive;
    if (drainer_of(s, now, stale_after).state != Drainer::State::active) ++sum.undrained;
    sum.dropped += s.dropped_total();
  }
  return sum;
}

// ---- the table ----

std::string drainer_text(const RingStatus& s, const Drainer& d) {
  const std::int32_t pid = s.counters.consumer_pid;
  switch (d.state) {
    case Drainer::State::active:
      return fmt::format("drained by pid {}, {} ago", pid, human_duration(d.age_s));
    case Drainer::State::stale:
      if (d.age_s < 0)
        return fmt::format("stale: pid {}'s heartbeat is {} ahead", pid, human_duration(-d.age_s));
      return fmt::format("stale: pid {} last seen {} ago", pid, human_duration(d.age_s));
    case Drainer::State::none:
      break;
  }
  return "no sidecar seen";
}

std::string plural(std::size_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

std::string render_table(const std::string& dir, const std::vector<RingStatus>& rings, std::uint64_t now,
                         std::chrono::milliseconds stale_after) {
  using A = Table::Align;
  Table table({{"RING"},
               {"SERVICE"},
               {"WRITER"},
               {"LANES", A::right},
               {"FILL", A::right},
               {"WAITING", A::right},
               {"DROPS", A::right},
               {"DRAINER"}});
  for (const RingStatus& s : rings) {
    const std::string name = printable(file_name(s.path));
    if (!s.error.empty()) {
      table.add_spanning_row(name, "unreadable: " + printable(s.error));
      continue;
    }
    table.add_row({name, s.info.service.empty() ? "-" : printable(s.info.service),
                   fmt::format("pid {} {}", s.info.writer_pid, s.writer_status()),
                   fmt::format("{}/{}", s.lanes_in_use, s.info.lane_count),
                   fill_text(s.used_bytes, s.capacity_bytes()), human_bytes(s.used_bytes),
                   std::to_string(s.dropped_total()), drainer_text(s, drainer_of(s, now, stale_after))});
  }
  const Summary sum = summarize(rings, now, stale_after);
  std::string last = plural(sum.rings, "ring", "rings") + " in " + printable(dir);
  if (sum.unreadable > 0) last += fmt::format(" ({} unreadable)", sum.unreadable);
  last += ", " + plural(sum.writers_alive, "writer", "writers") + " alive";
  if (sum.undrained > 0) last += fmt::format(", {} without an active sidecar", sum.undrained);
  last += ", " + plural(sum.dropped, "record", "records") + " dropped\n";
  return table.render() + last;
}

// ---- JSON ----

void put_uint(JsonWriter& w, const char* key, std::uint64_t value) {
  w.Key(key);
  w.Uint64(value);
}

void write_ring(JsonWriter& w, const RingStatus& s, std::uint64_t now,
                std::chrono::milliseconds stale_after) {
  w.StartObject();
  put_field(w, "file", s.path);
  put_field(w, "name", file_name(s.path));
  if (!s.error.empty()) {
    put_field(w, "error", s.error);
    w.EndObject();
    return;
  }
  const RingInfo& info = s.info;
  put_field(w, "service", info.service);
  put_identity(w, info);
  w.Key("writer_pid");
  w.Int(info.writer_pid);
  w.Key("writer_alive");
  w.Bool(s.writer_alive);
  put_field(w, "writer_status", s.writer_status());
  put_uint(w, "lanes", info.lane_count);
  put_uint(w, "lanes_in_use", s.lanes_in_use);
  put_uint(w, "capacity_bytes", s.capacity_bytes());
  put_uint(w, "used_bytes", s.used_bytes);
  w.Key("fill_percent");
  w.Double(fill_percent(s.used_bytes, s.capacity_bytes()));
  put_dropped(w, s.dropped);
  put_uint(w, "dropped_total", s.dropped_total());

  const Drainer d = drainer_of(s, now, stale_after);
  w.Key("drainer");
  w.StartObject();
  put_field(w, "state", drainer_state_name(d.state));
  w.Key("pid");
  w.Int(s.counters.consumer_pid);
  put_uint(w, "heartbeat_ns", s.counters.consumer_heartbeat_ns);
  w.Key("heartbeat_age_s");
  if (d.state == Drainer::State::none)
    w.Null();
  else
    w.Double(d.age_s);
  w.EndObject();
  w.EndObject();
}

std::string render_json(const std::string& dir, const std::vector<RingStatus>& rings, std::uint64_t now,
                        std::chrono::milliseconds stale_after) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.SetIndent(' ', 2);
  w.StartObject();
  put_field(w, "dir", dir);
  w.Key("rings");
  w.StartArray();
  for (const RingStatus& s : rings) write_ring(w, s, now, stale_after);
  w.EndArray();
  const Summary sum = summarize(rings, now, stale_after);
  w.Key("summary");
  w.StartObject();
  put_uint(w, "rings", sum.rings);
  put_uint(w, "unreadable", sum.unreadable);
  put_uint(w, "writers_alive", sum.writers_alive);
  put_uint(w, "without_active_drainer", sum.undrained);
  put_uint(w, "dropped_total", sum.dropped);
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + '\n';
}

// Where DIR came from, for the message when it cannot be read.
std::string dir_origin(const StatusOptions& options) {
  if (!options.dir.empty()) return "";
  if (const char* env = std::getenv(kDirEnv); env != nullptr && *env != '\0')
    return fmt::format(" (from {})", kDirEnv);
  return fmt::format(" (the default; give --dir or set {})", kDirEnv);
}

}  // namespace

int run_status(const StatusOptions& options) {
  std::string dir = options.dir;
  if (dir.empty()) {
    const char* env = std::getenv(kDirEnv);
    dir = env != nullptr && *env != '\0' ? env : sidecar::SidecarSettings{}.dir;
  }
  auto sources = resolve_sources({dir});
  if (!sources) {
    print_problem(sources.error().message + dir_origin(options));
    return kExitUsage;
  }
  std::vector<Error> list_errors;
  const std::vector<RingFile> files = ring_files(sources.value(), list_errors);
  if (!list_errors.empty()) {
    print_problem(list_errors.front().message + dir_origin(options));
    return kExitUsage;
  }
  dir = sources->front().path;  // without trailing slashes, as the ring paths are

  std::vector<RingStatus> rings;
  for (const RingFile& file : files) {
    auto reader = RingReader::open(file.path, OpenMode::observer);
    if (reader) {
      rings.push_back(read_status(file.path, *reader.value()));
      continue;
    }
    if (file.listed && ::access(file.path.c_str(), F_OK) != 0) continue;  // drained and removed meanwhile
    RingStatus bad;
    bad.path = file.path;
    bad.error = reason(file.path, reader.error().message);
    rings.push_back(std::move(bad));
  }

  const std::uint64_t now = now_ns();
  std::string out;
  if (options.json)
    out = render_json(dir, rings, now, options.stale_after);
  else if (rings.empty())
    out = "no ring files in " + printable(dir) + "\n";
  else
    out = render_table(dir, rings, now, options.stale_after);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

void add_status_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<StatusOptions>();
  CLI::App* cmd = app.add_subcommand(
      "status", "Every ring at a glance: its writer, lanes, fill, drops and whether a sidecar drains it");
  cmd->add_option("--dir", options->dir,
                  fmt::format("The ring directory, or one ring file (default: ${}, else {})", kDirEnv,
                              sidecar::SidecarSettings{}.dir))
      ->type_name("DIR");
  cmd->add_option("--url", options->url,
                  "Read a running sidecar over HTTP instead (its --http-addr, e.g. http://127.0.0.1:9880)")
      ->type_name("URL");
  cmd->add_flag("--json", options->json,
                "Print one JSON document {\"dir\": ..., \"rings\": [...], \"summary\": {...}}");
  add_duration_option(
      *cmd, "--stale-after", options->stale_after,
      "A sidecar heartbeat older than this is stale (default 10s; e.g. 30s, 2m; a bare number is ms)");
  cmd->footer(
      "Reads the rings without changing them. A ring that cannot be read gets a row saying why.\n"
      "Exit status: 0 the directory was read (even if some rings were not), 2 it does not exist\n"
      "or cannot be listed.\n");
  cmd->callback([&action, options] {
    action = [options] {
      return options->url.empty() ? run_status(*options) : run_remote_status(options->url, options->json);
    };
  });
}

}  // namespace shmlog::cli
