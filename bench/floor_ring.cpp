#include "floor_ring.hpp"

#include <cerrno>
#include <cstring>
#include <new>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace shmlog_bench {

FloorRing::FloorRing(const std::string& path, std::size_t data_bytes) : path_(path) {
  map_bytes_ = kControlBytes + data_bytes;
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    error_ = "cannot create " + path + ": " + std::strerror(errno);
    return;
  }
  // Allocated up front like a shmlog ring (posix_fallocate there), so no page is sparse.
  if (int err = ::posix_fallocate(fd_, 0, static_cast<off_t>(map_bytes_)); err != 0) {
    if (::ftruncate(fd_, static_cast<off_t>(map_bytes_)) != 0) {
      error_ = "cannot size " + path + ": " + std::strerror(errno);
      return;
    }
  }
  auto map = [&]() -> void* {
    void* p = ::mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    return p == MAP_FAILED ? nullptr : p;
  };
  producer_base_ = map();
  consumer_base_ = map();
  if (producer_base_ == nullptr || consumer_base_ == nullptr) {
    error_ = "cannot map " + path + ": " + std::strerror(errno);
    return;
  }
  auto* p = static_cast<std::byte*>(producer_base_);
  auto* c = static_cast<std::byte*>(consumer_base_);
  // The file is zero: these only start the objects' lifetimes (as ring_create.cpp does).
  control_ = new (p) Control{};
  slots_ = reinterpret_cast<Slot*>(p + kControlBytes);
  consumer_control_ = reinterpret_cast<Control*>(c);
  consumer_slots_ = reinterpret_cast<Slot*>(c + kControlBytes);
  mask_ = data_bytes / kSlotBytes - 1;
}

FloorRing::~FloorRing() {
  if (producer_base_ != nullptr) ::munmap(producer_base_, map_bytes_);
  if (consumer_base_ != nullptr) ::munmap(consumer_base_, map_bytes_);
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
}

}  // namespace shmlog_bench
