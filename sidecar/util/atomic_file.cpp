#include "util/atomic_file.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace shmlog::sidecar {
namespace {

Status write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error{"cannot write " + path + ": " + std::strerror(errno)};
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return Ok{};
}

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

Status replace_file(const std::string& path, std::string_view text) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return Error{"cannot create " + tmp + ": " + std::strerror(errno)};
  Status written = write_all(fd, text, tmp);
  if (written && ::fdatasync(fd) != 0)
    written = Error{"cannot fdatasync " + tmp + ": " + std::strerror(errno)};
  ::close(fd);
  if (!written) {
    ::unlink(tmp.c_str());
    return written;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Error{"cannot rename " + tmp + " to " + path + ": " + std::strerror(err)};
  }
  if (const int dir = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return Ok{};
}

Result<std::optional<std::string>> read_whole_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    if (errno == ENOENT) return std::optional<std::string>();
    return Error{"cannot read " + path + ": " + std::strerror(errno)};
  }
  std::string text;
  char buf[8192];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return Error{"cannot read " + path};
  return std::optional<std::string>(std::move(text));
}

}  // namespace shmlog::sidecar
