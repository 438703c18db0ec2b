#include "loki_receiver.hpp"

#include "connections.hpp"

#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

#include <httplib.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace shmlog::loki {

// ---- the pure part ----

namespace {

// The ingester's half of a decoded push, and Loki's answer for the whole: 204, or 400 listing
// every failure of both halves. `keep_copies` fills accepted_entries.
PushResult store_decoded(std::string_view tenant, DecodedPush& push, const PushLimits& limits,
                         StreamStore& store, bool keep_copies) {
  PushResult result;
  if (push.status != 0) {
    result.status = push.status;
    result.body = push.error + "\n";
    return result;
  }
  FailureList failures = std::move(push.failures);
  const StoreOutcome stored =
      store.apply(tenant, push, limits, failures, keep_copies ? &result.accepted_entries : nullptr);
  result.accepted = stored.accepted;
  result.duplicates = stored.duplicates;
  result.rejected = push.rejected + stored.rejected;
  if (!failures.empty()) {
    result.status = 400;
    result.body = failures.body();
  }
  return result;
}

}  // namespace

PushResult decode_push(const PushRequestInfo& request, std::string body, const PushLimits& limits,
                       StreamStore& store, std::chrono::system_clock::time_point now) {
  DecodedPush push;
  decode_request(request, std::move(body), limits, now, push);
  return store_decoded(request.tenant, push, limits, store, true);
}

// ---- the HTTP receiver ----

namespace {

constexpr const char* kPushPath = "/loki/api/v1/push";
constexpr const char* kTextPlain = "text/plain; charset=utf-8";
// The pre-routing handler moves these headers aside (see keep_body_compressed); the hook sees
// them under their own names again.
constexpr const char* kMovedEncoding = "X-Loki-Receiver-Moved-Content-Encoding";
constexpr const char* kMovedAccept = "X-Loki-Receiver-Moved-Accept-Encoding";

using Clock = std::chrono::steady_clock;

// What a request will get.
struct Answer {
  int status = 204;
  std::string body;
  std::string retry_after;
  bool drop = false;
  bool injected = false;

  static Answer reply(int status, std::string body = {}) {
    Answer a;
    a.status = status;
    a.body = std::move(body);
    return a;
  }
  static Answer dropped(bool injected) {
    Answer a;
    a.drop = true;
    a.injected = injected;
    return a;
  }
};

// The faults still to come, as set by fail_next / drop_next / set_delay.
struct Faults {
  int fail_left = 0;
  int fail_status = 503;
  std::string retry_after;
  int drop_left = 0;
  DropMode drop_mode = DropMode::before_ingest;
  std::chrono::milliseconds delay{0};
  bool delay_ingests = true;
};

// The faults one request gets: taken from Faults under the lock, so n requests get n faults.
struct RequestFaults {
  bool fail = false;
  int fail_status = 0;
  std::string retry_after;
  bool drop = false;
  DropMode drop_mode = DropMode::before_ingest;
  std::chrono::milliseconds delay{0};
  bool delay_ingests = true;
};

// cpp-httplib inflates a gzip (or deflate, or br) body itself before any handler sees it, with no
// bound on the inflated size, and its 0.11 loop ends when the input does: a truncated body
// passes without an error. So the header is moved aside before the body is read, and the
// receiver inflates with its own bounded code, strict as Go's readers. Accept-Encoding goes too:
// Loki (Go) never compresses its answers, httplib would. The pre-routing handler gets the
// request as const, but the object is a non-const local of httplib's request loop, so changing
// it is well defined.
void move_header(httplib::Headers& headers, const char* from, const char* to) {
  headers.erase(to);  // only the real header may arrive under the new name
  if (auto it = headers.find(from); it != headers.end()) {
    std::string value = it->second;  // the first, as Go's Header.Get takes it
    headers.erase(from);
    headers.emplace(to, std::move(value));
  }
}

httplib::Server::HandlerResponse keep_body_compressed(const httplib::Request& req, httplib::Response&) {
  auto& headers = const_cast<httplib::Request&>(req).headers;
  move_header(headers, "Content-Encoding", kMovedEncoding);
  move_header(headers, "Accept-Encoding", kMovedAccept);
  return httplib::Server::HandlerResponse::Unhandled;
}

// The request's headers as the client sent them: moved ones under their names again, httplib's
// own REMOTE_ADDR-style entries left out.
std::vector<std::pair<std::string, std::string>> sent_headers(const httplib::Headers& headers) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, value] : headers) {
    if (name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" || name == "LOCAL_PORT")
      continue;
    if (name == kMovedEncoding) {
      out.emplace_back("Content-Encoding", value);
    } else if (name == kMovedAccept) {
      out.emplace_back("Accept-Encoding", value);
    } else {
      out.emplace_back(name, value);
    }
  }
  return out;
}

// Go's net/http words for the answers no handler wrote.
void fill_empty_error(const httplib::Request&, httplib::Response& res) {
  if (!res.body.empty()) return;
  switch (res.status) {
    case 404:
      res.set_content("404 page not found\n", kTextPlain);
      break;
    case 405:
      res.set_content("405 method not allowed\n", kTextPlain);
      break;
    case 413:
      res.set_content("request body too large\n", kTextPlain);
      break;
    default:
      break;
  }
}

ConnectionEnds ends_of(const httplib::Request& req) {
  return {req.local_addr, req.local_port, req.remote_addr, req.remote_port};
}

// The compressed body may be a little larger than what it inflates to; beyond this it is too
// large whatever it holds.
std::size_t wire_limit(const PushLimits& limits) {
  return limits.max_body_bytes + limits.max_body_bytes / 16 + 4096;
}

std::string injected_body(int status, const std::string& tenant, const DecodedPush& push) {
  if (status != 429) return "injected failure: " + std::to_string(status) + "\n";
  std::size_t bytes = 0;
  for (const auto& s : push.streams) {
    for (const auto& e : s.entries) bytes += e.line.size();
  }
  // Loki's own 429 (validation.RateLimitedErrorMsg), with its default 4 MB/s.
  return "Ingestion rate limit exceeded for user " + tenant +
         " (limit: 4194304 bytes/sec) while attempting to ingest '" + std::to_string(push.entry_count) +
         "' lines totaling '" + std::to_string(bytes) +
         "' bytes, reduce log volume or contact your Loki administrator to see if the limit can be "
         "increased\n";
}

void write_dump_line(std::FILE* f, const ReceivedEntry& e) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("labels");
  w.String(e.labels.data(), static_cast<rapidjson::SizeType>(e.labels.size()));
  const std::string ts = std::to_string(e.ts_ns);
  w.Key("ts");
  w.String(ts.data(), static_cast<rapidjson::SizeType>(ts.size()));
  w.Key("line");
  w.String(e.line.data(), static_cast<rapidjson::SizeType>(e.line.size()));
  if (!e.tenant.empty()) {
    w.Key("tenant");
    w.String(e.tenant.data(), static_cast<rapidjson::SizeType>(e.tenant.size()));
  }
  if (!e.metadata.empty()) {
    w.Key("metadata");
    w.StartObject();
    for (const auto& [k, v] : e.metadata) {
      w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
      w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    }
    w.EndObject();
  }
  w.EndObject();
  std::fwrite(buf.GetString(), 1, buf.GetSize(), f);
  std::fputc('\n', f);
}

}  // namespace

struct Receiver::Impl {
  explicit Impl(ReceiverOptions o)
      : options(std::move(o)), store(StoreOptions{options.keep_entries, options.dedup_window}) {}
  ~Impl() {
    if (dump != nullptr) std::fclose(dump);
  }

  Status serve();
  void stop_serving();
  void configure(httplib::Server& server);
  void handle_push(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& read);

  bool read_body(const httplib::Request& req, const httplib::ContentReader& read, std::string& raw,
                 bool& too_large) const;
  RequestFaults take_faults();
  Answer admission(const httplib::Request& req, const RequestFaults& faults, const std::string& tenant,
                   const DecodedPush& push) const;
  Answer answer_for(const httplib::Request& req, const RequestFaults& faults, const std::string& tenant,
                    DecodedPush& push);
  Answer ingest(const std::string& tenant, DecodedPush& push);
  bool pause(std::chrono::milliseconds delay);
  void observe(const httplib::Request& req, const std::string& tenant, const DecodedPush& push,
               const Answer& answer);
  void record(const Answer& answer, const DecodedPush& push);

  ReceiverOptions options;
  int port = 0;

  std::mutex lifecycle;  // start, stop and restart, one at a time
  std::unique_ptr<httplib::Server> server;
  std::thread listener;
  ConnectionRegistry connections;

  mutable std::mutex mutex;                 // everything below
  mutable std::condition_variable changed;  // entries accepted, or stop() begun
  bool stopping = false;
  StreamStore store;
  ReceiverStats stats;
  Faults faults;
  RequestHook hook;
  std::FILE* dump = nullptr;
};

Status Receiver::Impl::serve() {
  std::unique_ptr<httplib::Server> s;
  if (options.tls_cert_file.empty()) {
    s = std::make_unique<httplib::Server>();
  } else {
    auto tls = std::make_unique<httplib::SSLServer>(
        options.tls_cert_file.c_str(), options.tls_key_file.c_str(),
        options.tls_client_ca_file.empty() ? nullptr : options.tls_client_ca_file.c_str());
    if (!tls->is_valid()) return Error{"cannot load the TLS certificate or key " + options.tls_cert_file};
    s = std::move(tls);
  }
  configure(*s);
  bool bound = false;
  if (port == 0) {
    const int p = s->bind_to_any_port(options.host);
    bound = p > 0;
    if (bound) port = p;
  } else {
    // Restarting: the old listener is closed, but give the port a moment all the same.
    for (auto until = Clock::now() + std::chrono::seconds(2); !bound && Clock::now() < until;) {
      bound = s->bind_to_port(options.host, port);
      if (!bound) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  if (!bound) {
    return Error{"cannot listen on " + options.host + ":" + std::to_string(options.port) + ": " +
                 std::strerror(errno)};
  }
  httplib::Server* raw = s.get();
  listener = std::thread([raw] { raw->listen_after_bind(); });
  // stop() only stops a server that is running: wait until the accept loop has begun.
  for (auto until = Clock::now() + std::chrono::seconds(5); !raw->is_running() && Clock::now() < until;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  server = std::move(s);
  return Ok{};
}

void Receiver::Impl::stop_serving() {
  if (!server) return;
  {
    const std::lock_guard lock(mutex);
    stopping = true;  // delayed answers end now, by dropping their connection
  }
  changed.notify_all();
  server->stop();          // no new connections
  connections.shut_all();  // the open ones end, idle keep-alive ones included
  listener.join();         // httplib joins its workers before listen returns
  connections.close_all();
  server.reset();
  const std::lock_guard lock(mutex);
  stopping = false;
}

void Receiver::Impl::configure(httplib::Server& s) {
  const auto threads = static_cast<std::size_t>(std::max(1, options.threads));
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // Go's server keeps a connection for any number of requests; httplib's default closes it
  // after 5.
  s.set_keep_alive_max_count(1'000'000'000);
  s.set_payload_max_length(wire_limit(options.limits));
  s.set_pre_routing_handler(keep_body_compressed);
  s.Post(kPushPath, [this](const httplib::Request& req, httplib::Response& res,
                           const httplib::ContentReader& read) { handle_push(req, res, read); });
  auto not_allowed = [](const httplib::Request&, httplib::Response& res) {
    res.status = 405;
    res.set_header("Allow", "POST");
  };
  s.Get(kPushPath, not_allowed);  // HEAD too: httplib routes it to the GET handlers
  s.Put(kPushPath, not_allowed);
  s.Patch(kPushPath, not_allowed);
  s.Delete(kPushPath, not_allowed);
  s.Options(kPushPath, not_allowed);
  s.set_error_handler(fill_empty_error);
}

// Reads the whole body, keeping at most the wire limit: past it, the rest is read and thrown
// away so the connection stays in step for the next request.
bool Receiver::Impl::read_body(const httplib::Request& req, const httplib::ContentReader& read,
                               std::string& raw, bool& too_large) const {
  const std::size_t limit = wire_limit(options.limits);
  const auto length = req.get_header_value_count("Content-Length") > 0
                          ? std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10)
                          : 0;
  if (length <= limit) raw.reserve(length + 64);  // room for the parser's padding: no copy later
  return read([&](const char* data, std::size_t n) {
    if (!too_large && raw.size() + n <= limit) {
      raw.append(data, n);
    } else if (!too_large) {
      too_large = true;
      std::string().swap(raw);
    }
    return true;
  });
}

RequestFaults Receiver::Impl::take_faults() {
  const std::lock_guard lock(mutex);
  RequestFaults f;
  if (faults.drop_left > 0) {
    --faults.drop_left;
    f.drop = true;
    f.drop_mode = faults.drop_mode;
  } else if (faults.fail_left > 0) {
    --faults.fail_left;
    f.fail = true;
    f.fail_status = faults.fail_status;
    f.retry_after = faults.retry_after;
  }
  f.delay = faults.delay;
  f.delay_ingests = faults.delay_ingests;
  return f;
}

// Everything that answers before ingesting: faults, then what Loki's gateway and middleware
// check (credentials, tenant), then the request's own failure. status 0: go on and ingest.
Answer Receiver::Impl::admission(const httplib::Request& req, const RequestFaults& f,
                                 const std::string& tenant, const DecodedPush& push) const {
  if (f.drop && f.drop_mode == DropMode::before_ingest) return Answer::dropped(true);
  if (f.fail) {
    Answer a = Answer::reply(f.fail_status, injected_body(f.fail_status, tenant, push));
    a.retry_after = f.retry_after;
    a.injected = true;
    return a;
  }
  if (!options.expected_authorization.empty() &&
      req.get_header_value("Authorization") != options.expected_authorization) {
    return Answer::reply(401, "unauthorized\n");
  }
  if (options.require_tenant && tenant.empty()) return Answer::reply(401, "no org id\n");
  if (push.status != 0) return Answer::reply(push.status, push.error + "\n");
  return Answer::reply(0);
}

Answer Receiver::Impl::ingest(const std::string& tenant, DecodedPush& push) {
  const std::lock_guard lock(mutex);
  const PushResult r = store_decoded(tenant, push, options.limits, store, dump != nullptr);
  if (dump != nullptr && !r.accepted_entries.empty()) {
    for (const auto& e : r.accepted_entries) write_dump_line(dump, e);
    std::fflush(dump);
  }
  stats.accepted_entries += r.accepted;
  stats.duplicates += r.duplicates;
  stats.rejected_entries += r.rejected;
  stats.streams = store.stream_count();
  changed.notify_all();
  return Answer::reply(r.status, r.body);
}

// The whole decision for a decoded request: faults and admission, the ingest (with any delay),
// and a drop after ingest, which loses whatever answer there was.
Answer Receiver::Impl::answer_for(const httplib::Request& req, const RequestFaults& f,
                                  const std::string& tenant, DecodedPush& push) {
  Answer answer = admission(req, f, tenant, push);
  if (answer.drop) return answer;
  if (answer.status == 0 && f.delay.count() > 0 && !f.delay_ingests) {
    answer = pause(f.delay) ? Answer::reply(503, "delayed, then refused (set_delay without ingest)\n")
                            : Answer::dropped(false);  // stop() came first
  } else if (answer.status == 0) {
    answer = ingest(tenant, push);
    if (f.delay.count() > 0 && !pause(f.delay)) answer = Answer::dropped(false);  // stop() came first
  }
  if (f.drop) answer = Answer::dropped(true);  // after_ingest (before_ingest returned above)
  return answer;
}

// Waits `delay` unless stop() comes first; false when it did.
bool Receiver::Impl::pause(std::chrono::milliseconds delay) {
  std::unique_lock lock(mutex);
  return !changed.wait_for(lock, delay, [this] { return stopping; });
}

void Receiver::Impl::observe(const httplib::Request& req, const std::string& tenant, const DecodedPush& push,
                             const Answer& answer) {
  RequestHook h;
  {
    const std::lock_guard lock(mutex);
    h = hook;
  }
  if (!h) return;
  ObservedRequest o;
  o.tenant = tenant;
  o.headers = sent_headers(req.headers);
  for (const auto& s : push.streams) {
    for (const auto& e : s.entries) o.entries.push_back(to_received(tenant, s, e, push));
  }
  o.status = answer.drop ? 0 : answer.status;
  o.body = answer.body;
  o.injected = answer.injected;
  h(o);
}

void Receiver::Impl::record(const Answer& answer, const DecodedPush& push) {
  const std::lock_guard lock(mutex);
  ++stats.requests;
  stats.bytes_on_wire += push.wire_bytes;
  stats.bytes_decoded += push.decoded_bytes;
  if (answer.drop) {
    ++stats.dropped_connections;
  } else {
    ++stats.responses_by_status[answer.status];
  }
}

void Receiver::Impl::handle_push(const httplib::Request& req, httplib::Response& res,
                                 const httplib::ContentReader& read) {
  const int connection = connections.track(ends_of(req));
  const std::string tenant = req.get_header_value("X-Scope-OrgID");
  std::string raw;
  bool too_large = false;
  const bool read_ok = read_body(req, read, raw, too_large);

  DecodedPush push;
  if (!read_ok || too_large) {
    push.wire_bytes = raw.size();
    push.status = (too_large || res.status == 413) ? 413 : 400;
    push.error = push.status == 413 ? "request body too large: limit " +
                                          std::to_string(wire_limit(options.limits)) + " bytes as sent"
                                    : "error reading the request body";
  } else {
    const std::string content_type = req.get_header_value("Content-Type");  // the views below need them alive
    const std::string encoding = req.get_header_value(kMovedEncoding);
    const PushRequestInfo info{content_type, encoding, tenant};
    decode_request(info, std::move(raw), options.limits, std::chrono::system_clock::now(), push);
  }

  const Answer answer = answer_for(req, take_faults(), tenant, push);
  observe(req, tenant, push, answer);
  record(answer, push);

  if (answer.drop) {
    // httplib's write of `res` then fails and it closes the connection. (Were the socket not
    // found, which Linux gives no reason for, the client would get this 500 instead.)
    ConnectionRegistry::shut(connection);
    res.status = 500;
    return;
  }
  res.status = answer.status;
  if (!answer.retry_after.empty()) res.set_header("Retry-After", answer.retry_after);
  if (!answer.body.empty()) res.set_content(answer.body, kTextPlain);
}

// ---- Receiver ----

Receiver::Receiver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Receiver::~Receiver() {
  stop();
}

Result<std::unique_ptr<Receiver>> Receiver::start(ReceiverOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  impl->port = impl->options.port;
  if (!impl->options.dump_path.empty()) {
    impl->dump = std::fopen(impl->options.dump_path.c_str(), "a");
    if (impl->dump == nullptr) {
      return Error{"cannot open " + impl->options.dump_path + " for appending: " + std::strerror(errno)};
    }
  }
  const std::lock_guard life(impl->lifecycle);
  if (Status s = impl->serve(); !s) return s.error();
  return std::unique_ptr<Receiver>(new Receiver(std::move(impl)));
}

int Receiver::port() const {
  return impl_->port;
}

std::string Receiver::url() const {
  return (impl_->options.tls_cert_file.empty() ? "http://" : "https://") + impl_->options.host + ":" +
         std::to_string(impl_->port);
}

std::string Receiver::push_url() const {
  return url() + kPushPath;
}

void Receiver::stop() {
  const std::lock_guard life(impl_->lifecycle);
  impl_->stop_serving();
}

Status Receiver::restart(bool forget) {
  const std::lock_guard life(impl_->lifecycle);
  impl_->stop_serving();
  if (forget) clear();
  return impl_->serve();
}

bool Receiver::running() const {
  const std::lock_guard life(impl_->lifecycle);
  return impl_->server != nullptr;
}

std::vector<ReceivedEntry> Receiver::entries() const {
  const std::lock_guard lock(impl_->mutex);
  return impl_->store.entries();
}

ReceiverStats Receiver::stats() const {
  const std::lock_guard lock(impl_->mutex);
  return impl_->stats;
}

void Receiver::clear() {
  const std::lock_guard lock(impl_->mutex);
  impl_->store.clear();
  impl_->stats = ReceiverStats{};
}

bool Receiver::wait_for_entries(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->changed.wait_for(lock, timeout, [&] { return impl_->stats.accepted_entries >= n; });
}

void Receiver::fail_next(int n, int status, std::string retry_after) {
  const std::lock_guard lock(impl_->mutex);
  impl_->faults.fail_left = n;
  impl_->faults.fail_status = status;
  impl_->faults.retry_after = std::move(retry_after);
}

void Receiver::set_delay(std::chrono::milliseconds delay, bool ingest) {
  const std::lock_guard lock(impl_->mutex);
  impl_->faults.delay = delay;
  impl_->faults.delay_ingests = ingest;
}

void Receiver::drop_next(int n, DropMode mode) {
  const std::lock_guard lock(impl_->mutex);
  impl_->faults.drop_left = n;
  impl_->faults.drop_mode = mode;
}

void Receiver::clear_faults() {
  const std::lock_guard lock(impl_->mutex);
  impl_->faults = Faults{};
}

void Receiver::set_request_hook(RequestHook hook) {
  const std::lock_guard lock(impl_->mutex);
  impl_->hook = std::move(hook);
}

}  // namespace shmlog::loki
