// The file sink. Every append follows the same steps: make sure the open file is still the one
// at the path (one stat per append: the drain appends once per round, and a stat costs about a
// microsecond), rotate if the piece would not fit or an hour/day has turned, write the piece
// whole or cut the file back, then sync as the policy says.
#include "sinks/file/rotating_file.hpp"

#include "sinks/file/backups.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace shmlog::sidecar {

namespace {

using SystemTime = std::chrono::system_clock::time_point;
using SteadyTime = std::chrono::steady_clock::time_point;

// Everything an open sink knows. Defined here rather than as RotatingFile::State itself so the
// helpers below, outside the class, may name it.
struct Sink {
  FileSinkOptions options;
  BackupSet backups;
  std::string path;
  int fd = -1;
  dev_t device = 0;  // which file `fd` is, to notice when the path names another one
  ino_t inode = 0;
  SystemTime started;    // when the open file got its first line: time rotation's reference
  SteadyTime last_sync;  // for FsyncPolicy::interval
  std::string trouble;   // a failure that did not stop this append; becomes last_error once it is written
  // The size the open file must be cut back to before anything else is written: a piece that
  // failed part way could not be cut off at once (ftruncate failed too).
  std::optional<std::uint64_t> pending_cut;
  FileSinkStats stats;

  Sink() = default;
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;
  ~Sink();
};

std::string errno_text(int err) {
  return std::strerror(err);
}

// 0, or the errno of the write that failed. O_APPEND puts every part at the end.
int write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;  // no progress (never for a regular file): do not spin
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return 0;
}

// Whether `now` lies in a later UTC hour or day than `started` (Unix time counts whole days from
// a UTC midnight, so flooring is enough). A clock set back never rotates.
bool boundary_passed(TimeRotation rotation, SystemTime started, SystemTime now) {
  using namespace std::chrono;
  switch (rotation) {
    case TimeRotation::none:
      return false;
    case TimeRotation::hourly:
      return floor<hours>(now) > floor<hours>(started);
    case TimeRotation::daily:
      return floor<days>(now) > floor<days>(started);
  }
  return false;
}

bool valid_stem(const std::string& stem) {
  return !stem.empty() && stem != "." && stem != ".." && stem.find('/') == std::string::npos;
}

// ---- opening and closing the live file ----

// The old file's last lines go to disk before it is let go, unless no syncing was asked for.
void close_file(Sink& s) {
  if (s.fd < 0) return;
  if (s.options.fsync != FsyncPolicy::none) ::fdatasync(s.fd);
  ::close(s.fd);
  s.fd = -1;
  s.pending_cut.reset();  // (the old file keeps what it has; nothing more is written to it)
}

Sink::~Sink() {
  close_file(*this);
}

int open_for_append(const Sink& s) {
  const auto mode = static_cast<mode_t>(s.options.mode);
  return ::open(s.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, mode);
}

// Opens (creating it, and the directory, if missing) the file at the path and takes its size,
// identity and age. An existing file with lines counts as started at its mtime: if that was in
// an earlier hour/day, time rotation moves it away at the first append.
Status open_file(Sink& s) {
  int fd = open_for_append(s);
  if (fd < 0 && errno == ENOENT) {
    if (::mkdir(s.options.dir.c_str(), 0750) != 0 && errno != EEXIST)
      return Error{"cannot create directory " + s.options.dir + ": " + errno_text(errno)};
    fd = open_for_append(s);
  }
  if (fd < 0) return Error{"cannot open " + s.path + ": " + errno_text(errno)};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Error{"cannot stat " + s.path + ": " + errno_text(err)};
  }
  // The umask may have taken bits away; readers (a log shipper in the group) rely on the mode.
  const auto mode = static_cast<mode_t>(s.options.mode & 07777);
  if ((st.st_mode & 07777) != mode && ::fchmod(fd, mode) != 0) {
    const int err = errno;
    ::close(fd);
    return Error{"cannot chmod " + s.path + ": " + errno_text(err)};
  }
  s.fd = fd;
  s.device = st.st_dev;
  s.inode = st.st_ino;
  s.stats.current_size = static_cast<std::uint64_t>(st.st_size);
  s.started = st.st_size > 0 ? modified_time(st) : std::chrono::system_clock::now();
  s.last_sync = std::chrono::steady_clock::now();
  return Ok{};
}

Status reopen_file(Sink& s) {
  close_file(s);
  return open_file(s);
}

// Reopens when the path no longer names the open file: an external logrotate moved it away
// (and perhaps created a new one), or someone deleted it. Else takes the file's real size, which
// a copytruncate may have reset behind our back.
Status follow_path(Sink& s) {
  if (s.fd < 0) return open_file(s);  // an earlier open failed: try again
  struct stat st {};
  if (::stat(s.path.c_str(), &st) != 0) {
    if (errno == ENOENT) return reopen_file(s);
    return Ok{};  // cannot tell (e.g. EACCES on the directory): keep the file we have
  }
  if (st.st_dev != s.device || st.st_ino != s.inode) return reopen_file(s);
  s.stats.current_size = static_cast<std::uint64_t>(st.st_size);
  return Ok{};
}

// ---- rotation ----

bool rotation_due(const Sink& s, std::size_t piece) {
  if (s.stats.current_size == 0) return false;  // an empty file has nothing to move away
  const std::uint64_t max = s.options.max_bytes;
  if (max > 0 && s.stats.current_size + piece > max) return true;
  return boundary_passed(s.options.time_rotation, s.started, std::chrono::system_clock::now());
}

// What a rotation does after the renames, none of which stops the lines from being written.
// gzip runs here, on the drain's thread: about a second per 100 MiB at level 1, during which the
// rings fill rather than drain. Rotations are rare (one per max_bytes), and doing it inline keeps
// one owner for every file in the directory; the rings are sized to ride out such pauses.
void after_rotation(Sink& s) {
  auto note = [&](const Status& step) {
    if (!step && s.trouble.empty()) s.trouble = step.error().message;
  };
  if (s.options.compress) note(compress_backups(s.backups));
  note(prune_backups(s.backups, s.options.max_age));
}

// Moves the live file to .1 (shifting the older ones) and opens a fresh one. If the renames fail
// before the live file moved, it stays open and the append still writes to it (a file over its
// limit beats lines lost); once it has moved, only a fresh file at the path will do.
Status rotate(Sink& s) {
  if (Status shifted = shift_backups(s.backups); !shifted) return shifted;
  ++s.stats.rotations;
  if (Status opened = reopen_file(s); !opened) return opened;
  after_rotation(s);
  return Ok{};
}

// ---- outcomes ----

Error fail(Sink& s, std::string message) {
  ++s.stats.write_errors;
  s.stats.last_error = message;
  s.trouble.clear();
  return Error{std::move(message)};
}

// Undoes a piece that did not fully reach the disk, so the file only ever holds whole pieces.
Error cut_back(Sink& s, std::uint64_t size_before, std::size_t piece, const std::string& what, int err) {
  std::string message = what + " " + std::to_string(piece) + " bytes to " + s.path + ": " + errno_text(err);
  if (::ftruncate(s.fd, static_cast<off_t>(size_before)) != 0) {
    message += "; and cannot cut it back to " + std::to_string(size_before) + " bytes: " + errno_text(errno);
    struct stat st {};
    if (::fstat(s.fd, &st) == 0) s.stats.current_size = static_cast<std::uint64_t>(st.st_size);
    s.pending_cut = size_before;  // no line is appended after a part of a piece
  } else {
    s.stats.current_size = size_before;
  }
  return fail(s, std::move(message));
}

// 0, or the errno of the failed fdatasync.
int sync_file(Sink& s) {
  if (s.fd < 0) return 0;
  s.last_sync = std::chrono::steady_clock::now();
  return ::fdatasync(s.fd) == 0 ? 0 : errno;
}

std::string sync_error(const Sink& s, int err) {
  return "cannot fsync " + s.path + ": " + errno_text(err);
}

// The interval policy's sync covers earlier pieces too, which can no longer be taken back: a
// failure is counted and reported, but this piece is written and the append succeeds.
void sync_if_interval_passed(Sink& s) {
  if (s.options.fsync != FsyncPolicy::interval) return;
  if (std::chrono::steady_clock::now() - s.last_sync < s.options.fsync_interval) return;
  if (int err = sync_file(s); err != 0) {
    ++s.stats.write_errors;
    s.stats.last_error = sync_error(s, err);
  }
}

std::uint64_t count_lines(std::string_view piece) {
  // memchr, not std::count: at -O2 GCC does not vectorise the count, and pieces are megabytes.
  std::uint64_t lines = 0;
  for (const char *p = piece.data(), *end = p + piece.size();
       (p = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)))) != nullptr;
       ++p)
    ++lines;
  return lines;
}

}  // namespace

// ---- the public face ----

struct RotatingFile::State : Sink {};

Result<RotatingFile> RotatingFile::open(const FileSinkOptions& options, std::string file_stem) {
  if (options.dir.empty()) return Error{"the file sink needs a directory"};
  if (!valid_stem(file_stem)) return Error{"'" + file_stem + "' is not a file name (see safe_file_stem)"};
  RotatingFile file;
  file.state_ = std::make_unique<State>();
  State& s = *file.state_;
  s.options = options;
  s.backups = BackupSet{options.dir, std::move(file_stem) + ".log", options.max_backups};
  s.path = s.backups.live_path();
  if (Status opened = open_file(s); !opened) return opened.error();
  // Leftovers of an earlier run: more backups than now wanted, old ones, half-written gzips.
  if (Status pruned = prune_backups(s.backups, options.max_age); !pruned)
    s.stats.last_error = pruned.error().message;
  return file;
}

RotatingFile::RotatingFile(RotatingFile&&) noexcept = default;
RotatingFile& RotatingFile::operator=(RotatingFile&&) noexcept = default;
RotatingFile::~RotatingFile() = default;

Status RotatingFile::append(std::string_view lines) {
  return append(lines, count_lines(lines));
}

Status RotatingFile::append(std::string_view lines, std::uint64_t line_count) {
  State& s = *state_;
  if (lines.empty()) return Ok{};
  if (Status followed = follow_path(s); !followed) return fail(s, followed.error().message);
  if (s.pending_cut) {
    if (::ftruncate(s.fd, static_cast<off_t>(*s.pending_cut)) != 0)
      return fail(s, "cannot cut " + s.path + " back to " + std::to_string(*s.pending_cut) +
                         " bytes after a failed write: " + errno_text(errno));
    s.stats.current_size = *s.pending_cut;
    s.pending_cut.reset();
  }
  if (rotation_due(s, lines.size())) {
    if (Status rotated = rotate(s); !rotated) {
      if (s.fd < 0) return fail(s, rotated.error().message);
      s.trouble = rotated.error().message;  // could not rename: write on, try again next time
    }
  }
  if (s.stats.current_size == 0) s.started = std::chrono::system_clock::now();

  const std::uint64_t size_before = s.stats.current_size;
  if (int err = write_all(s.fd, lines); err != 0)
    return cut_back(s, size_before, lines.size(), "cannot write", err);
  if (s.options.fsync == FsyncPolicy::always) {
    if (int err = sync_file(s); err != 0) return cut_back(s, size_before, lines.size(), "cannot fsync", err);
  }
  s.stats.bytes_written += lines.size();
  s.stats.lines_written += line_count;
  s.stats.current_size += lines.size();
  s.stats.last_error = std::exchange(s.trouble, {});
  sync_if_interval_passed(s);
  return Ok{};
}

Status RotatingFile::reopen() {
  if (Status reopened = reopen_file(*state_); !reopened) return fail(*state_, reopened.error().message);
  return Ok{};
}

Status RotatingFile::sync() {
  if (int err = sync_file(*state_); err != 0) return fail(*state_, sync_error(*state_, err));
  return Ok{};
}

const std::string& RotatingFile::path() const {
  return state_->path;
}
std::string RotatingFile::backup_path(unsigned n) const {
  return state_->backups.path(n);
}
const FileSinkStats& RotatingFile::stats() const {
  return state_->stats;
}

std::string safe_file_stem(std::string_view service) {
  constexpr std::size_t kMaxBytes = 100;
  std::string stem;
  for (char c : service.substr(0, kMaxBytes)) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
    stem.push_back(keep ? c : '_');
  }
  if (stem.empty()) return "unknown";
  if (stem.front() == '.') stem.front() = '_';  // no hidden files, and never "." or ".."
  return stem;
}

}  // namespace shmlog::sidecar
