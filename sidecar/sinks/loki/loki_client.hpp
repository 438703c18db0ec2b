// One connection to Loki's push endpoint (cpp-httplib, https through its OpenSSL support):
// compresses a push body (snappy for protobuf, gzip for JSON) and POSTs it with the tenant and credentials.
// It says what happened; what to do about it (retry, split, give up) is the shipper's.
#pragma once

#include "sinks/loki/loki_options.hpp"

#include <shmlog/result.hpp>

#include <memory>
#include <string>
#include <string_view>

namespace shmlog::sidecar::loki {

struct PushOutcome {
  int status = 0;              // the HTTP status; 0 when no response came (error says why)
  std::string error;           // connection, timeout, TLS: cpp-httplib's words
  std::string body;            // Loki's answer (its reason, on a 4xx), at most 4 KiB kept
  std::string retry_after;     // the Retry-After header, if any
  std::size_t wire_bytes = 0;  // the compressed body's size

  bool ok() const { return status >= 200 && status < 300; }
  // 429, 5xx, 408 and no response at all: Loki (or the way to it) may take it later.
  // 401, 403, 404, 405 and 407 say nothing about the entries but about the credentials, the URL
  // or a proxy: splitting the request cannot help, dropping it would lose everything until
  // someone fixes the settings, so these wait and retry too (and are said as such).
  bool misconfigured() const {
    return status == 401 || status == 403 || status == 404 || status == 405 || status == 407;
  }
  bool retriable() const {
    return status == 0 || status == 408 || status == 429 || status >= 500 || misconfigured();
  }
};

struct LokiEndpoint {
  std::string scheme_host_port;  // "http://loki:3100"
  std::string path;              // "/loki/api/v1/push" unless the URL names another
};

// Splits a Loki URL; the path defaults to /loki/api/v1/push. An error says what is wrong.
Result<LokiEndpoint> parse_loki_url(const std::string& url);

// Compresses push bodies as the encoding wants: snappy (block format) for protobuf, gzip for
// JSON. One per thread: the compressor keeps state between bodies.
class PushCompressor {
 public:
  explicit PushCompressor(Encoding encoding);
  ~PushCompressor();
  PushCompressor(const PushCompressor&) = delete;
  PushCompressor& operator=(const PushCompressor&) = delete;
  // The compressed body, in a buffer of the compressor's own (valid until the next call);
  // empty only if the compressor could not be set up. The buffer only grows: resizing a
  // string to the worst case for every body cleared a megabyte each time.
  std::string_view compress(const std::string& body);

 private:
  Encoding encoding_;
  std::string buffer_;
  void* deflate_ = nullptr;  // libdeflate_compressor, for JSON
};

class LokiClient {
 public:
  // Checks the URL and that the TLS and credential files can be read.
  static Result<std::unique_ptr<LokiClient>> create(const LokiOptions& options);
  ~LokiClient();

  // POSTs a body already compressed by a PushCompressor of the configured encoding.
  PushOutcome post(std::string_view compressed);

 private:
  struct Impl;
  explicit LokiClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shmlog::sidecar::loki
