// Where records go when the process has no ring (directory missing, unwritable, volume full):
// each record is decoded and formatted on the calling thread and written to stderr as the same
// JSON line the sidecar would write. Slow, but the app keeps running and nothing is silent.
#pragma once

#include <shmlog/config.hpp>
#include <shmlog/json_line.hpp>
#include <shmlog/level.hpp>

#include <memory>
#include <mutex>

namespace shmlog::detail {

class FallbackWriter {
 public:
  explicit FallbackWriter(const Config& config);
  void emit(Level level, std::uint32_t site, std::uint32_t tid, std::uint16_t logger_id,
            const std::byte* payload, std::uint32_t payload_bytes, std::uint16_t flags) noexcept;
  // In a forked child: another parent thread may have held the lock at fork time.
  void reset_after_fork() noexcept { new (&mu_) std::mutex(); }

 private:
  bool discard_;
  RingInfo identity_;
  JsonOptions options_;
  std::mutex mu_;  // one line at a time, and the scratch buffers below
  std::vector<std::byte> record_;
  RecordView view_;
  std::string line_;
};

std::unique_ptr<FallbackWriter> make_fallback(const Config& config);

}  // namespace shmlog::detail
