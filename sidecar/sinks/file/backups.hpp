// The numbered backups of one log file, <dir>/<name>.1 .. .N, each plain or gzipped (.gz): the
// renames of a rotation, their compression and their pruning by count and age. RotatingFile
// decides when; this file knows the names.
#pragma once

#include <shmlog/result.hpp>

#include <chrono>
#include <string>

#include <sys/stat.h>

namespace shmlog::sidecar {

struct BackupSet {
  std::string dir;
  std::string log_name;  // "<stem>.log": the live file; backups are "<log_name>.<n>[.gz]"
  unsigned max_backups = 0;

  std::string live_path() const { return dir + "/" + log_name; }
  std::string path(unsigned n) const { return live_path() + "." + std::to_string(n); }
};

// When a file was last written, as stat(2) says.
inline std::chrono::system_clock::time_point modified_time(const struct stat& st) {
  using namespace std::chrono;
  return system_clock::time_point{
      duration_cast<system_clock::duration>(seconds{st.st_mtim.tv_sec} + nanoseconds{st.st_mtim.tv_nsec})};
}

// A rotation's renames: deletes .N, moves .k to .k+1 for k = N-1..1 (plain and .gz alike), then
// the live file to .1; with no backups kept, deletes the live file. Stops at the first failure,
// and always before the live file is touched, so a failed shift loses no backup and leaves the
// live file where it was.
Status shift_backups(const BackupSet& set);

// gzips every plain backup from .2 on: normally just the one that has just become .2, but also
// any that an earlier failure, a crash or a run without compression left plain. Tries them all;
// the error names the first failure.
Status compress_backups(const BackupSet& set);

// Deletes what should not be there: backups numbered past max_backups, .gz.tmp files of an
// interrupted gzip, and (if max_age > 0) backups last written more than max_age ago. Tries them
// all; the error names the first failure.
Status prune_backups(const BackupSet& set, std::chrono::seconds max_age);

}  // namespace shmlog::sidecar
