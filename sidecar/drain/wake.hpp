// Sleeping until a producer commits: one wait over the futex words of every ring (futex_waitv,
// Linux 5.16+) plus the sidecar's own word, which signal handlers and the ring directory watch
// bump. Older kernels fall back to waiting on one word with a short timeout.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

namespace shmlog::sidecar {

struct WakeWord {
  const std::atomic<std::uint32_t>* word;
  std::uint32_t expected;  // sleep only while the word still holds this
  bool shared;             // in a ring file (another process wakes it) or process-private
};

// Returns when a word changes, is woken, a signal arrives, or `timeout` passes.
void wait_any(const std::vector<WakeWord>& words, std::chrono::milliseconds timeout);

// Wakes a waiter on a process-private word after changing it.
void wake_private(std::atomic<std::uint32_t>& word);

}  // namespace shmlog::sidecar
