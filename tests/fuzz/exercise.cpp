#include "exercise.hpp"

#include "support/test_dir.hpp"

#include <shmlog/json_line.hpp>
#include <shmlog/reader.hpp>

#include <limits>
#include <string_view>

namespace shmlog::fuzz {
namespace {

class Run {
 public:
  Run(const std::string& path, Findings& f, const ExerciseOptions& o)
      : path_(path), f_(f), schema_left_(o.schema_lines) {}

  void mode(OpenMode mode) {
    auto opened = RingReader::open(path_, mode);
    if (!opened) {
      const std::string& message = opened.error().message;
      if (message.find(path_) == std::string::npos)
        problem("an open error does not name the file: " + message);
      f_.open_errors.push_back(message);
      return;
    }
    ++f_.opened;
    RingReader& r = *opened.value();
    const RingInfo& info = r.info();
    std::string scratch;
    for (const std::string* s :
         {&info.service, &info.pod, &info.pod_namespace, &info.container, &info.host}) {
      if (s->size() >= ring::kIdentityBytes) problem("an identity string is longer than its field");
      sanitize_utf8(*s, scratch);
    }
    (void)r.writer_alive();
    (void)r.writer_state();
    (void)r.min_level();
    (void)r.sites_dropped();
    r.clock().refresh();
    (void)r.clock().to_ns(0);
    (void)r.clock().to_ns(std::numeric_limits<std::uint64_t>::max());
    (void)r.clock().to_ns(info.start_ns);

    for (std::uint32_t lane = 0; lane < info.lane_count; ++lane) this->lane(r, lane);
    Batch batch;
    if (r.read_batch(info.lane_count, 4, 4096, batch))
      problem("read_batch accepted a lane that does not exist");
    if (r.lane_state(info.lane_count).write_pos != 0) problem("lane_state of a lane that does not exist");

    // load_sites() reads the whole registry: once per file is enough.
    const std::size_t known = f_.opened == 1 ? r.load_sites() : 0;
    for (std::uint32_t id = 0; id < known + 3 && id < 512; ++id)
      if (const SiteInfo* s = r.site(id); s != nullptr && s->id != id)
        problem("site(" + std::to_string(id) + ") has another id");
    for (std::uint32_t id : {0u, 1u, 2u, 3u, 7u, 0xFFFFu}) (void)r.logger(static_cast<std::uint16_t>(id));
    (void)r.counters();
    if (!r.registry_error().empty()) f_.registry_error = r.registry_error();
    if (mode == OpenMode::consumer) {
      if (!r.set_min_level(Level::warning)) problem("set_min_level failed in consumer mode");
      (void)r.try_lock_consumer();
    } else if (r.set_min_level(Level::warning)) {
      problem("set_min_level succeeded in observer mode");
    }
  }

 private:
  void problem(const std::string& what) { f_.problems.push_back(path_ + ": " + what); }

  void lane(RingReader& r, std::uint32_t lane) {
    const std::uint64_t lane_bytes = r.info().lane_bytes;
    const LaneState s = r.lane_state(lane);
    (void)s.used_bytes();
    Batch batch;
    for (std::uint64_t from : {RingReader::npos, std::uint64_t{0}, s.read_pos, s.write_pos,
                               (s.read_pos + lane_bytes / 2) & ~std::uint64_t{7}}) {
      auto& errors = from == RingReader::npos ? f_.read_errors : f_.probe_errors;
      if (auto st = r.read_batch(lane, 32, 1 << 16, batch, from); !st) {
        errors.push_back(st.error().message);
        continue;
      }
      check_batch(r, batch, errors, s.read_pos);
    }
    if (r.mode() == OpenMode::consumer) {
      if (r.read_batch(lane, 8, 1 << 14, batch)) (void)r.commit(batch);
    }
    for (int k = 0; k < 8; ++k) {
      (void)r.observer_position(lane);
      auto n = r.drain(lane, 32, [&](const RecordView& v) {
        ++f_.records;
        format(r, v);
      });
      if (!n) {
        f_.read_errors.push_back(n.error().message);
        break;
      }
      if (*n == 0) break;
    }
  }

  // `cursor`: the lane's read_pos when the batch was read (nothing else moves it meanwhile).
  void check_batch(RingReader& r, const Batch& b, std::vector<std::string>& errors, std::uint64_t cursor) {
    if (b.end < b.start) problem("batch ends before it starts");
    // From the cursor on, a reader never goes a whole lane round (docs/ring-format.md). An empty
    // batch far ahead (an observer's cursor past the data) has passed nothing.
    if (b.end > b.start && b.start >= cursor && b.end - cursor > r.info().lane_bytes)
      problem("read_batch went round lane " + std::to_string(b.lane) + " more than once (" +
              std::to_string(b.start) + " to " + std::to_string(b.end) + " with the cursor at " +
              std::to_string(cursor) + ", " + (r.mode() == OpenMode::consumer ? "consumer" : "observer") +
              ")");
    if (b.records.size() > 32) problem("read_batch returned more records than asked for");
    for (std::size_t i = 0; i < b.records.size(); ++i) {
      const auto [offset, position] = b.records[i];
      const std::size_t end = i + 1 < b.records.size() ? b.records[i + 1].first : b.used;
      if (offset >= end || end > b.used || b.used > b.bytes.size() || position < b.start ||
          position >= b.end) {
        problem("batch record " + std::to_string(i) + " lies outside its batch");
        return;
      }
      RecordView v;
      if (auto st = r.decode(b, i, v); !st) {
        errors.push_back(st.error().message);
        continue;
      }
      ++f_.records;
      check_views(v, b.bytes.data() + offset, b.bytes.data() + end);
      format(r, v);
    }
    RecordView v;
    if (r.decode(b, b.records.size(), v)) problem("decode accepted a record index past the batch");
  }

  // Every string a decoded record shows must point into that record's own bytes.
  void check_views(const RecordView& v, const std::byte* lo, const std::byte* hi) {
    auto inside = [&](std::string_view s, const char* what) {
      if (s.empty()) return;
      const auto* p = reinterpret_cast<const std::byte*>(s.data());
      if (p < lo || p + s.size() > hi) problem(std::string("decoded ") + what + " points outside its record");
    };
    for (const auto& a : v.args)
      if (a.type == ring::ArgType::string) inside(a.s, "string argument");
    for (const auto& c : v.context) {
      inside(c.key, "context key");
      if (c.value.type == ring::ArgType::string) inside(c.value.s, "context value");
    }
    inside(v.correlation_id, "correlation id");
    inside(v.exception_type, "exception type");
    inside(v.exception_what, "exception message");
  }

  void format(RingReader& r, const RecordView& v) {
    line_.clear();
    append_json_line(v, r.info(), JsonOptions{}, line_);
    ++f_.lines;
    if (line_.empty() || line_.find('\n') != line_.size() - 1) {
      problem("a record formats to more or less than one line");
      return;
    }
    if (schema_left_ == 0) return;
    --schema_left_;
    line_.pop_back();
    if (std::string bad = test::schema_error(line_); !bad.empty()) problem(bad.substr(0, 2000));
  }

  const std::string& path_;
  Findings& f_;
  std::size_t schema_left_;
  std::string line_;
};

}  // namespace

void exercise_ring(const std::string& path, Findings& findings, const ExerciseOptions& options) {
  Run run(path, findings, options);
  run.mode(OpenMode::observer);
  run.mode(OpenMode::consumer);
  // Consumer mode took records: a second observer pass sees what is left.
  run.mode(OpenMode::observer);
  const auto slash = path.rfind('/');
  (void)list_rings(slash == std::string::npos ? std::string(".") : path.substr(0, slash));
}

}  // namespace shmlog::fuzz
