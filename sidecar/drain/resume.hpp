// Resuming after a kill -9 without writing a record twice. The drain writes a round's lines,
// then moves the ring cursors; a sidecar killed in between leaves lines on disk whose records
// are still in the rings. On start, the tail of each output file is indexed, and the records at
// each lane's cursor that are already there are skipped (and taken) instead of written again.
//
// A line is matched without its timestamp: the reader re-estimates the TSC rate as a ring ages,
// so the same record can convert a few nanoseconds differently in the new process. What is left
// (service, pod, container, pid, tid, seq, message, context) identifies a record.
#pragma once

#include <shmlog/result.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>

namespace shmlog::sidecar {

class ResumeIndex {
 public:
  // Indexes the last `max_bytes` of `path` (nothing if it does not exist). A last line without
  // its '\n' (a write cut short) is removed from the file first: its records are still in the
  // rings, uncommitted, and will be written whole.
  // (On the heap and never moved: the index holds views into the tail's bytes.)
  static Result<std::unique_ptr<ResumeIndex>> load(const std::string& path, std::size_t max_bytes);

  // True if `line` (as append_json_line makes it, '\n' included or not) is in the tail.
  bool contains(std::string_view line) const;
  std::size_t size() const { return keys_.size(); }

 private:
  static std::string_view key(std::string_view line);
  std::string tail_;
  std::unordered_set<std::string_view> keys_;
};

}  // namespace shmlog::sidecar
