#include "webhook/webhook_server.hpp"

#include "webhook/admission_review.hpp"
#include "webhook/cert_reloader.hpp"

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <thread>

#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace shmlog::webhook {
namespace {

// The API server sends a pod in an AdmissionReview: a big pod is some hundred KiB.
constexpr std::size_t kMaxBody = 4 << 20;
// cpp-httplib gives each connection a thread, kept-alive idle ones too, and a review that waits
// for a free thread past the API server's timeout lets its pod through without the sidecar
// (fail-open). Several API servers each keep connections open: 64 threads, cheap while idle.
constexpr int kThreads = 64;
// The API server gives a webhook 5 s (timeoutSeconds in the MutatingWebhookConfiguration): a
// client slower than that to send or read is cut off.
constexpr int kTimeoutSeconds = 5;
// Each kept-alive connection holds a thread while idle. The API server's Go client retries a
// request that meets a connection the server closed while idle, so a short one costs nothing.
constexpr int kKeepAliveSeconds = 5;
constexpr int kDeferSeconds = 5;  // TCP_DEFER_ACCEPT: as long as a ClientHello may take to arrive
constexpr std::string_view kJson = "application/json";

std::string json_string(std::string_view s) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  return std::string(sb.GetString(), sb.GetSize());
}

void answer_error(httplib::Response& res, int status, const std::string& why) {
  res.status = status;
  res.set_content("{\"error\":" + json_string(why) + "}\n", std::string(kJson));
}

// A value from the request made safe for one log line: control bytes replaced, at most 100 bytes
// (a uid or a pod's name; anyone who reaches the port may send anything).
std::string printable(std::string_view s) {
  std::string out;
  for (const char c : s.substr(0, 100)) out += std::iscntrl(static_cast<unsigned char>(c)) ? '?' : c;
  return s.size() > 100 ? out + "..." : out;
}

bool is_json(const std::string& content_type) {
  std::string media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && media.back() == ' ') media.pop_back();
  for (char& c : media) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return media == kJson;
}

}  // namespace

struct WebhookServer::Impl {
  WebhookOptions options;
  std::unique_ptr<CertReloader> certs;
  std::unique_ptr<httplib::SSLServer> server;
  std::thread thread;
  int port = 0;
  std::atomic<bool> stopped{false};

  void log(const std::string& line) const { options.log(line); }

  void mutate(const httplib::Request& req, httplib::Response& res) {
    if (!is_json(req.get_header_value("Content-Type"))) {
      log("bad request from " + req.remote_addr + ": Content-Type " +
          printable(req.get_header_value("Content-Type")));
      return answer_error(res, 415, "an AdmissionReview is sent as Content-Type: application/json");
    }
    auto answer = answer_admission_review(req.body, options.inject);
    if (!answer) {
      log("bad request from " + req.remote_addr + ": " + printable(answer.error().message));
      return answer_error(res, 400, answer.error().message);
    }
    res.set_content(answer->body, std::string(kJson));
    log("review " + printable(answer->uid) + " " + printable(answer->pod) + ": " +
        printable(answer->verdict));
  }

  void routes() {
    server->Post("/mutate",
                 [this](const httplib::Request& req, httplib::Response& res) { mutate(req, res); });
    server->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok\n", "text/plain");
    });
    // Anything else: 405 for a known path with another method, 404 otherwise; cpp-httplib's
    // own errors (413, 400) get a body saying so too.
    server->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      static const std::map<std::string, std::string> allowed = {{"/mutate", "POST"}, {"/healthz", "GET"}};
      if (res.status == 404) {
        if (auto it = allowed.find(req.path); it != allowed.end()) {
          res.set_header("Allow", it->second);
          return answer_error(
              res, 405, req.method + " is not allowed on " + req.path + " (allowed: " + it->second + ")");
        }
        return answer_error(res, 404, "no such endpoint: " + req.path + " (POST /mutate, GET /healthz)");
      }
      if (res.status == 413) return answer_error(res, 413, "request body over 4 MiB");
      if (res.body.empty()) answer_error(res, res.status, "bad request");
    });
    server->set_exception_handler(
        [this](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
          log("internal error answering a request");
          answer_error(res, 500, "internal error");
        });
  }
};

WebhookServer::WebhookServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<WebhookServer>> WebhookServer::start(WebhookOptions options) {
  if (!options.log)
    options.log = [](const std::string& line) {
      std::fputs(("shmlog webhook: " + line + "\n").c_str(), stderr);
    };
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  const WebhookOptions& o = impl->options;
  auto certs = CertReloader::load(o.cert_file, o.key_file, o.log);
  if (!certs) return Error{certs.error().message + " (--tls-cert-file, --tls-key-file)"};
  impl->certs = std::move(certs.value());
  CertReloader* reloader = impl->certs.get();
  impl->server = std::make_unique<httplib::SSLServer>([reloader](SSL_CTX& ctx) {
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    reloader->attach(&ctx);
    return true;
  });
  if (!impl->server->is_valid()) return Error{"cannot set up TLS (OpenSSL)"};
  httplib::SSLServer& s = *impl->server;
  s.new_task_queue = [] { return new httplib::ThreadPool(kThreads); };
  s.set_payload_max_length(kMaxBody);
  s.set_read_timeout(kTimeoutSeconds, 0);  // also bounds the TLS handshake
  s.set_write_timeout(kTimeoutSeconds, 0);
  s.set_keep_alive_timeout(kKeepAliveSeconds);
  s.set_keep_alive_max_count(100);
  s.set_tcp_nodelay(true);  // headers and body are two writes: no wait for a delayed ACK
  // As the status server: SO_REUSEADDR rather than cpp-httplib's SO_REUSEPORT (a second webhook
  // must not take half the connections), and the listener wakes once the ClientHello is there.
  s.set_socket_options([](int fd) {
    const int yes = 1;
    (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &kDeferSeconds, sizeof kDeferSeconds);
  });
  impl->routes();
  const std::string where =
      (o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host) + ":" + std::to_string(o.port);
  if (o.port == 0) {
    impl->port = s.bind_to_any_port(o.host);
    if (impl->port <= 0) return Error{"cannot listen on " + where + " (--listen)"};
  } else {
    if (!s.bind_to_port(o.host, o.port))
      return Error{"cannot listen on " + where + " (--listen): the address is in use or not this host's"};
    impl->port = o.port;
  }
  Impl* raw = impl.get();
  raw->thread = std::thread([raw] { raw->server->listen_after_bind(); });
  // cpp-httplib's stop() does nothing before the listening thread has marked itself running:
  // wait for that, so a SIGTERM right after the start still stops the server.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!s.is_running() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  o.log("serving " + impl->certs->describe());
  return std::unique_ptr<WebhookServer>(new WebhookServer(std::move(impl)));
}

WebhookServer::~WebhookServer() {
  stop();
}

int WebhookServer::port() const {
  return impl_->port;
}

void WebhookServer::stop() {
  if (impl_->stopped.exchange(true)) return;
  impl_->server->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace shmlog::webhook
