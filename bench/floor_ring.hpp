// The floor: the least a crash-safe shared-memory log call could do. One 64-byte slot per record
// in a MAP_SHARED file mapping of the same size as one shmlog lane: copy the body, then publish
// it with one release store of its commit word. A consumer polls that word, copies the slot out
// and advances a read cursor in the same file, so the cache lines move between the cores the
// way shmlog's do (a shmlog record of three 8-byte arguments is 64 bytes too). Producer and
// consumer map the file separately, as shmlog's writer and RingReader do.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace shmlog_bench {

class FloorRing {
 public:
  static constexpr std::size_t kSlotBytes = 64;
  struct alignas(kSlotBytes) Slot {
    std::atomic<std::uint64_t> commit;  // position + 1 once written: lap-safe, never reset
    std::byte body[kSlotBytes - 8];
  };

  // Creates `path` (removed again by the destructor) with `data_bytes` of slots, a power of two.
  FloorRing(const std::string& path, std::size_t data_bytes);
  ~FloorRing();
  FloorRing(const FloorRing&) = delete;
  FloorRing& operator=(const FloorRing&) = delete;
  bool ok() const { return slots_ != nullptr; }
  const std::string& error() const { return error_; }

  // Producer (one thread). The cached read cursor is reloaded only when the ring looks full.
  bool write(const void* body, std::size_t bytes) noexcept {
    if (write_pos_ - cached_read_ > mask_) [[unlikely]] {
      cached_read_ = control_->read_pos.load(std::memory_order_acquire);
      if (write_pos_ - cached_read_ > mask_) {
        ++dropped_;
        return false;
      }
    }
    Slot& s = slots_[write_pos_ & mask_];
    std::memcpy(s.body, body, bytes < sizeof s.body ? bytes : sizeof s.body);
    s.commit.store(write_pos_ + 1, std::memory_order_release);
    ++write_pos_;
    return true;
  }
  std::uint64_t dropped() const { return dropped_; }

  // Consumer (one thread): takes the next record into `out` if one is committed.
  bool read(Slot& out) noexcept {
    const Slot& s = consumer_slots_[read_pos_ & mask_];
    if (s.commit.load(std::memory_order_acquire) != read_pos_ + 1) return false;
    std::memcpy(out.body, s.body, sizeof out.body);
    ++read_pos_;
    consumer_control_->read_pos.store(read_pos_, std::memory_order_release);
    return true;
  }

  // Producer side: has the consumer taken everything written so far?
  bool drained() const noexcept { return control_->read_pos.load(std::memory_order_acquire) == write_pos_; }
  std::size_t slots() const noexcept { return mask_ + 1; }

 private:
  struct alignas(64) Control {
    std::atomic<std::uint64_t> read_pos;
  };
  static constexpr std::size_t kControlBytes = 4096;  // the data starts page-aligned, as a lane's does
  int fd_ = -1;
  std::string path_, error_;
  void* producer_base_ = nullptr;
  void* consumer_base_ = nullptr;
  std::size_t map_bytes_ = 0;
  Control* control_ = nullptr;
  Slot* slots_ = nullptr;
  Control* consumer_control_ = nullptr;
  Slot* consumer_slots_ = nullptr;
  std::uint64_t mask_ = 0;  // slots - 1
  // Producer-private.
  alignas(64) std::uint64_t write_pos_ = 0;
  std::uint64_t cached_read_ = 0;
  std::uint64_t dropped_ = 0;
  // Consumer-private, on its own line.
  alignas(64) std::uint64_t read_pos_ = 0;
};

}  // namespace shmlog_bench
