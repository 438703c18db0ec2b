#include "drain/drainer.hpp"

#include "control/level_overrides.hpp"
#include "drain/drop_notice.hpp"
#include "drain/resume.hpp"
#include "drain/wake.hpp"
#include "drain/wall_clock.hpp"
#include "http/tail_hub.hpp"
#include "sinks/file/rotating_file.hpp"
#include "transforms/admission.hpp"

#include <shmlog/json_line.hpp>
#include <shmlog/reader.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

namespace shmlog::sidecar {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::size_t kBatchRecords = 4096;
// A service's lines are written once they pass the piece size: 1 MiB, or a quarter of the
// rotation size when that is smaller, so a piece never has to go alone into a file bigger than
// --rotate-bytes. A lane batch holds at most a quarter of a piece in record bytes (a formatted
// line is two to four times its record). The resume window below must hold the largest piece
// that can be in flight: a piece plus one batch formatted, a few MiB at most.
constexpr std::size_t kMaxPieceBytes = 1 << 20;
// The resume window must hold the largest piece that can be in flight: the piece size plus the
// line that passed it (a message of up to --max-message-bytes, six bytes per escaped byte).
std::size_t resume_window(std::size_t piece_bytes, std::size_t max_message_bytes) {
  return std::max<std::size_t>(8 << 20, 2 * piece_bytes + 8 * max_message_bytes + (1 << 20));
}
constexpr auto kIdleWait = 50ms;  // longest sleep: rescans, signals and new rings are seen by then
constexpr auto kDropCheck = 250ms;
constexpr auto kHeartbeat = 1s;
constexpr auto kPublishEvery = 250ms;  // the snapshot behind /status and /metrics
constexpr auto kAppsGoneFor = 2000ms;  // --exit-with-apps; the setting's help says 2 s

void fill_from_environment(std::string& field, const char* variable) {
  if (!field.empty()) return;
  if (const char* v = std::getenv(variable)) field.assign(v, std::min<std::size_t>(std::strlen(v), 63));
}

void say(const std::string& text) {
  std::fprintf(stderr, "shmlog sidecar: %s\n", text.c_str());
}

struct Output;

struct Lane {
  Batch batch;
  bool broken = false;
};

struct Ring {
  std::string path;
  std::unique_ptr<RingReader> reader;
  RingInfo info;  // service filled in with the fallback
  std::vector<Lane> lanes;
  LineCache lines;         // formatted origin fields of its call sites
  bool dead_seen = false;  // the writer was gone before the last round began
  bool remove = false;
  std::string stem;          // its output's file stem
  Output* output = nullptr;  // outputs are never erased, so the pointer stays valid
  Clock::time_point next_drop_check{};
  Clock::time_point next_heartbeat{};
  // For the snapshot: records taken, the newest one's time, the level the app started with
  // (restored when an override is cleared).
  std::uint64_t records = 0;
  std::uint64_t records_published = 0;
  std::uint64_t newest_ns = 0;
  std::uint32_t lanes_set_aside = 0;
  Level own_level = Level::trace;
};

struct Output {
  explicit Output(const AdmissionSettings& a) : admission(a) {}
  std::optional<RotatingFile> file;
  Admission admission;
  std::optional<RingInfo> identity;  // of one of its rings, for the sidecar's own lines
  Clock::time_point next_thinning_report{};
  std::string buffer;
  std::uint64_t buffer_lines = 0;                        // lines in buffer, so the sink need not count them
  std::vector<std::pair<Ring*, std::uint32_t>> pending;  // batches whose lines are in buffer
  std::vector<std::pair<Ring*, std::uint32_t>> pending_drops;
  std::vector<std::array<std::uint64_t, kLevelCount>> pending_drop_counts;
  std::unique_ptr<ResumeIndex> resume;
  bool failing = false;
  Clock::time_point failing_since{};
  LevelCounts records{};  // lines written for records, by level (for /metrics)
  Clock::time_point retry_at{};
  std::chrono::milliseconds backoff{100};
};

}  // namespace

struct Drainer::Impl {
  SidecarSettings settings;
  LevelOverrides* levels = nullptr;
  TailHub* tail = nullptr;
  std::uint64_t levels_applied = 0;  // the generation written into the rings
  mutable std::mutex published_mu;
  DrainSnapshot published;  // under published_mu
  Clock::time_point next_publish{}, last_publish{};
  bool draining = false;
  JsonOptions json;
  DrainStats stats;
  std::vector<std::unique_ptr<Ring>> rings;
  std::map<std::string, Output> outputs;  // by file stem
  // Rings that could not be opened (bad, foreign, locked by another sidecar, out of file
  // descriptors...): tried again at every rescan, but said once; forgotten when they are gone.
  std::set<std::string> skipped;
  std::set<std::string> drained_kept;  // drained to the end but not deletable: not opened again
  bool resuming = false;               // rings found at start, until resume() has dealt with them
  int inotify_fd = -1;
  std::atomic<std::uint32_t> own_word{0};  // bumped by signals: wakes the sleep
  std::atomic<bool> stop_requested{false};
  std::atomic<bool> reopen_requested{false};
  Clock::time_point next_rescan{};
  std::string line;  // scratch
  std::size_t piece_bytes = kMaxPieceBytes;

  Impl(SidecarSettings s, LevelOverrides* l, TailHub* t) : settings(std::move(s)), levels(l), tail(t) {
    piece_bytes = static_cast<std::size_t>(
        std::clamp<std::uint64_t>(settings.file.max_bytes / 4, 4096, kMaxPieceBytes));
    json.max_message_bytes = settings.max_message_bytes;
    for (const auto& k : settings.redact_keys) json.redact_keys.push_back(k);
  }

  // ---- rings ----

  void watch_directory() {
    if (inotify_fd < 0) inotify_fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_fd >= 0)
      (void)::inotify_add_watch(inotify_fd, settings.dir.c_str(), IN_MOVED_TO | IN_CREATE | IN_ONLYDIR);
  }

  bool directory_changed() {
    if (inotify_fd < 0) return false;
    alignas(inotify_event) char buf[4096];
    bool changed = false;
    while (::read(inotify_fd, buf, sizeof buf) > 0) changed = true;
    return changed;
  }

  void rescan(bool at_start) {
    auto paths = list_rings(settings.dir);
    if (!paths) return;  // not there yet: the next rescan looks again
    std::set<std::string> listed(paths->begin(), paths->end());
    std::erase_if(skipped, [&](const std::string& p) { return !listed.contains(p); });
    std::erase_if(drained_kept, [&](const std::string& p) { return !listed.contains(p); });
    for (const auto& path : *paths) {
      bool open = drained_kept.contains(path);
      for (const auto& r : rings) open = open || r->path == path;
      if (!open) open_ring(path, at_start);
    }
  }

  void skip(const std::string& path, const std::string& why) {
    if (skipped.insert(path).second) say("skipping " + path + ": " + why + " (trying again at each rescan)");
  }

  void open_ring(const std::string& path, bool at_start) {
    auto reader = RingReader::open(path, OpenMode::consumer);
    if (!reader) {
      skip(path, reader.error().message);
      return;
    }
    if (!reader.value()->try_lock_consumer()) {
      skip(path, "another sidecar drains it");
      return;
    }
    auto ring = std::make_unique<Ring>();
    ring->path = path;
    ring->info = reader.value()->info();
    if (ring->info.service.empty()) ring->info.service = settings.service_fallback;
    // The sidecar runs in the same pod: the downward API's variables it was given stand in for
    // an app that was not given them (the container name is the app's own, so it is not).
    fill_from_environment(ring->info.pod, "POD_NAME");
    fill_from_environment(ring->info.pod_namespace, "POD_NAMESPACE");
    fill_from_environment(ring->info.host, "NODE_NAME");
    ring->lanes.resize(ring->info.lane_count);
    resuming = resuming || at_start;
    ring->reader = std::move(reader.value());
    ring->own_level = ring->reader->min_level();
    if (levels != nullptr) ring->own_level = levels->own_level(path).value_or(ring->own_level);
    apply_level(*ring);
    rings.push_back(std::move(ring));
    ++stats.rings_opened;
  }

  // ---- outputs ----

  Output& output_for(Ring& ring) {
    if (ring.output != nullptr) return *ring.output;
    const std::string stem = ring.stem = safe_file_stem(ring.info.service);
    auto [it, fresh] = outputs.try_emplace(stem, settings.admission);
    Output& out = it->second;
    if (fresh) {
      std::error_code ec;
      std::filesystem::create_directories(settings.out, ec);
      // A torn last line (a killed write) goes before the first new line, resuming or not; the
      // index of the tail is built only when rings found at start need it.
      const std::string path = settings.out + "/" + stem + ".log";
      const std::size_t window = resume_window(piece_bytes, settings.max_message_bytes);
      if (resuming) {
        auto index = ResumeIndex::load(path, window);
        if (index)
          out.resume = std::move(index.value());
        else
          say(index.error().message);
      } else if (auto cut = ResumeIndex::cut_torn_tail(path, window); !cut) {
        say(cut.error().message);
      }
      open_output(out, stem);
    }
    ring.output = &out;
    if (!out.identity) out.identity = ring.info;
    return out;
  }

  void open_output(Output& out, const std::string& stem) {
    FileSinkOptions o = settings.file;
    o.dir = settings.out;
    auto file = RotatingFile::open(o, stem);
    if (file) {
      out.file.emplace(std::move(file.value()));
      return;
    }
    fail(out, file.error().message);
  }

  void fail(Output& out, const std::string& why) {
    if (!out.failing) say(why + "; the records wait in the rings, retrying");
    if (!out.failing) out.failing_since = Clock::now();
    out.failing = true;
    out.retry_at = Clock::now() + out.backoff;
    out.backoff = std::min<std::chrono::milliseconds>(out.backoff * 2, 5s);
    ++stats.write_failures;
  }

  bool usable(Output& out, const std::string& stem) {
    if (!out.failing) return true;
    if (Clock::now() < out.retry_at) return false;
    if (!out.file) open_output(out, stem);
    return out.file.has_value();
  }

  // Writes the buffered lines, then takes the batches they came from.
  void flush(Output& out) {
    if (out.buffer.empty() && out.pending.empty() && out.pending_drops.empty()) return;
    if (!out.buffer.empty()) {
      auto st = out.file ? out.file->append(out.buffer, out.buffer_lines) : Status(Error{"no file"});
      out.buffer.clear();
      out.buffer_lines = 0;
      if (!st) {
        // Nothing is taken: the next rounds read the same records again from the cursors.
        out.pending.clear();
        out.pending_drops.clear();
        out.pending_drop_counts.clear();
        fail(out, st.error().message);
        return;
      }
    }
    if (out.failing) say("writing works again");
    out.failing = false;
    out.backoff = 100ms;
    for (auto [ring, lane] : out.pending) (void)ring->reader->commit(ring->lanes[lane].batch);
    for (std::size_t i = 0; i < out.pending_drops.size(); ++i)
      (void)out.pending_drops[i].first->reader->set_drops_reported(out.pending_drops[i].second,
                                                                   out.pending_drop_counts[i]);
    out.pending.clear();
    out.pending_drops.clear();
    out.pending_drop_counts.clear();
  }

  void flush_all() {
    for (auto& [stem, out] : outputs) flush(out);
  }

  // ---- the drain ----

  // One pass over every lane of every ring; true if any record was taken.
  bool round() {
    bool work = false;
    const auto now = Clock::now();
    for (auto& ring_ptr : rings) {
      Ring& ring = *ring_ptr;
      Output& out = output_for(ring);
      if (!usable(out, ring.stem)) continue;
      bool had_records = false;
      if (now >= ring.next_drop_check) {
        report_drops(ring, out);
        ring.next_drop_check = now + kDropCheck;
      }
      for (std::uint32_t l = 0; l < ring.lanes.size(); ++l) {
        if (ring.lanes[l].broken) continue;
        had_records |= drain_lane(ring, l, out);
        if (out.buffer.size() >= piece_bytes) flush(out);
      }
      if (had_records) work = true;
      if (ring.dead_seen && !had_records) ring.remove = true;
    }
    report_thinning(false);
    flush_all();
    if (tail != nullptr && tail->active()) tail->flush_round();
    return work;
  }

  // Every 10 s (and at the end), a WARNING line per service saying what sampling and the rate
  // limit let go since the last one.
  void report_thinning(bool now_regardless) {
    const auto now = Clock::now();
    for (auto& [stem, out] : outputs) {
      if (!out.identity || (!now_regardless && now < out.next_thinning_report)) continue;
      out.next_thinning_report = now + 10s;
      const auto counts = out.admission.take_counts();
      if (!counts.any()) continue;
      append_thinning_notice(out.buffer, *out.identity, counts.sampled, counts.limited);
      ++out.buffer_lines;
    }
  }

  // Before anything new is written: the records at each lane's cursor that the files already
  // hold (written by a sidecar killed before it moved the cursor) are taken without writing
  // them again. Doing this for every lane first keeps the invariant the resume window relies
  // on: at any moment, only the last piece written can be in a file but not taken.
  void resume() {
    RecordView view;
    for (auto& ring_ptr : rings) {
      Ring& ring = *ring_ptr;
      Output& out = output_for(ring);
      for (std::uint32_t l = 0; l < ring.lanes.size() && out.resume; ++l) {
        Lane& lane = ring.lanes[l];
        for (bool more = true; more && !lane.broken;) {
          if (!ring.reader->read_batch(l, kBatchRecords, piece_bytes / 4, lane.batch) || lane.batch.empty())
            break;
          // Up to the last record found: records between found ones that are not in the file
          // were sampled out or limited by the killed process, which had dealt with them too.
          std::size_t written = 0;
          for (std::size_t i = 0; i < lane.batch.records.size(); ++i) {
            if (!ring.reader->decode(lane.batch, i, view)) break;
            line.clear();
            append_json_line(view, ring.info, json, line, &ring.lines);
            if (out.resume->contains(line)) written = i + 1;
          }
          more = written == lane.batch.records.size();
          if (written == 0) break;
          if (!more) {
            lane.batch.end = lane.batch.records[written].second;
            lane.batch.records.resize(written);
          }
          (void)ring.reader->commit(lane.batch);
          stats.resumed_skips += written;
        }
      }
    }
    for (auto& [stem, out] : outputs) out.resume.reset();
    resuming = false;
  }

  bool drain_lane(Ring& ring, std::uint32_t l, Output& out) {
    Lane& lane = ring.lanes[l];
    RingReader& reader = *ring.reader;
    Status st = reader.read_batch(l, kBatchRecords, piece_bytes / 4, lane.batch);
    if (!st) {
      set_aside(ring, l, out, st.error().message);
      return false;
    }
    if (lane.batch.empty()) return false;
    RecordView view;
    const auto now = Clock::now();
    // Checked once a batch: a tail opened meanwhile sees the next batch's lines.
    TailHub* const tail_now = tail != nullptr && tail->active() ? tail : nullptr;
    for (std::size_t i = 0; i < lane.batch.records.size(); ++i) {
      if (auto d = reader.decode(lane.batch, i, view); !d) {
        // Take the good records before it, and set the lane aside.
        lane.batch.end = lane.batch.records[i].second;
        lane.batch.records.resize(i);
        set_aside(ring, l, out, d.error().message);
        break;
      }
      if (!out.admission.admit(view.level, now)) continue;
      const std::size_t line_at = out.buffer.size();
      append_json_line(view, ring.info, json, out.buffer, &ring.lines);
      if (tail_now != nullptr)
        tail_now->offer(ring.info.service, view.level,
                        std::string_view(out.buffer).substr(line_at, out.buffer.size() - line_at - 1));
      ++out.buffer_lines;
      ++stats.records;
      ++ring.records;
      ++out.records[std::min<std::size_t>(static_cast<std::size_t>(view.level), kLevelCount - 1)];
      ring.newest_ns = std::max(ring.newest_ns, view.timestamp_ns);
      // Lines can be far longer than their records (a long template, escaping): the piece is
      // bounded by what was written, so the batch ends here and the rest waits for the next round.
      if (out.buffer.size() >= piece_bytes && i + 1 < lane.batch.records.size()) {
        lane.batch.end = lane.batch.records[i + 1].second;
        lane.batch.records.resize(i + 1);
        break;
      }
    }
    out.pending.emplace_back(&ring, l);
    return true;
  }

  void set_aside(Ring& ring, std::uint32_t l, Output& out, const std::string& why) {
    ring.lanes[l].broken = true;
    ++ring.lanes_set_aside;
    ++stats.lanes_set_aside;
    say(ring.path + ": lane " + std::to_string(l) + " set aside: " + why);
    append_problem_notice(
        out.buffer, ring.info,
        "lane " + std::to_string(l) + " of " + ring.path + " is corrupt and is no longer read: " + why);
    ++out.buffer_lines;
  }

  void report_drops(Ring& ring, Output& out) {
    for (std::uint32_t l = 0; l < ring.lanes.size(); ++l) {
      const LaneState s = ring.reader->lane_state(l);
      std::array<std::uint64_t, kLevelCount> delta{};
      bool any = false;
      for (std::size_t i = 0; i < delta.size(); ++i) {
        delta[i] = s.dropped[i] > s.drops_reported[i] ? s.dropped[i] - s.drops_reported[i] : 0;
        any = any || delta[i] > 0;
      }
      if (!any) continue;
      append_drop_notice(out.buffer, ring.info, delta);
      ++out.buffer_lines;
      out.pending_drops.emplace_back(&ring, l);
      out.pending_drop_counts.push_back(s.dropped);
      ++stats.drop_reports;
    }
  }

  // ---- upkeep between rounds ----

  void upkeep() {
    const auto now = Clock::now();
    if (directory_changed() || now >= next_rescan) {
      if (inotify_fd < 0) watch_directory();
      rescan(false);
      next_rescan = now + settings.rescan_interval;
    }
    if (reopen_requested.exchange(false)) {
      for (auto& [stem, out] : outputs)
        if (out.file)
          if (auto st = out.file->reopen(); !st) fail(out, st.error().message);
    }
    if (levels != nullptr && levels->generation() != levels_applied) {
      levels_applied = levels->generation();
      for (auto& ring : rings) apply_level(*ring);
    }
    for (auto& ring : rings) {
      if (now >= ring->next_heartbeat) {
        ring->reader->heartbeat(static_cast<std::int32_t>(::getpid()), wall_clock_ns());
        ring->next_heartbeat = now + kHeartbeat;
      }
      if (!ring->dead_seen && !ring->reader->writer_alive()) ring->dead_seen = true;
    }
    // Rings of producers that are gone, drained to the end: delete them (their lines are written).
    for (auto it = rings.begin(); it != rings.end();) {
      Ring& ring = **it;
      if (!ring.remove) {
        ++it;
        continue;
      }
      Output& out = output_for(ring);
      report_drops(ring, out);
      flush(out);
      if (out.failing) {  // its last lines (a drop report) are not written yet: keep it for now
        ring.remove = false;
        ++it;
        continue;
      }
      if (::unlink(ring.path.c_str()) != 0 && errno != ENOENT) {
        say("cannot remove the drained ring " + ring.path + ": " + std::strerror(errno));
        drained_kept.insert(ring.path);
      }
      ++stats.rings_removed;
      if (levels != nullptr) (void)levels->forget_own_level(ring.path);
      it = rings.erase(it);
    }
    publish(false);
  }

  // ---- what /status and /metrics show ----

  // The service's override if it has one, else the level the app started with. The app's own
  // level is kept in the overrides file while an override holds, for a restarted sidecar.
  void apply_level(Ring& ring) {
    if (levels == nullptr) return;
    const auto override_level = levels->for_service(ring.info.service);
    const Level want = override_level.value_or(ring.own_level);
    Status kept = override_level ? levels->remember_own_level(ring.path, ring.own_level)
                                 : levels->forget_own_level(ring.path);
    if (!kept) say("level overrides: " + kept.error().message);
    if (ring.reader->min_level() == want) return;
    if (auto st = ring.reader->set_min_level(want); !st)
      say(ring.path + ": cannot set its level: " + st.error().message);
  }

  void publish(bool now_regardless) {
    const auto now = Clock::now();
    if (!now_regardless && now < next_publish) return;
    next_publish = now + kPublishEvery;
    const double dt = std::chrono::duration<double>(now - last_publish).count();
    const bool first = last_publish == Clock::time_point{};
    last_publish = now;
    const auto wall_ns = wall_clock_ns();
    DrainSnapshot s;
    s.rings.reserve(rings.size());
    for (auto& r : rings) {
      RingStatus& rs = s.rings.emplace_back();
      rs.file = r->path;
      rs.service = r->info.service;
      rs.pod = r->info.pod;
      rs.pod_namespace = r->info.pod_namespace;
      rs.container = r->info.container;
      rs.writer_pid = r->info.writer_pid;
      rs.writer_alive = r->reader->writer_alive();
      rs.lanes_total = r->info.lane_count;
      rs.capacity_bytes = r->info.lane_bytes * r->info.lane_count;
      for (std::uint32_t l = 0; l < r->info.lane_count; ++l) {
        const LaneState ls = r->reader->lane_state(l);
        rs.used_bytes += ls.used_bytes();
        rs.lanes_in_use += ls.owner_tid != 0 ? 1 : 0;
        for (std::size_t i = 0; i < kLevelCount; ++i) rs.dropped[i] += ls.dropped[i];
      }
      rs.fill_ratio =
          rs.capacity_bytes > 0
              ? std::min(1.0, static_cast<double>(rs.used_bytes) / static_cast<double>(rs.capacity_bytes))
              : 0.0;
      rs.lanes_set_aside = r->lanes_set_aside;
      rs.records_total = r->records;
      rs.records_per_s = !first && dt > 0 ? static_cast<double>(r->records - r->records_published) / dt : 0.0;
      r->records_published = r->records;
      rs.last_write_age_s =
          r->newest_ns == 0 ? -1.0
                            : static_cast<double>(wall_ns > r->newest_ns ? wall_ns - r->newest_ns : 0) / 1e9;
      rs.min_level = r->reader->min_level();
    }
    for (auto& [stem, out] : outputs) {
      FileStatus& f = s.files.emplace_back();
      f.service = out.identity ? out.identity->service : stem;  // the name, as the rings' metrics have it
      f.path = settings.out + "/" + stem + ".log";
      if (out.file) f.stats = out.file->stats();
      f.failing = out.failing;
      f.records = out.records;
      f.sampled = out.admission.totals().sampled;
      f.limited = out.admission.totals().limited;
      if (out.failing) {
        s.degraded = true;
        s.failing_for_s =
            std::max(s.failing_for_s, std::chrono::duration<double>(now - out.failing_since).count());
      }
    }
    s.records_total = stats.records;
    s.drop_reports = stats.drop_reports;
    s.rings_removed = stats.rings_removed;
    s.write_failures = stats.write_failures;
    s.draining = draining;
    s.stopping = stop_requested.load();
    std::lock_guard lock(published_mu);
    published = std::move(s);
  }

  bool any_output_failing() const {
    for (const auto& [stem, out] : outputs)
      if (out.failing) return true;
    return false;
  }

  bool any_writer_attached() const {
    for (const auto& r : rings)
      if (r->reader->writer_alive() && r->reader->writer_state() != ring::WriterState::closed) return true;
    return false;
  }

  // --exit-with-apps: true once a ring has been seen and none has had a live writer for
  // kAppsGoneFor (an app that execs a helper, or restarts, attaches again within that).
  bool apps_gone(Clock::time_point& since) const {
    if (stats.rings_opened == 0 || any_writer_attached()) {
      since = Clock::time_point::max();
      return false;
    }
    const auto now = Clock::now();
    if (since == Clock::time_point::max()) since = now;
    return now - since >= kAppsGoneFor;
  }

  void sleep() {
    std::vector<WakeWord> words;
    words.push_back({&own_word, own_word.load(std::memory_order_acquire), false});
    for (auto& r : rings) words.push_back({r->reader->wake_word(), r->reader->arm_wake(), true});
    // Armed: anything committed from now on wakes us; look once more for what came before.
    const bool work = round();
    if (!work && !stop_requested.load()) wait_any(words, kIdleWait);
    for (auto& r : rings) r->reader->disarm_wake();
  }

  int run() {
    watch_directory();
    rescan(true);
    resume();
    draining = true;
    publish(true);
    next_rescan = Clock::now() + settings.rescan_interval;
    std::optional<Clock::time_point> deadline;
    auto apps_gone_since = Clock::time_point::max();  // --exit-with-apps; max(): apps attached
    for (;;) {
      if (settings.exit_with_apps && !deadline && apps_gone(apps_gone_since)) {
        say("every app has detached for " + std::to_string(kAppsGoneFor.count()) +
            " ms (--exit-with-apps): stopping");
        stop_requested.store(true);
      }
      if (stop_requested.load() && !deadline) {
        deadline = Clock::now() + settings.shutdown_deadline;
        say("stopping: draining until every app has detached (at most " +
            std::to_string(settings.shutdown_deadline.count()) + " ms)");
      }
      const bool work = round();
      upkeep();
      if (deadline) {
        if (!work && !any_writer_attached() && !any_output_failing()) {
          // Every app is gone and its records are written: delete the rings of the dead ones.
          for (auto& r : rings) r->dead_seen = !r->reader->writer_alive();
          round();
          upkeep();
          break;
        }
        if (Clock::now() >= *deadline) {
          say("shutdown deadline passed with apps still attached");
          break;
        }
      }
      if (!work) sleep();
    }
    round();  // whatever came in the last moment
    report_thinning(true);
    flush_all();
    // The sync can take a while after a burst (the page cache holds what was written); saying so
    // tells an operator why exit lags, and the drain benchmark where writing ended.
    std::size_t open_files = 0;
    for (auto& [stem, out] : outputs) open_files += out.file ? 1 : 0;
    if (open_files > 0) say("all records written; syncing " + std::to_string(open_files) + " output file(s)");
    for (auto& [stem, out] : outputs)
      if (out.file) (void)out.file->sync();
    if (inotify_fd >= 0) ::close(inotify_fd);
    draining = false;
    publish(true);
    return 0;
  }
};

Drainer::Drainer(SidecarSettings settings, LevelOverrides* levels, TailHub* tail)
    : impl_(std::make_unique<Impl>(std::move(settings), levels, tail)) {}
Drainer::~Drainer() = default;

int Drainer::run() {
  return impl_->run();
}

void Drainer::stop() {
  impl_->stop_requested.store(true);
  wake_private(impl_->own_word);
}

void Drainer::reopen() {
  impl_->reopen_requested.store(true);
  wake_private(impl_->own_word);
}

DrainSnapshot Drainer::snapshot() const {
  std::lock_guard lock(impl_->published_mu);
  return impl_->published;
}

DrainStats Drainer::stats() const {
  DrainStats s = impl_->stats;
  for (const auto& [stem, out] : impl_->outputs) s.degraded = s.degraded || out.failing;
  return s;
}

}  // namespace shmlog::sidecar
