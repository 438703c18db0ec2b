// Resuming after a kill -9 without writing a record twice. The drain writes a round's lines,
// then moves the ring cursors; a sidecar killed in between leaves lines on disk whose records
// are still in the rings. On start, the tail of each output file is indexed, and the records at
// each lane's cursor that are already there are skipped (and taken) instead of written again.
//
// A line matches when everything but its timestamp is the same and the timestamps are within a
// millisecond: the reader re-estimates the TSC rate as a ring ages, so the same record can
// convert a few nanoseconds differently in the new process; but an app restarted in its
// container has the same pid, tid and seq numbers again, and may log the same lines, so the
// time must still tell two runs apart.
#pragma once

#include <shmlog/result.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace shmlog::sidecar {

class ResumeIndex {
 public:
  // Indexes the last `max_bytes` of `path` (nothing if it does not exist). A last line without
  // its '\n' (a write cut short) is removed from the file first: its records are still in the
  // rings, uncommitted, and will be written whole.
  // (On the heap and never moved: the index holds views into the tail's bytes.)
  static Result<std::unique_ptr<ResumeIndex>> load(const std::string& path, std::size_t max_bytes);

  // Only the first part of load(): the torn last line cut off, nothing indexed (a file opened
  // when no ring needs resuming).
  static Status cut_torn_tail(const std::string& path, std::size_t max_bytes);

  // True if `line` (as append_json_line makes it, '\n' included or not) is in the tail.
  bool contains(std::string_view line) const;
  std::size_t size() const { return keys_.size(); }

 private:
  static Result<std::unique_ptr<ResumeIndex>> read(const std::string& path, std::size_t max_bytes,
                                                   bool index_lines);
  static std::string_view key(std::string_view line);
  std::string tail_;
  std::unordered_multimap<std::string_view, std::int64_t> keys_;  // -> timestamp in ns
};

}  // namespace shmlog::sidecar
