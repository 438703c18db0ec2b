#include "cli/ring_tail.hpp"

#include "cli/command.hpp"
#include "cli/display.hpp"
#include "cli/ring_paths.hpp"

#include <shmlog/json_line.hpp>
#include <shmlog/reader.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include <fmt/format.h>
#include <sys/stat.h>

namespace shmlog::cli {
namespace {

// Records per drain() call: enough to amortise the call, small enough to keep lanes interleaved.
constexpr std::size_t kBatchRecords = 256;
// --follow polls: a person watching sees no lag, an idle tail costs nothing measurable.
constexpr long kPollIntervalNs = 50'000'000;

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");

extern "C" void on_stop_signal(int) {
  g_stop.store(true, std::memory_order_relaxed);
}

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sa.sa_flags = SA_RESTART;  // finish a write in progress; nanosleep returns early regardless
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

// A record already formatted, with what orders it.
struct Line {
  std::uint64_t timestamp_ns = 0;
  std::uint32_t lane = 0;
  std::uint64_t seq = 0;
  std::uint64_t position = 0;
  std::string text;
};

struct TailedRing {
  std::string path;
  dev_t device = 0;
  ino_t inode = 0;
  std::unique_ptr<RingReader> reader;
  std::vector<bool> lane_enabled;  // chosen with --lanes, and not set aside as unreadable
};

class Tail {
 public:
  Tail(const TailOptions& options, std::vector<RingSource> sources)
      : options_(options), sources_(std::move(sources)) {}

  // One pass: picks up new ring files, lets go of removed ones (after reading what they still
  // hold) and prints every ring's new records, each ring's in time order.
  void poll();
  std::size_t ring_count() const { return rings_.size(); }
  bool failed() const { return failed_; }

 private:
  std::vector<TailedRing> sync_files();
  std::optional<TailedRing> open_ring(const RingFile& file, const struct stat& st);
  void print_new_records(TailedRing& ring);
  void read_lane(TailedRing& ring, std::uint32_t lane, std::vector<Line>& out);
  // Names a problem on stderr (once: --follow meets the same one every pass) and marks the run failed.
  void report(const std::string& message);

  const TailOptions& options_;
  const std::vector<RingSource> sources_;
  const JsonOptions json_options_{};
  std::vector<TailedRing> rings_;
  std::set<std::pair<std::string, ino_t>> unreadable_;  // reported; retried only if replaced
  std::set<std::string> reported_;
  bool failed_ = false;
};

void Tail::report(const std::string& message) {
  failed_ = true;
  if (reported_.insert(message).second) print_problem(message);
}

void Tail::poll() {
  std::vector<TailedRing> next = sync_files();
  for (TailedRing& gone : rings_)  // removed or replaced: what is left in it is still news
    if (gone.reader) print_new_records(gone);
  rings_ = std::move(next);
  for (TailedRing& ring : rings_) print_new_records(ring);
  std::fflush(stdout);
}

// The rings to read this pass: those still open move over (rings_ keeps the ones that went).
std::vector<TailedRing> Tail::sync_files() {
  std::vector<Error> errors;
  const std::vector<RingFile> files = ring_files(sources_, errors);
  for (const Error& e : errors) report(e.message);
  std::vector<TailedRing> next;
  for (const RingFile& file : files) {
    struct stat st {};
    if (::stat(file.path.c_str(), &st) != 0) {
      if (!file.listed) report(file.path + ": " + std::strerror(errno));
      continue;  // a listed file that went away was removed after draining
    }
    auto same = std::find_if(rings_.begin(), rings_.end(), [&](const TailedRing& r) {
      return r.reader && r.path == file.path && r.device == st.st_dev && r.inode == st.st_ino;
    });
    if (same != rings_.end()) {
      next.push_back(std::move(*same));
      same->reader.reset();
      continue;
    }
    if (unreadable_.count({file.path, st.st_ino}) != 0) continue;
    if (auto ring = open_ring(file, st)) next.push_back(std::move(*ring));
  }
  return next;
}

std::optional<TailedRing> Tail::open_ring(const RingFile& file, const struct stat& st) {
  auto reader = RingReader::open(file.path, OpenMode::observer);
  if (!reader) {
    struct stat now {};
    if (file.listed && ::stat(file.path.c_str(), &now) != 0) return std::nullopt;  // removed meanwhile
    report(reader.error().message);
    unreadable_.insert({file.path, st.st_ino});
    return std::nullopt;
  }
  std::optional<TailedRing> ring(std::in_place);
  ring->path = file.path;
  ring->device = st.st_dev;
  ring->inode = st.st_ino;
  ring->reader = std::move(reader.value());
  const std::uint32_t lane_count = ring->reader->info().lane_count;
  ring->lane_enabled.assign(lane_count, options_.lanes.empty());
  for (std::uint32_t lane : options_.lanes) {
    if (lane < lane_count)
      ring->lane_enabled[lane] = true;
    else
      report(fmt::format("{}: no lane {} (the ring has lanes 0 to {})", file.path, lane, lane_count - 1));
  }
  return ring;
}

void Tail::print_new_records(TailedRing& ring) {
  std::vector<Line> lines;
  for (std::uint32_t lane = 0; lane < ring.lane_enabled.size(); ++lane)
    if (ring.lane_enabled[lane]) read_lane(ring, lane, lines);
  // Lanes are written independently: only sorting gives the order the records were made in.
  std::stable_sort(lines.begin(), lines.end(), [](const Line& a, const Line& b) {
    return std::tie(a.timestamp_ns, a.lane, a.seq) < std::tie(b.timestamp_ns, b.lane, b.seq);
  });
  for (const Line& line : lines) std::fwrite(line.text.data(), 1, line.text.size(), stdout);
}

// Reads the lane's records this reader has not seen yet, up to where the writer was when the
// pass began plus one lane: with a live writer and a busy consumer a lane need never run dry,
// and a pass must end (the rest is the next pass's, or with no --follow, nobody's).
void Tail::read_lane(TailedRing& ring, std::uint32_t lane, std::vector<Line>& out) {
  RingReader& reader = *ring.reader;
  const std::uint64_t stop_at = reader.lane_state(lane).write_pos + reader.info().lane_bytes;
  for (;;) {
    const std::uint64_t before = reader.observer_position(lane);
    std::uint64_t last_position = 0;
    auto drained = reader.drain(lane, kBatchRecords, [&](const RecordView& rec) {
      last_position = std::max(last_position, rec.position);
      if (rec.level < options_.min_level) return;
      Line line{rec.timestamp_ns, rec.lane, rec.seq, rec.position, {}};
      append_json_line(rec, reader.info(), json_options_, line.text);
      out.push_back(std::move(line));
    });
    if (!drained) {
      report(drained.error().message);
      // A record that does not decode is skipped and the cursor moves on; one that cannot be
      // read at all (a broken length, a chain that loops) stops the cursor: set the lane aside.
      if (reader.observer_position(lane) == before) {
        report(fmt::format("{}: lane {}: cannot read past that record; skipping the rest of the lane",
                           ring.path, lane));
        ring.lane_enabled[lane] = false;
        return;
      }
      continue;
    }
    if (drained.value() == 0 || last_position >= stop_at) return;
  }
}

}  // namespace

int run_tail(const TailOptions& options) {
  auto sources = resolve_sources(options.paths);
  if (!sources) {
    print_problem(sources.error().message);
    return kExitUsage;
  }
  Tail tail(options, std::move(sources.value()));
  if (options.follow) install_stop_handlers();
  tail.poll();
  if (!options.follow) {
    if (tail.ring_count() == 0 && !tail.failed()) print_problem("no ring files found");
    return tail.failed() ? kExitFailed : kExitOk;
  }
  while (!g_stop.load(std::memory_order_relaxed)) {
    timespec interval{0, kPollIntervalNs};
    ::nanosleep(&interval, nullptr);  // a stop signal cuts it short
    if (g_stop.load(std::memory_order_relaxed)) break;
    tail.poll();
  }
  return tail.failed() ? kExitFailed : kExitOk;
}

}  // namespace shmlog::cli
