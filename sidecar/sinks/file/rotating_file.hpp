// The file sink: `<dir>/<service>.log`, appended whole lines at a time, rotated to numbered
// backups by size (and optionally by the hour or day), backups optionally gzipped, pruned by
// count and age. The drain hands it the lines of one round; it either writes them all or
// nothing (a short write, e.g. on a full volume, is cut back), so the ring cursors it guards
// never move past a line that is not on disk.
#pragma once

#include <shmlog/result.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace shmlog::sidecar {

enum class TimeRotation { none, hourly, daily };
enum class FsyncPolicy { none, interval, always };

struct FileSinkOptions {
  std::string dir;                                  // created if missing (one level)
  std::uint64_t max_bytes = 100ull << 20;           // rotate before a write would pass this; 0: no limit
  unsigned max_backups = 5;                         // <service>.log.1 .. .N; older ones are deleted
  TimeRotation time_rotation = TimeRotation::none;  // also rotate at the top of each hour/day (UTC)
  bool compress = false;                            // gzip backups from .2 on (.1 stays plain: readers
                                                    // such as the Loki shipper finish it after a rotation)
  std::chrono::seconds max_age{0};                  // delete backups older than this; 0: keep by count only
  FsyncPolicy fsync = FsyncPolicy::none;            // always: fsync after every append
  std::chrono::milliseconds fsync_interval{1000};   // for FsyncPolicy::interval
  unsigned mode = 0640;
};

struct FileSinkStats {
  std::uint64_t bytes_written = 0;
  std::uint64_t lines_written = 0;  // '\n' in the pieces written
  std::uint64_t rotations = 0;
  std::uint64_t write_errors = 0;  // appends, reopens and syncs that failed
  std::uint64_t current_size = 0;  // of <stem>.log
  // The last failure: of a write, a sync, or of a rotation, gzip or pruning step that did not
  // stop the lines from being written (a rotation that cannot rename keeps writing to the live
  // file, and is tried again at the next append). Empty once an append succeeds with no failure.
  std::string last_error;
};

// Owned and driven by one thread (the drain); not thread-safe. A moved-from RotatingFile may only
// be destroyed or assigned to.
class RotatingFile {
 public:
  // Opens (creating, mode options.mode) <dir>/<file_stem>.log for appending. `file_stem` is a
  // service name already made safe for a file name (see safe_file_stem).
  static Result<RotatingFile> open(const FileSinkOptions& options, std::string file_stem);
  RotatingFile(RotatingFile&&) noexcept;
  RotatingFile& operator=(RotatingFile&&) noexcept;
  ~RotatingFile();

  // Appends `lines` (whole lines, each ending in '\n') in one piece: rotates first when the
  // file would pass max_bytes (a piece larger than max_bytes goes alone into a fresh file) or a
  // time boundary has passed. On any failure the file is cut back to its previous size and the
  // error says what failed and where; nothing partial stays. With compression on, the append
  // that rotates also gzips the new .2 before it returns (see rotating_file.cpp for the cost).
  Status append(std::string_view lines);
  // The same, for a caller that knows how many lines the piece holds (the drain does): the
  // piece is not scanned again to count them.
  Status append(std::string_view lines, std::uint64_t line_count);

  // Closes and reopens the path (SIGHUP, or an external logrotate that moved the file away;
  // append() also notices by itself when the path's inode is no longer the open file's).
  Status reopen();

  // fdatasync now (shutdown, or the interval policy's timer). The destructor also syncs unless
  // the policy is none.
  Status sync();

  const std::string& path() const;            // <dir>/<stem>.log
  std::string backup_path(unsigned n) const;  // <dir>/<stem>.log.<n> (no .gz suffix)
  const FileSinkStats& stats() const;

 private:
  RotatingFile() = default;
  struct State;
  std::unique_ptr<State> state_;
};

// A service name as a file name: [A-Za-z0-9._-] kept, everything else '_', no leading '.',
// at most 100 bytes, "unknown" when empty.
std::string safe_file_stem(std::string_view service);

}  // namespace shmlog::sidecar
