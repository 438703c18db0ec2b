// What the Loki shipper is told by the settings (settings/loki_rows.cpp declares them).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace shmlog::sidecar::loki {

enum class LineFormat { json, message };
// protobuf: the serialized PushRequest, snappy-compressed (what Promtail and Grafana Alloy
// send); json: the JSON body, gzip-compressed (Content-Encoding: gzip).
enum class Encoding { protobuf, json };

// Record fields that may become labels: each has few values per pod. Ids, trace fields, the
// message and the call site never do (a stream per value would swamp Loki's index).
inline const std::vector<std::string>& label_field_choices() {
  static const std::vector<std::string> v = {"service", "namespace", "pod",   "container",
                                             "level",   "host",      "logger"};
  return v;
}

struct LokiOptions {
  std::string url;     // empty: shipping is off
  std::string tenant;  // X-Scope-OrgID; empty: none sent
  std::vector<std::pair<std::string, std::string>> static_labels = {{"job", "shmlog"}};
  std::vector<std::string> label_fields = {"service", "namespace", "pod", "container", "level"};
  LineFormat line_format = LineFormat::json;
  Encoding encoding = Encoding::protobuf;
  std::size_t batch_bytes = 1 << 20;  // of lines; one request holds at most this much
  std::chrono::milliseconds batch_wait{1000};
  std::chrono::milliseconds backoff_min{500};
  std::chrono::milliseconds backoff_max{300000};
  std::chrono::milliseconds timeout{10000};  // connect, and each read or write of a request
  std::size_t max_line_bytes = 256 << 10;    // Loki's max_line_size default
  std::string ca_file;                       // https: the CA bundle to verify the server with
  std::string cert_file, key_file;           // https: a client certificate (mTLS)
  std::string username, password_file;       // basic auth; the password read from a file
  std::string bearer_token_file;             // Authorization: Bearer, read from a file
  std::string positions_file;                // empty: <out>/.shmlog-loki-positions.json
};

}  // namespace shmlog::sidecar::loki
