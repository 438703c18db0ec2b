// The live tail behind GET /api/tail (docs/http.md). The drain thread offers every line it
// writes; each HTTP client follows them with its own filter. One shared ring holds the lines
// (4096 lines, 4 MiB): the drain writes it without ever looking at a client, each client keeps
// its own cursor, and one that falls a ring behind finds its oldest lines overwritten, skips
// ahead and is told how many records it lost. Memory is fixed whatever the clients do, and a
// slow or stuck client costs the drain nothing.
//
// Level and service, which the drain knows without parsing, are checked before a line is
// copied; q, re and kv need the line parsed and are checked in the client's own thread.
#pragma once

#include <shmlog/level.hpp>
#include <shmlog/result.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shmlog::sidecar {

// What a client wants to see: the query parameters of GET /api/tail, all combined with AND.
class TailFilter {
 public:
  // std::regex takes time that grows with the square of the text (and more for some patterns),
  // so `re` looks at this much of the message, cut at a character boundary; `q` sees it all.
  static constexpr std::size_t kRegexTextBytes = 4096;
  static constexpr std::size_t kMaxPatternBytes = 1024;
  static constexpr std::size_t kMaxKv = 32;

  // level (minimum, any name parse_level knows), service (exact), q (text the message
  // contains), re (ECMAScript, searched in the message; no back-references, so the search stays
  // polynomial), kv (key=value a context entry holds; repeatable). An empty value counts as not
  // given, as a blank form field sends it. Anything else (an unknown or repeated parameter, a
  // bad level, kv without '=', a bad regex) is an Error naming the parameter, for a 400.
  static Result<TailFilter> parse(const std::multimap<std::string, std::string>& query);

  // All of it, on one JSON line as the drain writes it (a trailing newline is allowed).
  bool matches(std::string_view service, Level level, std::string_view json_line) const;
  // The cheap part: what the drain checks before copying a line.
  bool matches_origin(std::string_view service, Level level) const;
  // The part that parses the line: q, re, kv. True when none is set; false for a line that
  // is not a JSON object. Context values are compared as text: a number, true, false or null
  // by its JSON text ("kv=status=200" matches "status":200 and "status":"200").
  bool matches_line(std::string_view json_line) const;
  bool needs_line() const { return !q_.empty() || re_.has_value() || !kv_.empty(); }

  Level min_level() const { return min_level_; }
  const std::optional<std::string>& service() const { return service_; }

 private:
  Level min_level_ = Level::trace;
  std::optional<std::string> service_;
  std::string q_;
  std::optional<std::regex> re_;
  std::vector<std::pair<std::string, std::string>> kv_;
};

struct TailHubOptions {
  // The shared ring (each rounded up to a power of two). A client more than this many lines
  // or bytes behind loses the oldest; 4096 lines is about 3 ms of the drain at full speed,
  // minutes of a quiet service.
  std::size_t ring_lines = 4096;
  std::size_t ring_bytes = 4 << 20;
  // A longer line is skipped, not cut (a cut line is not JSON): each counts as dropped for the
  // clients it was for. 512 KiB holds a 64 KiB message (--max-message-bytes) even if every
  // byte of it needs escaping. At most half of ring_bytes.
  std::size_t max_line_bytes = 512 << 10;
  // How much SSE text one wait_next() returns at most (one record may go past it), so the
  // HTTP thread writes and sees a closed connection between batches.
  std::size_t max_batch_bytes = 256 << 10;
};

namespace detail {
struct TailShared;
}

// One subscribed client, used by one HTTP thread. Destroying it unsubscribes (frees its slot);
// it may outlive the hub.
class TailClient {
 public:
  ~TailClient();
  TailClient(const TailClient&) = delete;
  TailClient& operator=(const TailClient&) = delete;

  // Replaces `sse_out` by complete server-sent events: `event: record` with the JSON line as
  // data, preceded by `event: dropped` with data {"dropped":N} when N records this client
  // wanted were lost since the last such event (it fell a ring behind, or a line was longer
  // than max_line_bytes; N counts records that passed its level and service, whatever q, re
  // and kv would have said). Waits up to `max_wait` for something to send; returns true with
  // `sse_out` empty if nothing came: keep-alive comments are the caller's business. Returns
  // false once the hub is closed: the stream should end.
  bool wait_next(std::string& sse_out, std::chrono::milliseconds max_wait);

  // Records this client lost so far (what its dropped events said, and any not said yet).
  std::uint64_t dropped() const;
  const TailFilter& filter() const;

 private:
  friend class TailHub;
  struct State;
  explicit TailClient(std::unique_ptr<State> state);
  bool take(std::string& out);
  std::unique_ptr<State> state_;
};

class TailHub {
 public:
  static constexpr std::size_t kMaxClients = 8;  // docs/http.md: a ninth gets 503

  explicit TailHub(TailHubOptions options = {});
  ~TailHub();
  TailHub(const TailHub&) = delete;
  TailHub& operator=(const TailHub&) = delete;

  // ---- the drain thread only ----

  // Whether anyone tails: one relaxed load, so the drain can skip offer() for free.
  bool active() const { return clients_->load(std::memory_order_relaxed) != 0; }
  // A line just written (a trailing newline is dropped). Never blocks, never allocates once
  // the subscribed clients' filters are known; a line no client's level and service want
  // costs a few loads and compares, one they want a copy into the ring.
  void offer(std::string_view service, Level level, std::string_view json_line);
  // Once per drain round: wakes clients that sleep waiting for lines. Lines offered are seen
  // by a client that is awake at once; a sleeping one is woken here (and every ring_lines / 8
  // lines), which saves a system call per line.
  void flush_round();

  // ---- any thread ----

  // An Error (for a 503, its message the body) when kMaxClients clients are subscribed or the
  // hub is closed. The client sees lines offered from about now on: the drain takes its filter
  // at its next line.
  Result<std::unique_ptr<TailClient>> subscribe(TailFilter filter);
  // Sidecar shutdown: every wait_next() returns false, now or at its next call.
  void close();
  std::size_t clients() const { return clients_->load(std::memory_order_relaxed); }

 private:
  struct DrainSide;
  void refresh_filters();
  std::uint32_t clients_for_service(std::string_view service);
  void append(std::uint32_t clients, std::string_view line);
  void wake_sleepers();

  std::shared_ptr<detail::TailShared> shared_;
  const std::atomic<std::uint32_t>* clients_;  // in *shared_: subscribed clients
  std::unique_ptr<DrainSide> drain_;
};

}  // namespace shmlog::sidecar
