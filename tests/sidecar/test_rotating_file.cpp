// The file sink against real files: pieces land whole or not at all, rotation by size and time
// keeps every line exactly once, backups are gzipped and pruned, an external logrotate is
// followed, and a full volume costs no partial line.
#include "sinks/file/gzip_file.hpp"
#include "sinks/file/rotating_file.hpp"
#include "support/test_dir.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

using namespace shmlog;
using namespace shmlog::sidecar;
using namespace std::chrono_literals;

namespace {

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::uint64_t size_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<std::uint64_t>(st.st_size);
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

void set_mtime(const std::string& path, std::chrono::system_clock::time_point when) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
  const timespec t{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  const timespec times[2] = {t, t};
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
}

std::string gunzip(const std::string& path) {
  gzFile gz = gzopen(path.c_str(), "rb");
  REQUIRE(gz != nullptr);
  std::string out;
  char buf[4096];
  for (int n; (n = gzread(gz, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  const bool clean_end = gzeof(gz) != 0;
  gzclose(gz);
  CHECK(clean_end);
  return out;
}

// `lines` lines of about `width` bytes, each naming its piece and its place in it.
std::string piece(int id, int lines, std::size_t width = 40) {
  std::string out;
  for (int j = 0; j < lines; ++j) {
    std::string line = "{\"piece\":" + std::to_string(id) + ",\"line\":" + std::to_string(j) + ",\"pad\":\"";
    line.append(width > line.size() + 3 ? width - line.size() - 3 : 0, 'x');
    out += line + "\"}\n";
  }
  return out;
}

FileSinkOptions options_in(const test::TempDir& dir) {
  FileSinkOptions o;
  o.dir = dir.file("logs");
  return o;
}

RotatingFile open_sink(const FileSinkOptions& options, const std::string& stem = "app") {
  auto file = RotatingFile::open(options, stem);
  REQUIRE_MESSAGE(file.ok(), file.error().message);
  return std::move(file).value();
}

void append_ok(RotatingFile& file, const std::string& lines) {
  const Status s = file.append(lines);
  REQUIRE_MESSAGE(s.ok(), s.error().message);
}

// The live file and its plain backups, oldest first.
std::vector<std::string> files_oldest_first(const RotatingFile& file, unsigned max_backups) {
  std::vector<std::string> out;
  for (unsigned n = max_backups; n >= 1; --n)
    if (exists(file.backup_path(n))) out.push_back(test::read_file(file.backup_path(n)));
  out.push_back(test::read_file(file.path()));
  return out;
}

// How many file descriptors of this process have `path` open.
int open_descriptors_of(const std::string& path) {
  int count = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    std::error_code link_ec;
    if (std::filesystem::read_symlink(entry.path(), link_ec).string() == path) ++count;
  }
  return count;
}

// A tmpfs of `bytes` at `dir`, unmounted on every way out; mounted() is false where this process
// may not mount (not root, no CAP_SYS_ADMIN).
class SmallVolume {
 public:
  SmallVolume(const std::string& dir, std::size_t bytes) : dir_(dir) {
    ::mkdir(dir.c_str(), 0755);
    const std::string data = "size=" + std::to_string(bytes);
    mounted_ = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, data.c_str()) == 0;
    if (!mounted_) error_ = std::strerror(errno);
  }
  SmallVolume(const SmallVolume&) = delete;
  SmallVolume& operator=(const SmallVolume&) = delete;
  ~SmallVolume() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string error_;
};

std::string incompressible(std::size_t bytes) {
  std::mt19937 random(42);
  std::string out(bytes, '\0');
  for (char& c : out) c = static_cast<char>(random() & 0xff);
  return out;
}

}  // namespace

TEST_CASE("safe_file_stem keeps [A-Za-z0-9._-], replaces the rest, and never hides the file") {
  CHECK(safe_file_stem("checkout-api_v2.1") == "checkout-api_v2.1");
  CHECK(safe_file_stem("a/b c") == "a_b_c");
  CHECK(safe_file_stem("") == "unknown");
  CHECK(safe_file_stem(".hidden") == "_hidden");
  CHECK(safe_file_stem("..") == "_.");
  CHECK(safe_file_stem("caf\xc3\xa9") == "caf__");
  CHECK(safe_file_stem(std::string(300, 'a')) == std::string(100, 'a'));
}

TEST_CASE("open creates the directory and the file with the configured mode, whatever the umask") {
  test::TempDir dir;
  const mode_t old_umask = ::umask(0077);
  FileSinkOptions options = options_in(dir);
  SUBCASE("the default 0640") {
    RotatingFile file = open_sink(options);
    CHECK(file.path() == dir.file("logs/app.log"));
    CHECK(mode_of(file.path()) == 0640);
  }
  SUBCASE("options.mode, also on a file that exists with another mode") {
    ::mkdir(options.dir.c_str(), 0750);
    test::write_file(dir.file("logs/app.log"), "old\n");
    ::chmod(dir.file("logs/app.log").c_str(), 0600);
    options.mode = 0644;
    RotatingFile file = open_sink(options);
    CHECK(mode_of(file.path()) == 0644);
    CHECK(file.stats().current_size == 4);
  }
  ::umask(old_umask);
}

TEST_CASE("open refuses what cannot be a log file, naming it") {
  test::TempDir dir;
  FileSinkOptions options = options_in(dir);
  CHECK_FALSE(RotatingFile::open(options, "a/b").ok());
  CHECK_FALSE(RotatingFile::open(options, "").ok());
  options.dir = "";
  CHECK_FALSE(RotatingFile::open(options, "app").ok());
  options.dir = dir.file("plain-file");
  test::write_file(options.dir, "x");
  auto file = RotatingFile::open(options, "app");
  REQUIRE_FALSE(file.ok());
  CHECK(file.error().message.find(options.dir) != std::string::npos);
}

TEST_CASE("append writes the piece and counts its bytes and lines") {
  test::TempDir dir;
  RotatingFile file = open_sink(options_in(dir));
  append_ok(file, "one\ntwo\n");
  append_ok(file, "three\n");
  CHECK(file.append("").ok());
  CHECK(test::read_file(file.path()) == "one\ntwo\nthree\n");
  CHECK(file.stats().bytes_written == 14);
  CHECK(file.stats().lines_written == 3);
  CHECK(file.stats().current_size == 14);
  CHECK(file.stats().rotations == 0);
  CHECK(file.stats().write_errors == 0);
  CHECK(file.stats().last_error.empty());
}

TEST_CASE("an existing file is appended to, not truncated") {
  test::TempDir dir;
  ::mkdir(dir.file("logs").c_str(), 0750);
  test::write_file(dir.file("logs/app.log"), "before\n");
  RotatingFile file = open_sink(options_in(dir));
  append_ok(file, "after\n");
  CHECK(test::read_file(file.path()) == "before\nafter\n");
}

TEST_CASE("size rotation keeps every line exactly once and never splits a piece") {
  test::TempDir dir;
  FileSinkOptions options = options_in(dir);
  options.max_bytes = 1000;
  options.max_backups = 100;  // keep everything, to find every line again
  RotatingFile file = open_sink(options);

  std::string everything;
  std::vector<std::size_t> piece_ends;  // offsets in `everything` where a piece ends
  std::uint64_t lines = 0;
  for (int i = 0; i < 120; ++i) {
    const std::string p = piece(i, 1 + i % 5);
    append_ok(file, p);
    everything += p;
    piece_ends.push_back(everything.size());
    lines += static_cast<std::uint64_t>(1 + i % 5);
  }

  const std::vector<std::string> files = files_oldest_first(file, options.max_backups);
  REQUIRE(files.size() > 5);
  CHECK(file.stats().rotations == files.size() - 1);
  CHECK(file.stats().lines_written == lines);
  CHECK(file.stats().current_size == files.back().size());
  std::string joined;
  for (std::size_t k = 0; k < files.size(); ++k) {
    CAPTURE(k);
    CHECK(files[k].size() <= options.max_bytes);
    joined += files[k];
    const auto end = std::find(piece_ends.begin(), piece_ends.end(), joined.size());
    REQUIRE_MESSAGE(end != piece_ends.end(), "a file does not end where a piece ends");
    // Rotated only when the next piece would not have fitted.
    if (k + 1 < files.size()) CHECK(files[k].size() + (*(end + 1) - *end) > options.max_bytes);
  }
  CHECK(joined == everything);
}

TEST_CASE("a piece larger than max_bytes goes alone into a fresh file") {
  test::TempDir dir;
  FileSinkOptions options = options_in(dir);
  options.max_bytes = 100;
  RotatingFile file = open_sink(options);
  const std::string big = piece(1, 10);  // 400 bytes
  append_ok(file, "small one\n");
  append_ok(file, big);
  append_ok(file, "small two\n");
  CHECK(test::read_file(file.backup_path(2)) == "small one\n");
  CHECK(test::read_file(file.backup_path(1)) == big);
  CHECK(test::read_file(file.path()) == "small two\n");
  CHECK(file.stats().rotations == 2);
}

TEST_CASE("rotation keeps at most max_backups; open deletes strays beyond it") {
  test::TempDir dir;
  FileSinkOptions options = options_in(dir);
  options.max_bytes = 10;
  options.max_backups = 2;

  SUBCASE("by rotation") {
    RotatingFile file = open_sink(options);
    for (int i = 0; i < 6; ++i) append_ok(file, "piece " + std::to_string(i) + "\n");
    CHECK(test::read_file(file.path()) == "piece 5\n");
    CHECK(test::read_file(file.backup_path(1)) == "piece 4\n");
    CHECK(test::read_file(file.backup_path(2)) == "piece 3\n");
    CHECK_FALSE(exists(file.backup_path(3)));
    CHECK(file.stats().rotations == 5);
  }
  SUBCASE("on open") {
    ::mkdir(options.dir.c_str(), 0750);
    for (const char* name : {"app.log.1", "app.log.2.gz", "app.log.3", "app.log.7.gz", "app.log.1.gz.tmp",
                             "app.log.x", "app.log.03", "other.log.5", "app.log.2.log"})
      test::write_file(options.dir + "/" + name, "x\n");
    RotatingFile file = open_sink(options);
    for (const char* gone : {"app.log.3", "app.log.7.gz", "app.log.1.gz.tmp"})
      CHECK_MESSAGE(!exists(options.dir + "/" + gone), gone);
    for (const char* kept :
         {"app.log.1", "app.log.2.gz", "app.log.x", "app.log.03", "other.log.5", "app.log.2.log"})
      CHECK_MESSAGE(exists(options.dir + "/" + kept), kept);
  }
}

TEST_CASE("with max_backups 0 a rotation replaces the file") {
  test::TempDir dir;
  FileSinkOptions options = options_in(dir);
  options.max_bytes = 10;
  options.max_backups = 0;
  RotatingFile file = open_sink(options);
  append_ok(file, "first piece\n");
  append_ok(file, "second piece\n");
  CHECK(test::read_file(file.path()) == "second piece\n");
  CHECK_FALSE(exists(file.backup_path(1)));
  CHECK(file.stats().rotations == 1);
}

TEST_CASE("a rotation that cannot rename keeps writing to the live file, says so, and retries") {
  test::TempDir dir;
  FileSinkOptions options = options_in(dir);
  options.max_bytes = 10;
  options.max_backups = 1;
  RotatingFile file = open_sink(options);
  append_ok(file, "first piece\n");
  REQUIRE(::mkdir(file.backup_path(1).c_str(), 0750) == 0);  // .1 cannot be deleted to make room
  append_ok(file, "second piece\n");
  CHECK(test::read_file(file.path()) == "first piece\nsecond piece\n");
  CHECK(file.stats().rotations == 0);
  CHECK(file.stats().write_errors == 0);
  CHECK(file.stats().last_error.find(file.backup_path(1)) != std::string::npos);

  REQUIRE(::rmdir(file.backup_path(1).c_str()) == 0);
  append_ok(file, "third piece\n");
  CHECK(test::read_file(file.backup_path(1)) == "first piece\nsecond piece\n");
  CHECK(test::read_file(file.path()) == "third piece\n");
  CHECK(file.stats().rotations == 1);
  CHECK(file.stats().last_error.empty());
}

TEST_CASE("compress: .1 stays plain, older backups become .gz with exactly the bytes rotated out") {
  test::TempDir dir;
  FileSinkOptions options = options_in(dir);
  options.max_bytes = 10'000;
  options.max_backups = 4;
  options.compress = true;
  RotatingFile file = open_sink(options);
  std::vector<std::string> pieces;
  for (int i = 0; i < 4; ++i) {
    pieces.push_back(piece(i, 80, 100));  // 8000 bytes: each append after the first rotates
    append_ok(file, pieces.back());
  }
  CHECK(file.stats().last_error.empty());
  CHECK(test::read_file(file.path()) == pieces[3]);
  CHECK(test::read_file(file.backup_path(1)) == pieces[2]);
  CHECK_FALSE(exists(file.backup_path(1) + ".gz"));
  for (unsigned n : {2u, 3u}) {
    CAPTURE(n);
    CHECK_FALSE(exists(file.backup_path(n)));
    CHECK_FALSE(exists(file.backup_path(n) + ".gz.tmp"));
    REQUIRE(exists(file.backup_path(n) + ".gz"));
    CHECK(size_of(file.backup_path(n) + ".gz") < pieces[0].size() / 2);
    CHECK(mode_of(file.backup_path(n) + ".gz") == 0640);
  }
  CHECK(gunzip(file.backup_path(2) + ".gz") == pieces[1]);
  CHECK(gunzip(file.backup_path(3) + ".gz") == pieces[0]);
}

TEST_CASE("gzip_file keeps the mtime, and on failure names the file and leaves nothing behind") {
  test::TempDir dir;
  const std::string path = dir.file("x.log.2");
  SUBCASE("the mtime age retention reads") {
    test::write_file(path, "line\n");
    const auto then = std::chrono::system_clock::now() - 3h;
    set_mtime(path, then);
    REQUIRE(gzip_file(path).ok());
    struct stat st {};
    REQUIRE(::stat((path + ".gz").c_str(), &st) == 0);
    CHECK(st.st_mtim.tv_sec == std::chrono::system_clock::to_time_t(then));
    CHECK(gunzip(path + ".gz") == "line\n");
  }
  SUBCASE("a missing file") {
    const Status s = gzip_file(path);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().message.find(path) != std::string::npos);
    CHECK(s.error().message.find(std::strerror(ENOENT)) != std::string::npos);
    CHECK_FALSE(exists(path + ".gz"));
    CHECK_FALSE(exists(path + ".gz.tmp"));
  }
}

TEST_CASE("time rotation: a file last written in an earlier period is moved away at the first append") {
  test::TempDir dir;
  FileSinkOptions options = options_in(dir);
  ::mkdir(options.dir.c_str(), 0750);
  const std::string path = options.dir + "/app.log";
  test::write_file(path, "old\n");
  SUBCASE("hourly") {
    options.time_rotation = TimeRotation::hourly;
    set_mtime(path, std::chrono::system_clock::now() - 2h);
  }
  SUBCASE("daily") {
    options.time_rotation = TimeRotation::daily;
    set_mtime(path, std::chrono::system_clock::now() - 48h);
  }
  RotatingFile file = open_sink(options);
  append_ok(file, "new\n");
  CHECK(test::read_file(file.backup_path(1)) == "old\n");
  CHECK(test::read_file(file.path()) == "new\n");
  CHECK(file.stats().rotations == 1);
  const auto hour = std::chrono::floor<std::chrono::hours>(std::chrono::system_clock::now());
  append_ok(file, "newer\n");
  // The fresh file started in this period (unless the hour turned just now).
  if (hour == std::chrono::floor<std::chrono::hours>(std::chrono::system_clock::now())) {
    CHECK(file.stats().rotations == 1);
    CHECK(test::read_file(file.path()) == "new\nnewer\n");
  }
}

TEST_CASE("time rotation leaves a file of the current period alone") {
  test::TempDir dir;
  FileSinkOptions options = options_in(dir);
  options.time_rotation = TimeRotation::hourly;
  ::mkdir(options.dir.c_str(), 0750);
  test::write_file(options.dir + "/app.log", "this hour\n");
  const auto hour = std::chrono::floor<std::chrono::hours>(std::chrono::system_clock::now());
  RotatingFile file = open_sink(options);
  append_ok(file, "still this hour\n");
  if (hour == std::chrono::floor<std::chrono::hours>(std::chrono::system_clock::now()))
    CHECK(file.stats().rotations == 0);
}

TEST_CASE("age retention deletes backups older than max_age, on open and after a rotation") {
  test::TempDir dir;
  FileSinkOptions options = options_in(dir);
  options.max_age = 1h;
  options.max_bytes = 10;
  ::mkdir(options.dir.c_str(), 0750);
  const auto now = std::chrono::system_clock::now();
  for (const char* name : {"app.log.1", "app.log.2", "app.log.3.gz"})
    test::write_file(options.dir + "/" + name, "x\n");
  set_mtime(options.dir + "/app.log.2", now - 3h);
  set_mtime(options.dir + "/app.log.3.gz", now - 5h);

  RotatingFile file = open_sink(options);
  CHECK(exists(file.backup_path(1)));
  CHECK_FALSE(exists(file.backup_path(2)));
  CHECK_FALSE(exists(file.backup_path(3) + ".gz"));

  set_mtime(file.backup_path(1), now - 2h);  // becomes .2 at the next rotation, and goes
  append_ok(file, "first piece\n");
  append_ok(file, "second piece\n");  // rotates
  CHECK(test::read_file(file.backup_path(1)) == "first piece\n");
  CHECK_FALSE(exists(file.backup_path(2)));
}

TEST_CASE("reopen() after an external logrotate moved the file starts a new one at the path") {
  test::TempDir dir;
  RotatingFile file = open_sink(options_in(dir));
  append_ok(file, "before\n");
  REQUIRE(::rename(file.path().c_str(), (file.path() + ".moved").c_str()) == 0);
  REQUIRE(file.reopen().ok());
  append_ok(file, "after\n");
  CHECK(test::read_file(file.path()) == "after\n");
  CHECK(test::read_file(file.path() + ".moved") == "before\n");
}

TEST_CASE("append notices by itself when the path no longer names the open file") {
  test::TempDir dir;
  RotatingFile file = open_sink(options_in(dir));
  append_ok(file, "before\n");
  const std::string moved = file.path() + ".moved";
  SUBCASE("moved away") {
    REQUIRE(::rename(file.path().c_str(), moved.c_str()) == 0);
    append_ok(file, "after\n");
    CHECK(test::read_file(moved) == "before\n");
  }
  SUBCASE("moved away and replaced by a new file (logrotate's create)") {
    REQUIRE(::rename(file.path().c_str(), moved.c_str()) == 0);
    test::write_file(file.path(), "");
    append_ok(file, "after\n");
    CHECK(test::read_file(moved) == "before\n");
  }
  SUBCASE("deleted") {
    REQUIRE(::unlink(file.path().c_str()) == 0);
    append_ok(file, "after\n");
  }
  SUBCASE("truncated in place (logrotate's copytruncate)") {
    REQUIRE(::truncate(file.path().c_str(), 0) == 0);
    append_ok(file, "after\n");
  }
  CHECK(test::read_file(file.path()) == "after\n");
  CHECK(file.stats().current_size == 6);
  CHECK(mode_of(file.path()) == 0640);
}

TEST_CASE("a full volume: the append fails whole, and succeeds again once there is room") {
  test::TempDir dir;
  SmallVolume volume(dir.file("vol"), 64 << 10);
  if (!volume.mounted()) {
    MESSAGE("skipped: cannot mount a tmpfs here (" << volume.error() << ")");
    return;
  }
  FileSinkOptions options;
  options.dir = dir.file("vol");
  const std::string filler = options.dir + "/filler";
  test::write_file(filler, std::string(16 << 10, 'f'));
  RotatingFile file = open_sink(options);

  const std::string p = piece(7, 30, 100);  // 3000 bytes: not a whole number of pages
  int written = 0;
  Status failed = Ok{};
  for (int i = 0; i < 100 && failed.ok(); ++i) {
    failed = file.append(p);
    if (failed.ok()) ++written;
  }
  REQUIRE_FALSE(failed.ok());
  CHECK(written > 0);
  const std::string message = failed.error().message;
  CHECK(message.find(file.path()) != std::string::npos);
  CHECK(message.find(std::strerror(ENOSPC)) != std::string::npos);
  const std::string content = test::read_file(file.path());
  CHECK(content.size() % p.size() == 0);
  CHECK(content.back() == '\n');
  CHECK(content.size() == p.size() * static_cast<std::size_t>(written));
  CHECK(file.stats().write_errors == 1);
  CHECK(file.stats().last_error == message);
  CHECK(file.stats().current_size == content.size());

  REQUIRE(::unlink(filler.c_str()) == 0);
  append_ok(file, p);
  CHECK(file.stats().last_error.empty());
  CHECK(test::read_file(file.path()).size() == p.size() * static_cast<std::size_t>(written + 1));
}

TEST_CASE("gzip_file on a full volume fails whole: the plain file stays, no .gz or .gz.tmp") {
  test::TempDir dir;
  SmallVolume volume(dir.file("vol"), 64 << 10);
  if (!volume.mounted()) {
    MESSAGE("skipped: cannot mount a tmpfs here (" << volume.error() << ")");
    return;
  }
  const std::string path = dir.file("vol/app.log.2");
  const std::string data = incompressible(40 << 10);  // the .gz needs as much again: it cannot fit
  test::write_file(path, data);
  const Status s = gzip_file(path);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().message.find(path) != std::string::npos);
  CHECK(s.error().message.find(std::strerror(ENOSPC)) != std::string::npos);
  CHECK(test::read_file(path) == data);
  CHECK_FALSE(exists(path + ".gz"));
  CHECK_FALSE(exists(path + ".gz.tmp"));
}

TEST_CASE("moving hands the open file over; destruction closes it") {
  test::TempDir dir;
  std::string path;
  {
    RotatingFile first = open_sink(options_in(dir));
    path = first.path();
    CHECK(open_descriptors_of(path) == 1);
    RotatingFile second = std::move(first);
    append_ok(second, "via the moved-to object\n");
    RotatingFile third = open_sink(options_in(dir), "other");
    third = std::move(second);  // closes "other"
    CHECK(open_descriptors_of(dir.file("logs/other.log")) == 0);
    append_ok(third, "and again\n");
    CHECK(open_descriptors_of(path) == 1);
  }
  CHECK(open_descriptors_of(path) == 0);
  CHECK(test::read_file(path) == "via the moved-to object\nand again\n");
}

TEST_CASE("fsync policies write as usual; sync() succeeds") {
  test::TempDir dir;
  FileSinkOptions options = options_in(dir);
  SUBCASE("always") {
    options.fsync = FsyncPolicy::always;
  }
  SUBCASE("interval") {
    options.fsync = FsyncPolicy::interval;
    options.fsync_interval = 0ms;
  }
  SUBCASE("none") {
    options.fsync = FsyncPolicy::none;
  }
  RotatingFile file = open_sink(options);
  append_ok(file, "one\n");
  append_ok(file, "two\n");
  CHECK(file.sync().ok());
  CHECK(file.stats().write_errors == 0);
  CHECK(test::read_file(file.path()) == "one\ntwo\n");
}
