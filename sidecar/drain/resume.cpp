#include "drain/resume.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace shmlog::sidecar {
namespace {

std::string errno_text() {
  return std::strerror(errno);
}

}  // namespace

std::string_view ResumeIndex::key(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  // {"timestamp":"2024-...Z","level":... : everything from the field after the timestamp.
  constexpr std::string_view prefix = "{\"timestamp\":\"";
  if (!line.starts_with(prefix)) return line;
  const auto end = line.find('"', prefix.size());
  return end == std::string_view::npos ? line : line.substr(end + 1);
}

Result<std::unique_ptr<ResumeIndex>> ResumeIndex::load(const std::string& path, std::size_t max_bytes) {
  auto owned = std::make_unique<ResumeIndex>();
  ResumeIndex& index = *owned;
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return owned;
    return Error{path + ": cannot open to resume: " + errno_text()};
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string why = errno_text();
    ::close(fd);
    return Error{path + ": " + why};
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  const std::uint64_t from = size > max_bytes ? size - max_bytes : 0;
  index.tail_.resize(size - from);
  std::size_t got = 0;
  while (got < index.tail_.size()) {
    const ssize_t n =
        ::pread(fd, index.tail_.data() + got, index.tail_.size() - got, static_cast<off_t>(from + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  index.tail_.resize(got);
  // A torn last line: cut it off the file so the next line starts on a line of its own.
  const auto last_newline = index.tail_.rfind('\n');
  const std::uint64_t keep = last_newline == std::string::npos ? from : from + last_newline + 1;
  if (keep < size && (from == 0 || last_newline != std::string::npos)) {
    if (::ftruncate(fd, static_cast<off_t>(keep)) != 0) {
      const std::string why = errno_text();
      ::close(fd);
      return Error{path + ": cannot cut off a partial last line: " + why};
    }
    index.tail_.resize(keep - from);
  }
  ::close(fd);
  // The first line of the window may be cut at the front: skip it unless the window is the file.
  std::string_view rest = index.tail_;
  if (from > 0) {
    const auto nl = rest.find('\n');
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    index.keys_.insert(key(line));
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  return owned;
}

bool ResumeIndex::contains(std::string_view line) const {
  return keys_.contains(key(line));
}

}  // namespace shmlog::sidecar
