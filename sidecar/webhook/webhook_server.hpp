// The mutating admission webhook's HTTPS server: POST /mutate answers AdmissionReviews
// (admission_review.hpp), GET /healthz says "ok". cpp-httplib's SSLServer on threads of its own,
// with the certificate of cert_reloader.hpp, so a renewed certificate needs no restart.
#pragma once

#include "inject/injector.hpp"

#include <shmlog/result.hpp>

#include <functional>
#include <memory>
#include <string>

namespace shmlog::webhook {

struct WebhookOptions {
  std::string host = "0.0.0.0";
  int port = 8443;  // 0: any free port (WebhookServer::port() says which)
  std::string cert_file, key_file;
  inject::InjectOptions inject;
  // Where the one line per review (and the certificate reloads) go; stderr when empty.
  std::function<void(const std::string&)> log;
};

class WebhookServer {
 public:
  // Loads the certificate, binds and starts serving; an Error naming the file or the address
  // when it cannot.
  static Result<std::unique_ptr<WebhookServer>> start(WebhookOptions options);
  ~WebhookServer();  // stop()
  int port() const;
  // Stops accepting, lets the reviews in flight finish (an idle kept-alive connection may hold
  // it up to the keep-alive timeout, 5 s) and returns when the server threads are done.
  void stop();

 private:
  struct Impl;
  explicit WebhookServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shmlog::webhook
