// One rendered answer (GET /status, GET /metrics) kept for a short while, so that many requests
// close together share one render. The drain publishes its snapshot four times a second, so a
// body up to kFresh old says what a fresh one would, give or take the uptime; a scraper every
// 15 s renders every time, a page that polls and a burst of curls do not. Rendering copies the
// whole snapshot (the effective settings included) and builds the text: most of what a request
// costs the sidecar in user space, on the core the drain also needs.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace shmlog::sidecar {

class RenderCache {
 public:
  static constexpr std::chrono::milliseconds kFresh{100};

  // The body rendered less than kFresh ago, or a new one from `render()`. Requests that come
  // while one renders wait for it rather than render too.
  template <typename Render>
  std::shared_ptr<const std::string> get(Render&& render) {
    const std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (body_ == nullptr || now - rendered_ >= kFresh) {
      body_ = std::make_shared<const std::string>(std::forward<Render>(render)());
      rendered_ = now;
    }
    return body_;
  }

 private:
  std::mutex mu_;
  std::shared_ptr<const std::string> body_;  // under mu_
  std::chrono::steady_clock::time_point rendered_;
};

}  // namespace shmlog::sidecar
