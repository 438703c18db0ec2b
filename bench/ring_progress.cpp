#include "ring_progress.hpp"

#include <shmlog/ring_format.hpp>

#include <algorithm>
#include <filesystem>
#include <system_error>

namespace shmlog_bench {

std::optional<RingProgress> RingProgress::open(const std::string& ring_dir, std::string& error) {
  RingProgress p;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(ring_dir, ec)) {
    const std::string path = entry.path().string();
    if (!entry.is_regular_file() || !path.ends_with(shmlog::ring::kFileSuffix)) continue;
    auto reader = shmlog::RingReader::open(path, shmlog::OpenMode::observer);
    if (!reader) {
      error = reader.error().message;
      return std::nullopt;
    }
    p.rings_.push_back(std::move(reader.value()));
  }
  if (ec) {
    error = "cannot list " + ring_dir + ": " + ec.message();
    return std::nullopt;
  }
  if (p.rings_.empty()) {
    error = "no ring file in " + ring_dir;
    return std::nullopt;
  }
  return p;
}

RingProgress::Sample RingProgress::sample() const {
  Sample s;
  s.at = Clock::now();
  for (const auto& ring : rings_)
    for (std::uint32_t lane = 0; lane < ring->info().lane_count; ++lane) {
      const shmlog::LaneState st = ring->lane_state(lane);
      s.read += st.read_pos;
      s.written += std::max(st.write_pos, st.read_pos);
    }
  return s;
}

}  // namespace shmlog_bench
