#include "ring_consumer.hpp"

#include "bench_support.hpp"

#include <shmlog/ring_format.hpp>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <x86intrin.h>

namespace shmlog_bench {
namespace {

constexpr std::size_t kBatchRecords = 4096;
constexpr long kFutexTimeoutNs = 50'000'000;

long futex(std::atomic<std::uint32_t>& word, int op, std::uint32_t value, const timespec* timeout) {
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op, value, timeout, nullptr, 0);
}

}  // namespace

RingConsumer::RingConsumer(const std::string& ring_path, IdleMode idle, int cpu) : idle_(idle) {
  auto reader = shmlog::RingReader::open(ring_path, shmlog::OpenMode::consumer);
  if (!reader) {
    error_ = reader.error().message;
    return;
  }
  reader_ = std::move(reader.value());
  if (idle_ == IdleMode::futex) {
    const int fd = ::open(ring_path.c_str(), O_RDWR | O_CLOEXEC);
    header_map_bytes_ = (sizeof(shmlog::ring::FileHeader) + 4095) & ~std::size_t{4095};
    void* p =
        fd < 0 ? MAP_FAILED : ::mmap(nullptr, header_map_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (fd >= 0) ::close(fd);
    if (p == MAP_FAILED) {
      error_ = ring_path + ": cannot map the header: " + std::strerror(errno);
      return;
    }
    header_ = static_cast<shmlog::ring::FileHeader*>(p);
  }
  thread_ = std::thread([this, cpu] { run(cpu); });
}

RingConsumer::~RingConsumer() {
  stop();
  if (header_ != nullptr) ::munmap(header_, header_map_bytes_);
}

void RingConsumer::stop() {
  if (!thread_.joinable()) return;
  stop_.store(true, std::memory_order_relaxed);
  if (header_ != nullptr) {
    header_->wake_futex.fetch_add(1, std::memory_order_release);
    futex(header_->wake_futex, FUTEX_WAKE, INT_MAX, nullptr);
  }
  thread_.join();
}

void RingConsumer::run(int cpu) {
  if (cpu >= 0) pinned_.store(pin_current_thread(cpu), std::memory_order_relaxed);
  while (!stop_.load(std::memory_order_relaxed)) {
    if (sweep() != 0) continue;
    switch (idle_) {
      case IdleMode::spin:
        _mm_pause();
        break;
      case IdleMode::sleep_poll:
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        break;
      case IdleMode::futex:
        wait_on_futex();
        break;
    }
  }
  sweep();
}

std::size_t RingConsumer::sweep() {
  std::size_t taken = 0;
  for (std::uint32_t lane = 0; lane < reader_->info().lane_count; ++lane) {
    if (auto st = reader_->read_batch(lane, kBatchRecords, 0, batch_); !st) {
      read_errors_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (!batch_.empty() && reader_->commit(batch_)) taken += batch_.records.size();
  }
  records_.fetch_add(taken, std::memory_order_relaxed);
  return taken;
}

void RingConsumer::wait_on_futex() {
  auto& waiting = header_->consumer_waiting;
  auto& word = header_->wake_futex;
  const std::uint32_t seen = word.load(std::memory_order_acquire);
  waiting.store(1, std::memory_order_seq_cst);
  // A record committed between the last sweep and the store above would otherwise wait for
  // the timeout: its producer may have read consumer_waiting before it became 1.
  if (sweep() != 0 || stop_.load(std::memory_order_relaxed)) {
    waiting.store(0, std::memory_order_relaxed);
    return;
  }
  const timespec timeout{0, kFutexTimeoutNs};
  futex(word, FUTEX_WAIT, seen, &timeout);
  waiting.store(0, std::memory_order_relaxed);  // a producer that woke us already cleared it
  futex_waits_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace shmlog_bench
