// The benchmark's stand-in for the sidecar: a thread that takes records out of every lane of a
// ring with RingReader::read_batch + commit, without decoding or formatting them (formatting is
// the sidecar's work, in another container, on other cores).
#pragma once

#include <shmlog/reader.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

namespace shmlog::ring {
struct FileHeader;
}

namespace shmlog_bench {

// What the consumer does when a sweep over all lanes found nothing.
enum class IdleMode {
  spin,        // polls again at once, on its own core: Quill's backend and the floor's consumer
  sleep_poll,  // sleeps 1 ms: the two-producer case, where the producers hold both cores
  futex,       // the sidecar's handshake (ring_format.hpp, FileHeader line 8): sets
               // consumer_waiting, sweeps once more, then waits on wake_futex until a producer
               // wakes it (or 50 ms pass)
};

class RingConsumer {
 public:
  // Opens `ring_path` in consumer mode and starts the thread, pinned to `cpu` unless it is -1.
  RingConsumer(const std::string& ring_path, IdleMode idle, int cpu);
  ~RingConsumer();
  RingConsumer(const RingConsumer&) = delete;
  RingConsumer& operator=(const RingConsumer&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  // Stops the thread after a last sweep. The counters below are final once it returns.
  void stop();
  bool pinned() const { return pinned_.load(std::memory_order_relaxed); }
  std::uint64_t records() const { return records_.load(std::memory_order_relaxed); }
  std::uint64_t read_errors() const { return read_errors_.load(std::memory_order_relaxed); }
  std::uint64_t futex_waits() const { return futex_waits_.load(std::memory_order_relaxed); }

 private:
  void run(int cpu);
  std::size_t sweep();
  void wait_on_futex();

  IdleMode idle_;
  std::string error_;
  std::unique_ptr<shmlog::RingReader> reader_;
  shmlog::Batch batch_;
  // The header mapped by hand for the futex handshake: RingReader keeps its header read-only.
  shmlog::ring::FileHeader* header_ = nullptr;
  std::size_t header_map_bytes_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> pinned_{false};
  std::atomic<std::uint64_t> records_{0};
  std::atomic<std::uint64_t> read_errors_{0};
  std::atomic<std::uint64_t> futex_waits_{0};
  std::thread thread_;
};

}  // namespace shmlog_bench
