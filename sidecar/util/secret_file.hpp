// A secret mounted from a Kubernetes Secret (a Loki password or token, the status endpoint's
// bearer token): read again when the file changes, so a rotated secret takes effect without a
// restart. Thread-safe: the HTTP server's threads share one.
#pragma once

#include <mutex>
#include <string>

#include <sys/stat.h>

namespace shmlog::sidecar {

class SecretFile {
 public:
  explicit SecretFile(std::string path = {}) : path_(std::move(path)) {}
  SecretFile(SecretFile&& other) noexcept : path_(std::move(other.path_)) {}
  SecretFile& operator=(SecretFile&& other) noexcept;

  // The content without trailing line breaks; what was read last if the file cannot be stat'ed
  // now, and empty if it never could be read.
  std::string value();
  bool empty() const { return path_.empty(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_, value_;
  std::mutex mu_;
  timespec mtime_{};
  ino_t inode_ = 0;
  off_t size_ = -1;
};

}  // namespace shmlog::sidecar
