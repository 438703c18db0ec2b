// Reading a mapping that another process may truncate under us. Touching a page past the end of
// a shrunk file raises SIGBUS; inside `guarded` that becomes a `false` return instead of a crash.
#pragma once

#include <csetjmp>
#include <utility>

namespace shmlog::detail {

struct FaultGuard {
  sigjmp_buf env;
  FaultGuard* previous;
};
void push_fault_guard(FaultGuard* g) noexcept;
void pop_fault_guard(FaultGuard* g) noexcept;
void after_fault() noexcept;

// Runs `f`, which may only read the mapping, copy into storage allocated beforehand and call
// functions that neither allocate nor own resources (a fault skips destructors). Returns false
// if a SIGBUS (a page past the file's end) interrupted it. Only SIGBUS: a SIGSEGV
// would be our own bug and should crash loudly.
template <typename F>
bool guarded(F&& f) noexcept {
  FaultGuard g;
  push_fault_guard(&g);
  if (sigsetjmp(g.env, 0) != 0) {
    after_fault();  // pops the guard and unblocks the signal
    return false;
  }
  std::forward<F>(f)();
  pop_fault_guard(&g);
  return true;
}

}  // namespace shmlog::detail
