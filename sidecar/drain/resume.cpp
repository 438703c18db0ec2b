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

namespace {

// "2024-05-01T12:34:56.123456789Z" as nanoseconds since the epoch; -1 if it is not that.
std::int64_t timestamp_ns(std::string_view line) {
  constexpr std::string_view prefix = "{\"timestamp\":\"";
  if (!line.starts_with(prefix) || line.size() < prefix.size() + 30) return -1;
  const std::string_view t = line.substr(prefix.size(), 30);
  auto num = [&](std::size_t at, std::size_t n) {
    std::int64_t v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (t[i] < '0' || t[i] > '9') return std::int64_t{-1};
      v = v * 10 + (t[i] - '0');
    }
    return v;
  };
  const std::int64_t y = num(0, 4), m = num(5, 2), d = num(8, 2), hh = num(11, 2), mm = num(14, 2),
                     ss = num(17, 2), ns = num(20, 9);
  if (y < 0 || m < 1 || d < 1 || hh < 0 || mm < 0 || ss < 0 || ns < 0 || t[29] != 'Z') return -1;
  // Days from the civil date (Howard Hinnant's algorithm).
  const std::int64_t yy = y - (m <= 2);
  const std::int64_t era = yy / 400;
  const std::int64_t yoe = yy - era * 400;
  const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const std::int64_t days = era * 146097 + doe - 719468;
  return ((days * 24 + hh) * 60 + mm) * 60 * 1'000'000'000 + ss * 1'000'000'000 + ns;
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
  return read(path, max_bytes, true);
}

Status ResumeIndex::cut_torn_tail(const std::string& path, std::size_t max_bytes) {
  auto tail = read(path, max_bytes, false);
  if (!tail) return tail.error();
  return Ok{};
}

Result<std::unique_ptr<ResumeIndex>> ResumeIndex::read(const std::string& path, std::size_t max_bytes,
                                                       bool index_lines) {
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
  if (got != index.tail_.size()) {  // a failed read must not decide what to cut off the file
    const std::string why = errno_text();
    ::close(fd);
    return Error{path + ": cannot read the last lines to resume: " + why};
  }
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
  if (!index_lines) return owned;
  // The first line of the window may be cut at the front: skip it unless the window is the file.
  std::string_view rest = index.tail_;
  if (from > 0) {
    const auto nl = rest.find('\n');
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    index.keys_.emplace(key(line), timestamp_ns(line));
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  return owned;
}

bool ResumeIndex::contains(std::string_view line) const {
  const std::int64_t ts = timestamp_ns(line);
  const auto [first, last] = keys_.equal_range(key(line));
  for (auto it = first; it != last; ++it) {
    const std::int64_t diff = it->second > ts ? it->second - ts : ts - it->second;
    if (diff <= 1'000'000) return true;  // within a millisecond: the same record
  }
  return false;
}

}  // namespace shmlog::sidecar
