#include "producer/stderr_write.hpp"

#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstdio>

#include <pthread.h>
#include <unistd.h>

namespace shmlog::detail {

void write_stderr(std::string_view s) noexcept {
  // Block SIGPIPE around the write and swallow the one the write raised, if any: the app's own
  // handling of SIGPIPE stays as it was.
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  bool epipe = false;
  while (!s.empty()) {
    ssize_t n = ::write(STDERR_FILENO, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      epipe = errno == EPIPE;
      break;
    }
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  if (epipe) {
    timespec zero{};
    sigtimedwait(&pipe_set, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void notice(const char* format, ...) noexcept {
  char buf[2048] = "shmlog: ";
  constexpr std::size_t prefix = 8;
  va_list args;
  va_start(args, format);
  int n = std::vsnprintf(buf + prefix, sizeof buf - prefix - 1, format, args);
  va_end(args);
  if (n < 0) return;
  std::size_t len = prefix + std::min<std::size_t>(static_cast<std::size_t>(n), sizeof buf - prefix - 2);
  buf[len++] = '\n';
  write_stderr(std::string_view(buf, len));
}

}  // namespace shmlog::detail
