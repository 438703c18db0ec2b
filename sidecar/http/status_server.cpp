#include "http/status_server.hpp"

#include "control/level_overrides.hpp"
#include "http/render_cache.hpp"
#include "http/tail_hub.hpp"
#include "http/web_page.hpp"
#include "status/metrics.hpp"
#include "status/status_json.hpp"
#include "util/secret_file.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace shmlog::sidecar {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kMaxBody = 64 << 10;
constexpr int kThreads = 16;      // the live tails take at most half (TailHub's client limit)
constexpr int kDeferSeconds = 5;  // TCP_DEFER_ACCEPT: as long as a request may take to arrive
// A comment after a second of silence: cpp-httplib notices a client that went away only when a
// write fails, and a tail's slot (TailHub::kMaxClients) is freed only then.
constexpr auto kKeepAliveEvery = 1s;
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

// The query of a request target, each pair split at its first '=' (cpp-httplib keeps what
// follows the last one, which would cut kv=key=value).
std::multimap<std::string, std::string> query_of(const std::string& target) {
  std::multimap<std::string, std::string> out;
  const auto q = target.find('?');
  if (q == std::string::npos) return out;
  std::string_view rest = std::string_view(target).substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    out.emplace(httplib::detail::decode_url(std::string(pair.substr(0, eq)), true),
                eq == std::string_view::npos
                    ? std::string()
                    : httplib::detail::decode_url(std::string(pair.substr(eq + 1)), true));
  }
  return out;
}

// Constant time in the length of `given`, so the token cannot be guessed byte by byte.
// `want` is not empty.
bool same_secret(std::string_view given, std::string_view want) {
  unsigned diff = given.size() == want.size() ? 0u : 1u;
  for (std::size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned>(static_cast<unsigned char>(given[i]) ^
                                  static_cast<unsigned char>(want[i % want.size()]));
  return diff == 0;
}

// "30 s", "1.5 s".
std::string grace_text(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", seconds);
  return buf;
}

}  // namespace

Readiness readiness_of(const DrainSnapshot& drain, double failing_grace_s) {
  if (drain.stopping) return {false, "stopping", "stopping: draining until the apps detach"};
  if (!drain.draining) return {false, "starting", "starting: finding the rings and resuming"};
  if (drain.degraded) {
    const bool ready = drain.failing_for_s < failing_grace_s;
    return {ready, "degraded",
            "an output has been failing for " + std::to_string(static_cast<long long>(drain.failing_for_s)) +
                " s; its records wait in the rings" +
                (ready ? "" : " (not ready after " + grace_text(failing_grace_s) + ", --http-ready-grace)")};
  }
  return {true, "ok", "draining " + std::to_string(drain.rings.size()) + " ring(s)"};
}

struct StatusServer::Impl {
  HttpOptions options;
  StatusSources sources;
  httplib::Server server;
  std::thread thread;
  int port = 0;
  SecretFile token;
  RenderCache status_cache, metrics_cache;
  std::atomic<bool> stopped{false};

  Impl(HttpOptions o, StatusSources s)
      : options(std::move(o)), sources(std::move(s)), token(options.token_file) {}

  double grace_s() const { return std::chrono::duration<double>(options.ready_grace).count(); }

  bool authorized(const httplib::Request& req, httplib::Response& res) {
    if (options.token_file.empty()) return true;  // loopback only: the pod's own containers
    const std::string want = token.value();
    if (want.empty()) {
      answer_error(res, 503, "the token file " + options.token_file + " cannot be read or is empty");
      return false;
    }
    const std::string header = req.get_header_value("Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (!header.starts_with(kBearer) || !same_secret(std::string_view(header).substr(kBearer.size()), want)) {
      res.set_header("WWW-Authenticate", "Bearer");
      answer_error(res, 401, "changing levels wants Authorization: Bearer <the token of --http-token-file>");
      return false;
    }
    return true;
  }

  // GET /api/level's document: every service seen in a ring or given an override.
  std::string levels_json() {
    const Snapshot snap = sources.snapshot();
    const auto overrides = sources.levels->all();
    std::map<std::string, std::set<std::string>> in_rings;  // service -> levels its rings hold now
    for (const auto& r : snap.drain.rings) in_rings[r.service].insert(std::string(level_name(r.min_level)));
    for (const auto& [service, level] : overrides)
      if (service != LevelOverrides::kEveryService) in_rings.try_emplace(service);
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    auto str = [&](std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); };
    w.StartObject();
    w.Key("services");
    w.StartObject();
    for (const auto& [service, levels] : in_rings) {
      w.Key(service.c_str(), static_cast<rapidjson::SizeType>(service.size()));
      w.StartObject();
      w.Key("level");  // what its rings hold; several values while a change is on its way
      if (levels.empty())
        w.Null();
      else
        str(*levels.begin() + (levels.size() > 1 ? " (rings differ)" : ""));
      w.Key("override");
      const auto o = sources.levels->for_service(service);
      if (o)
        str(level_name(*o));
      else
        w.Null();
      w.EndObject();
    }
    w.EndObject();
    w.Key("every_service");
    if (auto it = overrides.find(std::string(LevelOverrides::kEveryService)); it != overrides.end())
      str(level_name(it->second));
    else
      w.Null();
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize()) + "\n";
  }

  // Whether every ring of `service` (all rings for "*") holds the override now set. A cleared
  // one is not waited for: the app's own level is the drain's to know.
  bool applied(const std::string& service) {
    const Snapshot snap = sources.snapshot();
    for (const auto& r : snap.drain.rings) {
      if (service != LevelOverrides::kEveryService && r.service != service) continue;
      const auto want = sources.levels->for_service(r.service);
      if (want && r.min_level != *want) return false;
    }
    return true;
  }

  void put_level(const httplib::Request& req, httplib::Response& res) {
    rapidjson::Document doc;
    doc.Parse(req.body.c_str(), req.body.size());
    if (doc.HasParseError() || !doc.IsObject())
      return answer_error(res, 400, "expected a JSON object: {\"service\": \"api\", \"level\": \"DEBUG\"}");
    if (!doc.HasMember("service") || !doc["service"].IsString() || doc["service"].GetStringLength() == 0 ||
        doc["service"].GetStringLength() > 255)
      return answer_error(res, 400,
                          "\"service\" must be a service name (1 to 255 bytes), or \"*\" for every service");
    if (!doc.HasMember("level") || !(doc["level"].IsString() || doc["level"].IsNull()))
      return answer_error(res, 400, "\"level\" must be a level name (TRACE .. CRITICAL) or null to clear");
    std::optional<Level> level;
    if (doc["level"].IsString()) {
      level = parse_level(std::string_view(doc["level"].GetString(), doc["level"].GetStringLength()));
      if (!level)
        return answer_error(
            res, 400,
            "unknown level " +
                json_string(std::string_view(doc["level"].GetString(), doc["level"].GetStringLength())) +
                ": expected TRACE, DEBUG, INFO, WARNING, ERROR or CRITICAL");
    }
    const std::string service(doc["service"].GetString(), doc["service"].GetStringLength());
    if (auto st = sources.levels->set(service, level); !st)
      return answer_error(res, 500, "cannot keep the level: " + st.error().message);
    // The drain writes it into the rings between rounds and publishes a snapshot four times a
    // second: answer with the state once the rings show it (or after a second, as it is then).
    const auto until = std::chrono::steady_clock::now() + 1s;
    while (std::chrono::steady_clock::now() < until && !applied(service)) std::this_thread::sleep_for(20ms);
    res.set_content(levels_json(), std::string(kJson));
  }

  void tail(const httplib::Request& req, httplib::Response& res) {
    std::multimap<std::string, std::string> query = query_of(req.target);
    auto filter = TailFilter::parse(query);
    if (!filter) return answer_error(res, 400, filter.error().message);
    auto client = sources.tail->subscribe(std::move(filter.value()));
    if (!client) {
      res.set_header("Retry-After", "5");
      return answer_error(res, 503, client.error().message);
    }
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Accel-Buffering", "no");
    auto last_sent =
        std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
    std::shared_ptr<TailClient> shared(std::move(client.value()));
    auto buffer = std::make_shared<std::string>();  // reused: its pages stay mapped between chunks
    res.set_chunked_content_provider(
        "text/event-stream", [this, shared, last_sent, buffer](std::size_t, httplib::DataSink& sink) {
          std::string& events = *buffer;
          if (stopped.load() || !shared->wait_next(events, 500ms)) {
            sink.done();
            return true;
          }
          const auto now = std::chrono::steady_clock::now();
          if (events.empty() && now - *last_sent >= kKeepAliveEvery) events = ": keep-alive\n\n";
          if (events.empty()) return true;
          *last_sent = now;
          return sink.write(events.data(), events.size());  // false: the client is gone
        });
  }

  void routes() {
    server.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-store");
      res.set_content(std::string(web_page()), "text/html; charset=utf-8");
    });
    server.Get("/status", [this](const httplib::Request&, httplib::Response& res) {
      const auto body = status_cache.get([this] {
        const Snapshot snap = sources.snapshot();
        const Readiness r = readiness_of(snap.drain, grace_s());
        return render_status_json(snap, StatusExtras{r.health, r.ready, r.reason});
      });
      res.set_content(*body, std::string(kJson));
    });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      const auto body = metrics_cache.get([this] {
        const Snapshot snap = sources.snapshot();
        return render_metrics(snap, readiness_of(snap.drain, grace_s()).ready);
      });
      res.set_content(*body, "text/plain; version=0.0.4; charset=utf-8");
    });
    server.Get("/livez", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok\n", "text/plain");
    });
    server.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
      const Readiness r = readiness_of(sources.snapshot().drain, grace_s());
      res.status = r.ready ? 200 : 503;
      res.set_content((r.ready ? "ready: " : "not ready: ") + r.reason + "\n", "text/plain");
    });
    server.Get("/api/level", [this](const httplib::Request&, httplib::Response& res) {
      if (sources.levels == nullptr) return answer_error(res, 503, "level control is off");
      res.set_content(levels_json(), std::string(kJson));
    });
    server.Put("/api/level", [this](const httplib::Request& req, httplib::Response& res) {
      if (sources.levels == nullptr) return answer_error(res, 503, "level control is off");
      if (authorized(req, res)) put_level(req, res);
    });
    server.Get("/api/tail", [this](const httplib::Request& req, httplib::Response& res) {
      if (sources.tail == nullptr) return answer_error(res, 503, "the live tail is off");
      tail(req, res);
    });
    // Anything else: 405 for a known path with another method, 404 otherwise; cpp-httplib's
    // own errors (413, 400) get a body saying so too.
    server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      static const std::map<std::string, std::string> allowed = {
          {"/", "GET"},       {"/status", "GET"},         {"/metrics", "GET"}, {"/livez", "GET"},
          {"/readyz", "GET"}, {"/api/level", "GET, PUT"}, {"/api/tail", "GET"}};
      if (res.status == 404) {
        if (auto it = allowed.find(req.path); it != allowed.end()) {
          res.set_header("Allow", it->second);
          return answer_error(
              res, 405, req.method + " is not allowed on " + req.path + " (allowed: " + it->second + ")");
        }
        return answer_error(res, 404,
                            "no such endpoint: " + req.path + " (see /status, /metrics, /api/level)");
      }
      if (res.status == 413) return answer_error(res, 413, "request body over 64 KiB");
      if (res.body.empty()) answer_error(res, res.status, "bad request");
    });
    server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
      answer_error(res, 500, "internal error");
    });
  }
};

StatusServer::StatusServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<StatusServer>> StatusServer::start(const HttpOptions& options, StatusSources sources) {
  auto impl = std::make_unique<Impl>(options, std::move(sources));
  httplib::Server& s = impl->server;
  s.new_task_queue = [] { return new httplib::ThreadPool(kThreads); };
  s.set_payload_max_length(kMaxBody);
  s.set_read_timeout(5, 0);   // a client that sends its request slowly is cut off
  s.set_write_timeout(5, 0);  // ... and one that does not read its answer
  s.set_keep_alive_timeout(2);
  // Headers and body go out in two writes: without this, Nagle holds the body until the
  // client's delayed ACK, 40 ms on every kept-alive request (a Prometheus scrape).
  s.set_tcp_nodelay(true);
  s.set_keep_alive_max_count(100);
  // Instead of cpp-httplib's default, SO_REUSEPORT, which would let a second sidecar bind the same
  // port and take half the connections: SO_REUSEADDR (a restart binds at once), and
  // TCP_DEFER_ACCEPT, so the listener wakes when a request has arrived rather than at the
  // handshake and the thread given the connection reads it at once instead of sleeping until it
  // comes: a wake-up less per connection on the core the drain needs. A client that connects and
  // says nothing is seen after kDeferSeconds, then has the read timeout like any other.
  s.set_socket_options([](int fd) {
    const int yes = 1;
    (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &kDeferSeconds, sizeof kDeferSeconds);
  });
  impl->routes();
  const std::string where =
      (options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host) + ":" +
      std::to_string(options.port);
  if (options.port == 0) {
    impl->port = s.bind_to_any_port(options.host);
    if (impl->port <= 0) return Error{"cannot listen on " + where + " (--http-addr)"};
  } else {
    if (!s.bind_to_port(options.host, options.port))
      return Error{"cannot listen on " + where + " (--http-addr): the address is in use or not this host's"};
    impl->port = options.port;
  }
  Impl* raw = impl.get();
  raw->thread = std::thread([raw] { raw->server.listen_after_bind(); });
  return std::unique_ptr<StatusServer>(new StatusServer(std::move(impl)));
}

StatusServer::~StatusServer() {
  stop();
}

int StatusServer::port() const {
  return impl_->port;
}

void StatusServer::stop() {
  if (impl_->stopped.exchange(true)) return;
  if (impl_->sources.tail != nullptr) impl_->sources.tail->close();
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace shmlog::sidecar
