// A stand-in for Grafana Loki's push API (POST /loki/api/v1/push), for tests and benchmarks: it
// decodes a request as Loki 3.x does (JSON, or snappy-compressed protobuf; gzip or not), enforces
// Loki's default limits with Loki's status codes and messages, keeps what Loki would keep (dedup,
// out-of-order window), and misbehaves on demand: failing, stalling, dropping the connection,
// restarting on the same port.
//
// Two layers: decode_push() is the pure part (no sockets, testable alone); Receiver serves it
// over HTTP with cpp-httplib and adds the fault injection. Where the receiver is stricter than
// Loki, or differs from it on purpose, docs in push_decode.hpp say so.
#pragma once

#include "push_decode.hpp"
#include "stream_store.hpp"

#include <shmlog/result.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shmlog::loki {

// ---- the pure part ----

struct PushResult {
  int status = 204;                             // 204, or 400/401/413/415/422 as Loki answers
  std::string body;                             // empty on 204; otherwise the reasons, one per line
  std::size_t accepted = 0;                     // entries stored
  std::size_t rejected = 0;                     // entries refused by a limit (a 400 lists why)
  std::size_t duplicates = 0;                   // exact repeats, silently ignored as Loki does
  std::vector<ReceivedEntry> accepted_entries;  // what was stored, in order
};

// Decodes one push body (Content-Encoding, then JSON or protobuf) and applies it to `store` as
// Loki would: valid entries are stored even when others fail (then 400 naming the failures); a
// body that cannot be decoded at all stores nothing.
PushResult decode_push(const PushRequestInfo& request, std::string body, const PushLimits& limits,
                       StreamStore& store,
                       std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// ---- the HTTP receiver ----

struct ReceiverOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: the system picks one; port() says which, and restart() keeps it
  PushLimits limits;
  bool keep_entries = true;  // false: count only (benchmarks); memory stays bounded
  // Count-only mode: an exact duplicate is recognised when its original is among the last
  // `dedup_window` (up to twice that) entries accepted on its stream. Keep mode: always.
  std::size_t dedup_window = 16384;
  bool require_tenant = false;         // Loki with auth_enabled: 401 "no org id" without one
  std::string expected_authorization;  // non-empty: the exact Authorization value, else 401
  int threads = 4;        // httplib workers: connections served at once (a keep-alive one holds one)
  std::string dump_path;  // non-empty: every accepted entry is appended there as a JSON line
  // https: the server's certificate and key (PEM); with a client CA, clients must present a
  // certificate it signed (mTLS).
  std::string tls_cert_file, tls_key_file, tls_client_ca_file;
};

struct ReceiverStats {
  std::uint64_t requests = 0;  // POSTs to the push path, whatever their answer (drops too)
  std::uint64_t accepted_entries = 0;
  std::uint64_t rejected_entries = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t bytes_on_wire = 0;  // request bodies as sent (compressed)
  std::uint64_t bytes_decoded = 0;  // the JSON after gunzip, or the protobuf after snappy
  std::uint64_t dropped_connections = 0;
  std::uint64_t streams = 0;  // distinct (tenant, labels) seen
  std::map<int, std::uint64_t> responses_by_status;

  // How many answers had this status; 0 for none (usable on a const copy, unlike operator[]).
  std::uint64_t responses(int status) const {
    const auto it = responses_by_status.find(status);
    return it == responses_by_status.end() ? 0 : it->second;
  }
};

// What a request hook sees: the request as decoded and the answer about to go out.
struct ObservedRequest {
  std::string tenant;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<ReceivedEntry> entries;  // every entry decoded from the body, valid or not
  int status = 0;                      // the answer; 0 when the connection is dropped instead
  std::string body;
  bool injected = false;  // the answer came from fault injection
};
using RequestHook = std::function<void(const ObservedRequest&)>;

enum class DropMode {
  before_ingest,  // the request is lost: nothing stored, no answer
  after_ingest,   // handled as usual (a valid push is stored), but the answer is lost
};

class Receiver {
 public:
  // Binds and starts serving; the error says why it could not (port taken, bad host).
  static Result<std::unique_ptr<Receiver>> start(ReceiverOptions options);
  ~Receiver();
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  int port() const;
  std::string url() const;       // http://host:port (https:// with a certificate)
  std::string push_url() const;  // http://host:port/loki/api/v1/push

  // Stops serving: closes the listener and every open connection; in-flight delays end by
  // dropping their connection. What was received stays.
  void stop();
  // stop(), then serve again on the same port, like a restarted Loki; `forget` clears what was
  // received (a Loki that lost its ingester state).
  Status restart(bool forget = false);
  bool running() const;

  std::vector<ReceivedEntry> entries() const;  // keep mode: everything accepted, in order
  ReceiverStats stats() const;
  void clear();  // forgets entries, streams and counters
  // Waits until at least `n` entries have been accepted in total.
  bool wait_for_entries(std::size_t n, std::chrono::milliseconds timeout) const;

  // ---- fault injection; each may be called from any thread at any time ----
  // Faults come before everything else (credentials, tenant, decoding), as a proxy or a sick
  // Loki in front would answer. When drops and failures are both pending, drops go first.
  //
  // The next `n` push requests are answered `status` (e.g. 429, 500, 503), nothing ingested;
  // `retry_after`, when set, is sent as the Retry-After header. Replaces any pending count.
  void fail_next(int n, int status, std::string retry_after = {});
  // Every push request that would be ingested waits `delay` before its answer (0 turns it off).
  // With `ingest` the entries are stored first and the answer is late (a client that times out
  // and resends makes duplicates, which Loki drops); without, nothing is stored and the late
  // answer is 503. stop() cuts a delay short by dropping the connection.
  void set_delay(std::chrono::milliseconds delay, bool ingest = true);
  // The next `n` push requests get no answer: their connection is shut down (the client reads
  // EOF at once, not a timeout). Replaces any pending count.
  void drop_next(int n, DropMode mode = DropMode::before_ingest);
  void clear_faults();
  // Called on a worker thread for every push request, before the answer. It may call this
  // object, except stop() and restart() (they wait for the worker it runs on).
  void set_request_hook(RequestHook hook);

 private:
  struct Impl;  // loki_receiver.cpp
  explicit Receiver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shmlog::loki
