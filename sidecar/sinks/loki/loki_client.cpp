#include "sinks/loki/loki_client.hpp"

#include "util/secret_file.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

#include <httplib.h>
#include <libdeflate.h>
#include <snappy.h>
#include <sys/stat.h>

namespace shmlog::sidecar::loki {
namespace {

// JSON bodies are a megabyte of similar lines: the fastest level already shrinks them about
// tenfold, and the higher ones cost several times the CPU for a few percent more. libdeflate
// rather than zlib: the same gzip, 1.6x faster here (438 vs 274 MB/s at level 1).
constexpr int kGzipLevel = 1;

bool readable(const std::string& path) {
  std::ifstream f(path);
  return f.good();
}

}  // namespace

Result<LokiEndpoint> parse_loki_url(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos)
    return Error{"\"" + url + "\" is not a URL (expected http://host:port or https://...)"};
  const std::string scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https")
    return Error{"\"" + url + "\": the scheme must be http or https"};
  const auto host_start = scheme_end + 3;
  const auto slash = url.find('/', host_start);
  const std::string host_port =
      url.substr(host_start, slash == std::string::npos ? std::string::npos : slash - host_start);
  if (host_port.empty() || host_port.find_first_of(" @?#") != std::string::npos)
    return Error{"\"" + url + "\": no valid host (credentials go in files, not in the URL)"};
  LokiEndpoint e;
  e.scheme_host_port = scheme + "://" + host_port;
  e.path = slash == std::string::npos ? std::string() : url.substr(slash);
  if (e.path.empty() || e.path == "/") e.path = "/loki/api/v1/push";
  return e;
}

PushCompressor::PushCompressor(Encoding encoding) : encoding_(encoding) {
  if (encoding == Encoding::json) deflate_ = libdeflate_alloc_compressor(kGzipLevel);
}

PushCompressor::~PushCompressor() {
  if (deflate_ != nullptr) libdeflate_free_compressor(static_cast<libdeflate_compressor*>(deflate_));
}

std::string_view PushCompressor::compress(const std::string& body) {
  if (encoding_ == Encoding::protobuf) {
    // Loki's protobuf push is snappy's block format, with no Content-Encoding header.
    const std::size_t bound = snappy::MaxCompressedLength(body.size());
    if (buffer_.size() < bound) buffer_.resize(bound);
    std::size_t n = 0;
    snappy::RawCompress(body.data(), body.size(), buffer_.data(), &n);
    return {buffer_.data(), n};
  }
  auto* c = static_cast<libdeflate_compressor*>(deflate_);
  if (c == nullptr) return {};
  const std::size_t bound = libdeflate_gzip_compress_bound(c, body.size());
  if (buffer_.size() < bound) buffer_.resize(bound);
  const std::size_t n = libdeflate_gzip_compress(c, body.data(), body.size(), buffer_.data(), buffer_.size());
  return {buffer_.data(), n};
}

struct LokiClient::Impl {
  LokiOptions options;
  LokiEndpoint endpoint;
  std::unique_ptr<httplib::Client> http;
  SecretFile password{""}, token{""};

  void connect() {
    http = options.cert_file.empty() ? std::make_unique<httplib::Client>(endpoint.scheme_host_port)
                                     : std::make_unique<httplib::Client>(endpoint.scheme_host_port,
                                                                         options.cert_file, options.key_file);
    http->set_keep_alive(true);
    http->set_connection_timeout(options.timeout);
    http->set_read_timeout(options.timeout);
    http->set_write_timeout(options.timeout);
    if (!options.ca_file.empty()) http->set_ca_cert_path(options.ca_file);
    if (endpoint.scheme_host_port.starts_with("https")) http->enable_server_certificate_verification(true);
  }
};

LokiClient::LokiClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LokiClient::~LokiClient() = default;

Result<std::unique_ptr<LokiClient>> LokiClient::create(const LokiOptions& options) {
  auto endpoint = parse_loki_url(options.url);
  if (!endpoint) return Error{"--loki-url: " + endpoint.error().message};
  const bool https = endpoint->scheme_host_port.starts_with("https");
  const std::pair<const char*, const std::string*> files[] = {
      {"--loki-ca-file", &options.ca_file},
      {"--loki-cert-file", &options.cert_file},
      {"--loki-key-file", &options.key_file},
      {"--loki-password-file", &options.password_file},
      {"--loki-bearer-token-file", &options.bearer_token_file}};
  for (const auto& [flag, path] : files)
    if (!path->empty() && !readable(*path)) return Error{std::string(flag) + ": cannot read " + *path};
  if (!https && (!options.ca_file.empty() || !options.cert_file.empty()))
    return Error{"--loki-ca-file and --loki-cert-file need an https:// --loki-url"};
  if (options.cert_file.empty() != options.key_file.empty())
    return Error{"--loki-cert-file and --loki-key-file go together (mTLS)"};
  if (!options.password_file.empty() && options.username.empty())
    return Error{"--loki-password-file needs --loki-username"};
  if (!options.bearer_token_file.empty() && !options.username.empty())
    return Error{"basic auth (--loki-username) and a bearer token (--loki-bearer-token-file): choose one"};
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->endpoint = *endpoint;
  impl->password = SecretFile(options.password_file);
  impl->token = SecretFile(options.bearer_token_file);
  impl->connect();
  if (!impl->http->is_valid())
    return Error{"--loki-url: cannot set up a client for " + options.url + " (TLS files?)"};
  return std::unique_ptr<LokiClient>(new LokiClient(std::move(impl)));
}

PushOutcome LokiClient::post(std::string_view compressed) {
  Impl& m = *impl_;
  PushOutcome out;
  const bool json = m.options.encoding == Encoding::json;
  httplib::Headers headers;
  if (json) headers.emplace("Content-Encoding", "gzip");
  out.wire_bytes = compressed.size();
  if (!m.options.tenant.empty()) headers.emplace("X-Scope-OrgID", m.options.tenant);
  if (!m.options.username.empty()) m.http->set_basic_auth(m.options.username, m.password.value());
  if (!m.token.empty()) m.http->set_bearer_token_auth(m.token.value());
  auto res = m.http->Post(m.endpoint.path, headers, compressed.data(), compressed.size(),
                          json ? "application/json" : "application/x-protobuf");
  if (!res) {
    out.error = httplib::to_string(res.error());
    // A broken connection is not reused: the next push starts a fresh one.
    m.connect();
    return out;
  }
  out.status = res->status;
  out.body = res->body.substr(0, 4096);
  if (res->has_header("Retry-After")) out.retry_after = res->get_header_value("Retry-After");
  return out;
}

}  // namespace shmlog::sidecar::loki
