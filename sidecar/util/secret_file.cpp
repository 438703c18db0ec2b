#include "util/secret_file.hpp"

#include "util/atomic_file.hpp"

namespace shmlog::sidecar {

SecretFile& SecretFile::operator=(SecretFile&& other) noexcept {
  std::lock_guard lock(mu_);
  path_ = std::move(other.path_);
  value_.clear();
  mtime_ = {};
  inode_ = 0;
  size_ = -1;
  return *this;
}

std::string SecretFile::value() {
  std::lock_guard lock(mu_);
  struct stat st {};
  if (path_.empty() || ::stat(path_.c_str(), &st) != 0) return value_;
  if (st.st_mtim.tv_sec == mtime_.tv_sec && st.st_mtim.tv_nsec == mtime_.tv_nsec && st.st_ino == inode_ &&
      st.st_size == size_)
    return value_;
  auto text = read_whole_file(path_);
  if (!text || !text.value()) return value_;
  value_ = std::move(*text.value());
  while (!value_.empty() && (value_.back() == '\n' || value_.back() == '\r')) value_.pop_back();
  mtime_ = st.st_mtim;
  inode_ = st.st_ino;
  size_ = st.st_size;
  return value_;
}

}  // namespace shmlog::sidecar
