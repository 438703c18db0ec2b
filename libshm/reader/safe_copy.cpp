#include "reader/safe_copy.hpp"

#include <csignal>
#include <cstring>
#include <mutex>

#include <pthread.h>

namespace shmlog::detail {
namespace {

thread_local FaultGuard* t_guard = nullptr;
struct sigaction g_previous_bus {};

void forward(int sig, siginfo_t* info, void* context, const struct sigaction& prev) {
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction != nullptr) {
      prev.sa_sigaction(sig, info, context);
      return;
    }
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
    prev.sa_handler(sig);
    return;
  }
  // Default action: restore it and return; the faulting instruction runs again and dies.
  signal(sig, SIG_DFL);
}

void on_fault(int sig, siginfo_t* info, void* context) {
  if (t_guard != nullptr) siglongjmp(t_guard->env, 1);
  forward(sig, info, context, g_previous_bus);
}

void install() {
  struct sigaction sa {};
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, &g_previous_bus);
}

}  // namespace

void push_fault_guard(FaultGuard* g) noexcept {
  static std::once_flag once;
  std::call_once(once, install);
  g->previous = t_guard;
  t_guard = g;
}

void pop_fault_guard(FaultGuard* g) noexcept {
  t_guard = g->previous;
}

void after_fault() noexcept {
  if (t_guard != nullptr) t_guard = t_guard->previous;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGBUS);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

}  // namespace shmlog::detail
