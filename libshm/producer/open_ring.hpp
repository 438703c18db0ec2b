// A ring file this process has created and writes to. Internal to libshm.
#pragma once

#include <shmlog/config.hpp>
#include <shmlog/detail/producer.hpp>
#include <shmlog/result.hpp>
#include <shmlog/ring_format.hpp>

#include <boost/interprocess/mapped_region.hpp>
#include <memory>
#include <mutex>
#include <string>

namespace shmlog::detail {

struct OpenRing {
  boost::interprocess::mapped_region region;
  int lock_fd = -1;  // holds the writer's liveness lock; closed only by a forked child
  std::string path;
  ring::FileHeader* header = nullptr;
  ring::LaneDescriptor* lanes = nullptr;
  std::byte* data = nullptr;
  std::byte* sites = nullptr;
  ring::Layout layout{};
  std::uint64_t headroom_bytes = 0;
  std::uint32_t max_record_bytes = 0;
  std::uint32_t max_string_bytes = 0;
  std::uint32_t block_timeout_us = 0;  // 0: OverflowPolicy::drop
  bool tsc = false;
  std::uint16_t generation = 0;  // the process generation this ring was opened in
  // Lane 0 is shared by threads that found no free lane; its writer state lives here, behind
  // a process-local lock (never a lock inside the file).
  std::mutex shared_mu;
  LaneWriter shared{};

  std::byte* lane_data(std::uint32_t lane) const { return data + lane * layout.lane_bytes; }
};

// Creates, initialises and publishes (renames into place) a new ring file in config.dir.
Result<std::unique_ptr<OpenRing>> create_ring(const Config& config, std::uint16_t generation);

// Points `w` at `lane` of `r`, continuing the lane's positions and sequence numbers.
void attach_writer(LaneWriter& w, OpenRing& r, std::uint32_t lane, LaneMode mode, std::uint32_t tid);

}  // namespace shmlog::detail
