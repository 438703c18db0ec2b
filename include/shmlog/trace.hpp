// Thread-local trace and correlation context. Records logged on a thread carry whatever is set
// here (trace_id, span_id, correlation_id in the output), so a request's lines can be found
// together. W3C Trace Context: https://www.w3.org/TR/trace-context/#traceparent-header
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shmlog {

struct TraceContext {
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> span_id{};
  std::uint8_t flags = 0;  // bit 0: sampled

  bool valid() const;  // W3C: all-zero ids are invalid
  std::string trace_id_hex() const;
  std::string span_id_hex() const;
  // "00-<trace id>-<span id>-<flags>", the header value to send downstream.
  std::string to_traceparent() const;
  // A child span of this trace: same trace id and flags, a fresh random span id.
  TraceContext child() const;
  // A new root trace with random ids, sampled.
  static TraceContext generate();
};

// Parses a `traceparent` header value. Accepts version 00 exactly as specified and, as the spec
// asks, future versions by their first four fields; rejects all-zero ids, version ff, upper-case
// hex and wrong lengths.
std::optional<TraceContext> parse_traceparent(std::string_view header);

// The calling thread's context, as records will carry it.
std::optional<TraceContext> current_trace();
std::string current_correlation_id();

// Sets the thread's trace context for its lifetime and restores the previous one after.
class ScopedTrace {
 public:
  explicit ScopedTrace(const TraceContext& ctx);
  ~ScopedTrace();
  ScopedTrace(const ScopedTrace&) = delete;
  ScopedTrace& operator=(const ScopedTrace&) = delete;

 private:
  std::optional<TraceContext> previous_;
};

// Sets the thread's correlation id (cut to 64 bytes) for its lifetime, restores the previous.
class ScopedCorrelation {
 public:
  explicit ScopedCorrelation(std::string_view id);
  ~ScopedCorrelation();
  ScopedCorrelation(const ScopedCorrelation&) = delete;
  ScopedCorrelation& operator=(const ScopedCorrelation&) = delete;

 private:
  std::string previous_;
};

}  // namespace shmlog
