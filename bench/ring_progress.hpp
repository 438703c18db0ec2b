// How far a sidecar has drained rings that nobody writes any more, read from the rings
// themselves: the sum over every lane of read_pos (the sidecar moves it once a batch's lines are
// written) against the sum of write_pos. An observer mapping costs the sidecar nothing (no
// request, no signal), so the bench can watch the drain in windows of a fraction of a second.
#pragma once

#include "sidecar_run.hpp"

#include <shmlog/reader.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace shmlog_bench {

class RingProgress {
 public:
  struct Sample {
    Clock::time_point at;
    std::uint64_t read = 0;     // bytes of records drained
    std::uint64_t written = 0;  // bytes of records written into the rings
    bool drained() const { return read >= written; }
  };

  // Maps every ring file of `ring_dir` as an observer; an error names the file. The mappings
  // outlive the files (the sidecar removes a drained ring whose writer is gone).
  static std::optional<RingProgress> open(const std::string& ring_dir, std::string& error);

  Sample sample() const;

 private:
  std::vector<std::unique_ptr<shmlog::RingReader>> rings_;
};

}  // namespace shmlog_bench
