// The fuzzer's read paths (exercise.hpp) over every corpus file, over fresh seeds made by libshm,
// and over hand-made hostile files whose errors must say exactly what is wrong. Built in every
// configuration, with or without clang and libFuzzer.
#include "corpus_gen.hpp"
#include "exercise.hpp"
#include "structured.hpp"
#include "support/test_dir.hpp"

#include <shmlog/json_line.hpp>
#include <shmlog/reader.hpp>

#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace shmlog;
using namespace shmlog::fuzz;
using shmlog::test::TempDir;

namespace {

// ---- building files by hand ----

template <typename T>
void put(std::string& buf, std::size_t offset, T value) {
  REQUIRE(offset + sizeof value <= buf.size());
  std::memcpy(buf.data() + offset, &value, sizeof value);
}

template <typename T>
std::string bytes_of(T value) {
  return std::string(reinterpret_cast<const char*>(&value), sizeof value);
}

std::string aligned(std::string s) {
  s.resize((s.size() + 7) / 8 * 8, '\0');
  return s;
}

struct SiteSpec {
  std::uint32_t id = 1;
  std::string format = "value {}";
  std::string types = "i";
  std::uint8_t level = 2;
  std::string file = "f.cpp";
  std::string function = "fn";
  int file_len = -1;  // as stored; -1: the real length
};

std::string site_entry(const SiteSpec& s) {
  std::string e(ring::kSiteEntryBytes, '\0');
  e += s.file + s.function + s.format + s.types;
  e = aligned(e);
  put(e, 0,
      ring::make_commit(static_cast<std::uint32_t>(e.size()),
                        static_cast<ring::RecordKind>(ring::EntryKind::site), 0, 0));
  put(e, offsetof(ring::SiteEntry, id), s.id);
  put(e, offsetof(ring::SiteEntry, line), std::uint32_t{7});
  put(e, offsetof(ring::SiteEntry, level), s.level);
  put(e, offsetof(ring::SiteEntry, arg_count), static_cast<std::uint8_t>(s.types.size()));
  put(e, offsetof(ring::SiteEntry, file_len),
      static_cast<std::uint16_t>(s.file_len >= 0 ? s.file_len : static_cast<int>(s.file.size())));
  put(e, offsetof(ring::SiteEntry, function_len), static_cast<std::uint16_t>(s.function.size()));
  put(e, offsetof(ring::SiteEntry, format_len), static_cast<std::uint32_t>(s.format.size()));
  return e;
}

std::string logger_entry(std::uint32_t id, const std::string& name, int name_len = -1) {
  std::string e = aligned(std::string(ring::kLoggerEntryBytes, '\0') + name);
  put(e, 0,
      ring::make_commit(static_cast<std::uint32_t>(e.size()),
                        static_cast<ring::RecordKind>(ring::EntryKind::logger), 0, 0));
  put(e, offsetof(ring::LoggerEntry, id), id);
  put(e, offsetof(ring::LoggerEntry, name_len),
      static_cast<std::uint16_t>(name_len >= 0 ? name_len : static_cast<int>(name.size())));
  return e;
}

struct RecordSpec {
  std::uint32_t site = 1;
  std::uint64_t seq = 0;
  std::string payload = bytes_of(std::int32_t{5});
  std::uint8_t level = 2;
  std::uint16_t flags = 0;
  std::uint8_t kind = 1;
  std::int64_t length = -1;         // commit length; -1: the real one
  std::int64_t payload_bytes = -1;  // -1: the real one
};

std::string record(const RecordSpec& r) {
  std::string rec = aligned(std::string(ring::kRecordHeaderBytes, '\0') + r.payload);
  const auto length =
      static_cast<std::uint32_t>(r.length >= 0 ? r.length : static_cast<std::int64_t>(rec.size()));
  put(rec, 0, ring::make_commit(length, static_cast<ring::RecordKind>(r.kind), r.level, r.flags));
  put(rec, offsetof(ring::RecordHeader, site_id), r.site);
  put(rec, offsetof(ring::RecordHeader, tid), std::uint32_t{77});
  put(rec, offsetof(ring::RecordHeader, seq), r.seq);
  put(rec, offsetof(ring::RecordHeader, timestamp), std::uint64_t{1'700'000'000'000'000'000});
  put(rec, offsetof(ring::RecordHeader, payload_bytes),
      static_cast<std::uint32_t>(r.payload_bytes >= 0 ? r.payload_bytes
                                                      : static_cast<std::int64_t>(r.payload.size())));
  return rec;
}

std::string padding(std::uint32_t length) {
  std::string p(length, '\0');
  put(p, 0, ring::make_commit(length, ring::RecordKind::padding, 0, 0));
  return p;
}

// One lane with two good records of site 1 ("value {}", one i32).
StructuredSpec baseline() {
  StructuredSpec s;
  s.control.lanes = 0;  // one lane
  s.registry = site_entry({}) + logger_entry(1, "main");
  RecordSpec second;
  second.seq = 1;
  second.payload = bytes_of(std::int32_t{6});
  s.lanes = {record({}) + record(second)};
  return s;
}

std::string image(const StructuredSpec& s) {
  return ring_image(s);
}

// ---- reading them back ----

class Files {
 public:
  std::string write(const std::string& bytes) {
    const std::string path = dir_.file("hostile-" + std::to_string(n_++) + ring::kFileSuffix);
    test::write_file(path, bytes);
    return path;
  }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_{"shmlog-corpus"};
  int n_ = 0;
};

std::string open_error(Files& files, const std::string& bytes) {
  auto r = RingReader::open(files.write(bytes), OpenMode::observer);
  return r ? std::string{} : r.error().message;
}

// The first error reading lane `lane` of the file gives, through read_batch then decode.
std::string read_error(Files& files, const std::string& bytes, std::uint32_t lane = 0) {
  auto r = RingReader::open(files.write(bytes), OpenMode::consumer);
  if (!r) return "open: " + r.error().message;
  Batch b;
  if (auto st = r.value()->read_batch(lane, 64, 1 << 16, b); !st) return st.error().message;
  RecordView v;
  for (std::size_t i = 0; i < b.records.size(); ++i)
    if (auto st = r.value()->decode(b, i, v); !st) return st.error().message;
  return {};
}

std::vector<std::string> json_lines(Files& files, const std::string& bytes) {
  return test::drain_lines(files.write(bytes));
}

// Runs `fn` in a forked child; false if it has not finished after `limit` (it is then killed).
bool finishes_within(const std::function<void()>& fn, std::chrono::milliseconds limit) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    fn();
    _exit(0);
  }
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// What a corpus file turns into on disk: structured inputs are expanded to their ring image.
std::string as_ring_file(const std::string& input) {
  if (!input.empty() && static_cast<std::uint8_t>(input[0]) == kStructuredTag) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(input.data());
    return ring_image(decode(p + 1, input.size() - 1));
  }
  return input;
}

void exercise_all(const std::string& dir, bool expect_valid) {
  Files files;
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().filename().string().starts_with(".")) continue;
    CAPTURE(entry.path().string());
    // A copy: consumer mode writes to the file, and the corpus is part of the source tree.
    const std::string path = files.write(as_ring_file(test::read_file(entry.path())));
    Findings f;
    exercise_ring(path, f, ExerciseOptions{64});
    for (const auto& p : f.problems) FAIL_CHECK(p);
    if (expect_valid) {
      CHECK(f.opened == 3);
      CHECK(f.records > 0);
      CHECK(f.registry_error.empty());
      for (const auto& e : f.read_errors) FAIL_CHECK(e);
    }
    ++count;
  }
  CHECK(count > 0);
  MESSAGE(count << " files from " << dir);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

TEST_CASE("every file of the checked-in corpus reads without a problem") {
  exercise_all(SHMLOG_FUZZ_CORPUS_DIR, false);
}

TEST_CASE("seeds made now by libshm, and the full rings behind them, read back complete") {
  TempDir dir("shmlog-seeds");
  std::string error;
  const long n = make_seeds(dir.path(), SeedOptions{true, true}, error);
  REQUIRE_MESSAGE(n > 0, error);
  exercise_all(dir.path(), true);
}

TEST_CASE("the hand-made baseline is valid, so each hostile variant tests one thing") {
  Files files;
  const std::string good = image(baseline());
  CHECK(open_error(files, good).empty());
  CHECK(read_error(files, good).empty());
  const auto lines = json_lines(files, good);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find("\"message\":\"value 5\"") != std::string::npos);
  CHECK(lines[1].find("\"message\":\"value 6\"") != std::string::npos);
  for (const auto& line : lines) CHECK(test::schema_error(line).empty());
}

TEST_CASE("hostile headers are rejected with a message that says what is wrong") {
  Files files;
  const std::string good = image(baseline());
  using H = ring::FileHeader;
  auto with = [&](auto field_offset, auto value) {
    std::string b = good;
    put(b, field_offset, value);
    return b;
  };
  CHECK(open_error(files, good.substr(0, 100)).find("100 bytes is too small to be a ring file") !=
        std::string::npos);
  CHECK(open_error(files, std::string()).find("0 bytes is too small to be a ring file") != std::string::npos);
  CHECK(open_error(files, with(offsetof(H, magic), std::uint64_t{0x1234}))
            .find("not a shmlog ring file (magic 0x0000000000001234, expected 0x31474e52474c4853)") !=
        std::string::npos);
  CHECK(open_error(files, with(offsetof(H, layout_version), std::uint32_t{2}))
            .find("ring layout version 2 is not supported (this reader knows version 1)") !=
        std::string::npos);
  CHECK(open_error(files, with(offsetof(H, header_bytes), std::uint32_t{600}))
            .find("header size 600 does not match layout version 1") != std::string::npos);
  CHECK(open_error(files, with(offsetof(H, cache_line_bytes), std::uint32_t{128}))
            .find("cache line size 128 is not 64") != std::string::npos);
  CHECK(open_error(files, with(offsetof(H, lane_count), std::uint32_t{0}))
            .find("lane count 0 out of range 1..1024") != std::string::npos);
  CHECK(open_error(files, with(offsetof(H, lane_count), std::uint32_t{2000}))
            .find("lane count 2000 out of range 1..1024") != std::string::npos);
  CHECK(open_error(files, with(offsetof(H, lane_bytes), std::uint64_t{5000}))
            .find("lane size 5000 is not a power of two from 4096 to 1 GiB") != std::string::npos);
  CHECK(open_error(files, with(offsetof(H, lane_bytes), std::uint64_t{2048}))
            .find("lane size 2048 is not a power of two") != std::string::npos);
  CHECK(open_error(files, with(offsetof(H, sites_bytes), std::uint64_t{100}))
            .find("site registry size 100 out of range") != std::string::npos);
  CHECK(open_error(files, with(offsetof(H, data_offset), std::uint64_t{8192}))
            .find("region offsets do not match the layout of its lane count and sizes") != std::string::npos);
  CHECK(open_error(files, with(offsetof(H, sites_offset), std::uint64_t{4096}))
            .find("region offsets do not match") != std::string::npos);
  CHECK(open_error(files, with(offsetof(H, file_bytes), std::uint64_t{1} << 40))
            .find("region offsets do not match") != std::string::npos);
  // 1 lane: 4096 header and descriptors + 4096 lane + 4096 registry.
  CHECK(open_error(files, good.substr(0, good.size() - 4096))
            .find("file is 8192 bytes but its header says 12288 (truncated?)") != std::string::npos);
  CHECK(open_error(files, with(offsetof(H, clock_source), std::uint32_t{3})).find("unknown clock source 3") !=
        std::string::npos);
  // Every message names the file.
  const std::string path = files.write(good.substr(0, 10));
  auto r = RingReader::open(path, OpenMode::consumer);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.starts_with(path + ": "));
  CHECK(RingReader::open(files.dir().file("missing.ring"), OpenMode::observer)
            .error()
            .message.find("cannot open") != std::string::npos);
  const std::string directory = files.dir().file("dir.ring");
  REQUIRE(::mkdir(directory.c_str(), 0700) == 0);
  CHECK(RingReader::open(directory, OpenMode::observer).error().message.find("not a regular file") !=
        std::string::npos);
}

TEST_CASE("hostile records stop the lane with an error naming lane, position and problem") {
  Files files;
  auto lane = [&](std::string bytes, std::uint32_t cursor = 0) {
    StructuredSpec s = baseline();
    s.lanes = {std::move(bytes)};
    s.control.cursor[0] = cursor;
    return image(s);
  };
  // A record whose length runs past the lane's end, at the start and near the end of the lane.
  RecordSpec r;
  r.length = 8192;
  CHECK(read_error(files, lane(record(r))).find("lane 0 at position 0: record length out of bounds (8192)") !=
        std::string::npos);
  r.length = 200;
  CHECK(read_error(files, lane(record(r), 4000))
            .find("lane 0 at position 4000: record length out of bounds (200)") != std::string::npos);
  r.length = 44;  // not a multiple of 8
  CHECK(read_error(files, lane(record(r))).find("record length out of bounds (44)") != std::string::npos);
  // Padding that does not run to the lane's end.
  CHECK(read_error(files, lane(padding(16) + record({})))
            .find("lane 0 at position 0: padding record does not end at the lane's end (16)") !=
        std::string::npos);
  // Unknown kind, short record.
  r = RecordSpec{};
  r.kind = 3;
  CHECK(read_error(files, lane(record(r))).find("unknown record kind or short record") != std::string::npos);
  r = RecordSpec{};
  r.payload.clear();
  r.length = 16;
  CHECK(read_error(files, lane(record(r).substr(0, 16))).find("unknown record kind or short record") !=
        std::string::npos);
  // A cursor that is not 8-byte aligned.
  CHECK(read_error(files, lane(record({}), 12)).find("position is not 8-byte aligned") != std::string::npos);
  // Decoding.
  r = RecordSpec{};
  r.flags = 1u << 6;
  CHECK(read_error(files, lane(record(r)))
            .find("lane 0 at position 0: invalid record: unknown flags (written by a newer layout?)") !=
        std::string::npos);
  r = RecordSpec{};
  r.level = 7;
  CHECK(read_error(files, lane(record(r))).find("invalid record: level out of range") != std::string::npos);
  r = RecordSpec{};
  r.payload_bytes = 100;
  CHECK(read_error(files, lane(record(r))).find("invalid record: payload longer than the record") !=
        std::string::npos);
  r = RecordSpec{};
  r.payload = "ab";
  CHECK(read_error(files, lane(record(r))).find("invalid record: argument does not fit its type") !=
        std::string::npos);
  r = RecordSpec{};
  r.flags = ring::kHasContext;
  r.payload = bytes_of(std::int32_t{5}) + bytes_of(std::uint32_t{1000});
  CHECK(read_error(files, lane(record(r))).find("invalid record: context block out of bounds") !=
        std::string::npos);
  r.payload = bytes_of(std::int32_t{5}) + bytes_of(std::uint32_t{3}) + std::string("i\x09k");
  CHECK(read_error(files, lane(record(r))).find("invalid record: context key out of bounds") !=
        std::string::npos);
  r.payload = bytes_of(std::int32_t{5}) + bytes_of(std::uint32_t{4}) + std::string("?\x01k\x00", 4);
  CHECK(read_error(files, lane(record(r))).find("invalid record: context value out of bounds") !=
        std::string::npos);
  r = RecordSpec{};
  r.flags = ring::kHasException;
  r.payload = bytes_of(std::int32_t{5}) + bytes_of(std::uint16_t{50}) + "St";
  CHECK(read_error(files, lane(record(r))).find("invalid record: exception out of bounds") !=
        std::string::npos);
}

TEST_CASE("a hostile site registry stops being read; its records show an unknown site") {
  Files files;
  StructuredSpec s = baseline();
  SiteSpec bad;
  bad.file_len = 1000;  // strings longer than the entry
  s.registry = site_entry(bad);
  auto r = RingReader::open(files.write(image(s)), OpenMode::observer);
  REQUIRE(r);
  CHECK(r.value()->site(1) == nullptr);
  CHECK(r.value()->registry_error().find("site entry at offset 0 is invalid") != std::string::npos);
  const auto lines = json_lines(files, image(s));
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find("\"message\":\"(unknown call site 1)\"") != std::string::npos);
  CHECK(test::schema_error(lines[0]).empty());

  // Entries after a bad one are not read either; a bad logger entry; an unknown entry kind.
  s.registry = logger_entry(1, "main", 500) + site_entry({});
  r = RingReader::open(files.write(image(s)), OpenMode::observer);
  REQUIRE(r);
  CHECK(r.value()->logger(1) == nullptr);
  CHECK(r.value()->site(1) == nullptr);
  CHECK(r.value()->registry_error().find("logger entry at offset 0 is invalid") != std::string::npos);
  std::string unknown = site_entry({});
  put(unknown, 0,
      ring::make_commit(static_cast<std::uint32_t>(unknown.size()), static_cast<ring::RecordKind>(3), 0, 0));
  s.registry = unknown;
  r = RingReader::open(files.write(image(s)), OpenMode::observer);
  REQUIRE(r);
  CHECK(r.value()->site(1) == nullptr);
  CHECK(r.value()->registry_error().find("site registry entry at offset 0 is invalid") != std::string::npos);
  SiteSpec level;
  level.level = 9;
  s.registry = site_entry(level);
  r = RingReader::open(files.write(image(s)), OpenMode::observer);
  REQUIRE(r);
  CHECK(r.value()->site(1) == nullptr);
  CHECK(r.value()->registry_error().find("site entry at offset 0 is invalid") != std::string::npos);
}

TEST_CASE("hostile strings come out as strict single-line JSON") {
  Files files;
  StructuredSpec s = baseline();
  SiteSpec site;
  site.format = "{} \xff\n{}";
  site.types = "zz";
  site.file = "bad\xc3(file)\x1b";
  s.registry = site_entry(site);
  RecordSpec r;
  r.payload =
      bytes_of(std::uint32_t{3}) + "\"\n\x01" + bytes_of(std::uint32_t{2}) + "\xed\xa0";  // a surrogate
  r.flags = ring::kHasContext;
  const std::string entry = std::string("z\x03k\n\xff") + bytes_of(std::uint32_t{1}) + "\x7f";
  r.payload += bytes_of(static_cast<std::uint32_t>(entry.size())) + entry;
  s.lanes = {record(r)};
  const auto lines = json_lines(files, image(s));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find('\n') == std::string::npos);
  CHECK(test::schema_error(lines[0]).empty());
  CHECK(lines[0].find("\\ufffd") == std::string::npos);  // replaced by the character, not escaped
  CHECK(lines[0].find("\xef\xbf\xbd") != std::string::npos);
}

TEST_CASE("a lane whose records loop back on themselves is set aside, not read forever") {
  Files files;
  // A padding record spanning the whole lane leads back to itself ...
  StructuredSpec s = baseline();
  s.lanes = {padding(static_cast<std::uint32_t>(kLaneBytes))};
  const std::string path = files.write(image(s));
  std::string error;
  CHECK(finishes_within(
      [&] {
        auto r = RingReader::open(path, OpenMode::observer);
        Batch b;
        (void)r.value()->read_batch(0, 16, 1 << 16, b);
      },
      std::chrono::milliseconds(5000)));
  CHECK(read_error(files, image(s))
            .find("lane 0 at position 0: records run on past a whole lane ahead of the cursor (4096)") !=
        std::string::npos);
  // ... and so would a lane full of committed records with no zero commit word: a writer always
  // leaves room for the zero word after its last record, so the last one here is already corrupt.
  std::string lane;
  for (std::uint64_t seq = 0; lane.size() < kLaneBytes; ++seq) {
    RecordSpec r;
    r.seq = seq;
    r.payload = bytes_of(std::int32_t{5}) + std::string(20, 's');  // 64-byte records fill the lane exactly
    r.payload_bytes = 4;
    lane += record(r);
  }
  s.lanes = {lane};
  auto r = RingReader::open(files.write(image(s)), OpenMode::consumer);
  REQUIRE(r);
  Batch b;
  REQUIRE(r.value()->read_batch(0, 1000, 1 << 20, b));  // the good ones first
  CHECK(b.records.size() == kLaneBytes / 64 - 1);
  CHECK(b.end - b.start == kLaneBytes - 64);
}

TEST_CASE("a record longer than a quarter lane is an error") {
  Files files;
  StructuredSpec s = baseline();
  RecordSpec big;
  big.payload = bytes_of(std::int32_t{5}) + std::string(kLaneBytes / 4, 'x');
  big.payload_bytes = 4;  // the rest is slack: the record itself is well formed
  s.lanes = {record(big)};
  CHECK(read_error(files, image(s)).find("lane 0 at position 0: record larger than a quarter lane (1072)") !=
        std::string::npos);
}

TEST_CASE("records before a bad one are handed out first; the error comes with the next call") {
  Files files;
  StructuredSpec s = baseline();
  RecordSpec bad;
  bad.kind = 9;
  s.lanes = {s.lanes[0] + record(bad)};
  auto r = RingReader::open(files.write(image(s)), OpenMode::consumer);
  REQUIRE(r);
  Batch b;
  REQUIRE(r.value()->read_batch(0, 64, 1 << 16, b));
  CHECK(b.records.size() == 2);
  REQUIRE(r.value()->commit(b));
  auto next = r.value()->read_batch(0, 64, 1 << 16, b);
  REQUIRE_FALSE(next);
  CHECK(next.error().message.find("lane 0 at position 96: unknown record kind or short record") !=
        std::string::npos);
}

// ---- libshm bugs found by these tests (and the fuzzer), fixed; kept as regressions ----

TEST_CASE("a TSC ring with tsc_hz 0 is rejected") {
  // docs/ring-format.md, header checks: "clock_source 1 or 2; for 2, tsc_hz > 0".
  Files files;
  StructuredSpec s = baseline();
  s.control.flags = kTscClock;
  s.control.tsc_hz = 0;
  CHECK(open_error(files, image(s)).find("tsc") != std::string::npos);
}

TEST_CASE("a record that starts within a lane of the cursor but ends past it is an error") {
  // Found by the fuzzer (/tmp/fuzz-crashes/crash-28881174...). read_batch checks that a record
  // *starts* less than lane_bytes past the cursor, not that it ends there, so a record whose tail
  // overlaps the bytes at the cursor comes out. A writer keeps pos + size + 8 <= read_pos +
  // lane_bytes, so such a record is corrupt: docs/ring-format.md, "no more than lane_bytes bytes
  // past the start position in one pass".
  Files files;
  StructuredSpec s = baseline();
  s.control.cursor[0] = 64;  // lap 0, offset 64
  std::string lane;          // from offset 64: 84 records of 48 bytes run to the lane's end ...
  for (std::uint64_t seq = 0; seq < 84; ++seq) {
    RecordSpec r;
    r.seq = seq;
    lane += record(r);
  }
  RecordSpec tail;  // ... then one of 72 bytes at offset 0, whose last 8 are the first record's commit
  tail.seq = 84;
  tail.payload = bytes_of(std::int32_t{7}) + std::string(28, 't');
  tail.payload_bytes = 4;
  lane += record(tail);
  s.lanes = {lane};  // cut at 4096 bytes: the overlap keeps the first record's commit word
  auto r = RingReader::open(files.write(image(s)), OpenMode::observer);
  REQUIRE(r);
  Batch b;
  const auto st = r.value()->read_batch(0, 1000, 1 << 20, b);
  if (st)
    CHECK_MESSAGE(b.end - b.start <= kLaneBytes, b.records.size()
                                                     << " records from " << b.start << " to " << b.end);
}

TEST_CASE("an observer's drain() of a lane that does not exist is an error, not an exception") {
  // Errors are values at module edges; read_batch and the consumer's drain return an Error.
  Files files;
  auto r = RingReader::open(files.write(image(baseline())), OpenMode::observer);
  REQUIRE(r);
  bool error = false;
  try {
    error = !r.value()->drain(5, 16, [](const RecordView&) {});
  } catch (const std::exception& e) {
    FAIL_CHECK("drain threw " << std::string(e.what()));
  }
  CHECK(error);
}

// ---- costs a hostile file could once make the reader pay ----

namespace {

// The reader's resident memory in KiB.
long rss_kib() {
  const std::string status = test::read_file("/proc/self/status");
  const auto at = status.find("VmRSS:");
  REQUIRE(at != std::string::npos);
  return std::stol(status.substr(at + 6));
}

}  // namespace

TEST_CASE("a template asking for a billion-character field is rendered in bounded time") {
  // Before the fix one 48-byte record of site "{:1000000000}" had fmt pad the message to a
  // billion characters (16 s and ~1 GiB) before it was cut to max_message_bytes.
  Files files;
  for (const char* format : {"{:1000000000}", "{:.1000000000}", "{:{}}", "{0}{0}{0}{0}{0}{0}{0}{0}"}) {
    CAPTURE(format);
    StructuredSpec s = baseline();
    SiteSpec wide;
    wide.format = format;
    s.registry = site_entry(wide);
    if (std::string_view(format) == "{:{}}") {
      wide.types = "ii";
      s.registry = site_entry(wide);
      RecordSpec r;
      r.payload = bytes_of(std::int32_t{5}) + bytes_of(std::int32_t{2'000'000'000});
      s.lanes = {record(r)};
    }
    const std::string path = files.write(image(s));
    CHECK(finishes_within(
        [&] {
          auto r = RingReader::open(path, OpenMode::observer);
          std::string line;
          (void)r.value()->drain(0, 16, [&](const RecordView& v) {
            append_json_line(v, r.value()->info(), JsonOptions{}, line);
          });
        },
        std::chrono::milliseconds(5000)));
    for (const auto& line : test::peek_lines(path)) {
      CHECK(line.size() < 4096);
      CHECK(test::schema_error(line).empty());
    }
  }
}

TEST_CASE("a site id of 2^24 costs one entry, not a 16M-slot table") {
  Files files;
  StructuredSpec s = baseline();
  SiteSpec high;
  high.id = 1u << 24;
  high.format = "high {}";
  s.registry = site_entry(high);
  s.control.flags |= kRawSiteIds;
  RecordSpec r;
  r.site = high.id;
  s.lanes = {record(r)};
  const std::string path = files.write(image(s));
  const long before = rss_kib();
  auto reader = RingReader::open(path, OpenMode::observer);
  REQUIRE(reader);
  CHECK(reader.value()->load_sites() == 1);
  CHECK(rss_kib() - before < 16 * 1024);  // a dense table of 2^24 pointers was 128 MiB
  const SiteInfo* site = reader.value()->site(high.id);
  REQUIRE(site != nullptr);
  CHECK(site->format == "high {}");
  const auto lines = test::peek_lines(path);
  REQUIRE(lines.size() == 1);
  CHECK(test::field(lines[0], "message") == "high 5");
}

TEST_CASE("a record with 100k distinct context keys is formatted in bounded time") {
  // Finding keys shadowed by a later entry was quadratic: 52k keys took 5.8 s.
  SiteInfo site;
  site.id = 1;
  site.format = "many";
  RingInfo ring;
  RecordView rec;
  rec.site = &site;
  rec.site_id = 1;
  std::vector<std::string> keys;
  for (int i = 0; i < 100000; ++i) keys.push_back("k" + std::to_string(i));
  for (const auto& k : keys) {
    ContextEntry e;
    e.key = k;
    e.value.type = ring::ArgType::i64;
    e.value.i = 1;
    rec.context.push_back(e);
  }
  CHECK(finishes_within(
      [&] {
        std::string out;
        append_json_line(rec, ring, JsonOptions{}, out);
        if (out.find("\"k99999\":1}") == std::string::npos) _exit(1);
      },
      std::chrono::milliseconds(5000)));
}
