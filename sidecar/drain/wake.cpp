#include "drain/wake.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <ctime>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace shmlog::sidecar {
namespace {

// The kernel has futex_waitv until proven otherwise (ENOSYS once: then never again).
std::atomic<bool> g_have_waitv{true};

std::uint32_t* address(const WakeWord& w) {
  return const_cast<std::uint32_t*>(reinterpret_cast<const std::uint32_t*>(w.word));
}

}  // namespace

void wait_any(const std::vector<WakeWord>& words, std::chrono::milliseconds timeout) {
  if (words.empty()) {
    timespec ts{static_cast<time_t>(timeout.count() / 1000),
                static_cast<long>(timeout.count() % 1000) * 1'000'000};
    ::nanosleep(&ts, nullptr);
    return;
  }
#ifdef SYS_futex_waitv
  if (g_have_waitv.load(std::memory_order_relaxed) && words.size() <= 128) {
    futex_waitv waiters[128] = {};
    for (std::size_t i = 0; i < words.size(); ++i) {
      waiters[i].val = words[i].expected;
      waiters[i].uaddr = reinterpret_cast<std::uintptr_t>(address(words[i]));
      waiters[i].flags = FUTEX_32 | (words[i].shared ? 0 : FUTEX_PRIVATE_FLAG);
    }
    timespec deadline{};
    ::clock_gettime(CLOCK_MONOTONIC, &deadline);
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
    deadline.tv_sec += static_cast<time_t>(ns / 1'000'000'000);
    deadline.tv_nsec += static_cast<long>(ns % 1'000'000'000);
    if (deadline.tv_nsec >= 1'000'000'000) {
      ++deadline.tv_sec;
      deadline.tv_nsec -= 1'000'000'000;
    }
    const long rc = ::syscall(SYS_futex_waitv, waiters, static_cast<unsigned>(words.size()), 0, &deadline,
                              CLOCK_MONOTONIC);
    if (rc >= 0 || errno == EAGAIN || errno == ETIMEDOUT || errno == EINTR) return;
    if (errno != ENOSYS) {
      // EFAULT (a ring file cut short under its mapping) and the like: returning at once would
      // make the drain spin; sleep out the timeout instead.
      ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nullptr);
      return;
    }
    g_have_waitv.store(false, std::memory_order_relaxed);
  }
#endif
  // Without futex_waitv: wait on the first word (the sidecar's own, so signals still wake us)
  // for at most a millisecond, so records in any ring wait about that long at worst.
  const auto slice = std::min(timeout, std::chrono::milliseconds(1));
  timespec ts{0, static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(slice).count())};
  const WakeWord& first = words.front();
  ::syscall(SYS_futex, address(first), first.shared ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE, first.expected, &ts,
            nullptr, 0);
}

void wake_private(std::atomic<std::uint32_t>& word) {
  word.fetch_add(1, std::memory_order_release);
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr,
            0);
}

}  // namespace shmlog::sidecar
