#include <shmlog/logger.hpp>
#include <shmlog/ring_format.hpp>
#include <shmlog/trace.hpp>

#include <algorithm>
#include <cstring>
#include <random>

namespace shmlog {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is invalid in traceparent
}

template <std::size_t N>
bool parse_hex(std::string_view s, std::array<std::uint8_t, N>& out) {
  if (s.size() != 2 * N) return false;
  for (std::size_t i = 0; i < N; ++i) {
    int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

template <std::size_t N>
std::string to_hex(const std::array<std::uint8_t, N>& in) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s(2 * N, '0');
  for (std::size_t i = 0; i < N; ++i) {
    s[2 * i] = digits[in[i] >> 4];
    s[2 * i + 1] = digits[in[i] & 15];
  }
  return s;
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& a) {
  return std::all_of(a.begin(), a.end(), [](std::uint8_t b) { return b == 0; });
}

std::mt19937_64& rng() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return engine;
}

template <std::size_t N>
void fill_random(std::array<std::uint8_t, N>& a) {
  do {
    for (std::size_t i = 0; i < N; i += 8) {
      std::uint64_t r = rng()();
      std::memcpy(a.data() + i, &r, std::min<std::size_t>(8, N - i));
    }
  } while (all_zero(a));
}

void store_trace(const std::optional<TraceContext>& ctx) {
  auto& tc = detail::t_context;
  if (!ctx) {
    tc.flags = static_cast<std::uint16_t>(tc.flags & ~ring::kHasTrace);
    detail::t_lane.context_flags = tc.flags;
    return;
  }
  std::memcpy(tc.trace, ctx->trace_id.data(), 16);
  std::memcpy(tc.trace + 16, ctx->span_id.data(), 8);
  tc.trace[24] = ctx->flags;
  tc.flags = static_cast<std::uint16_t>(tc.flags | ring::kHasTrace);
  detail::t_lane.context_flags = tc.flags;  // the hot path reads the flags from its own line
}

void store_correlation(std::string_view id) {
  auto& tc = detail::t_context;
  id = id.substr(0, sizeof tc.correlation);
  std::memcpy(tc.correlation, id.data(), id.size());
  tc.correlation_len = static_cast<std::uint8_t>(id.size());
  tc.flags = static_cast<std::uint16_t>(id.empty() ? tc.flags & ~ring::kHasCorrelation
                                                   : tc.flags | ring::kHasCorrelation);
  detail::t_lane.context_flags = tc.flags;
}

}  // namespace

bool TraceContext::valid() const {
  return !all_zero(trace_id) && !all_zero(span_id);
}
std::string TraceContext::trace_id_hex() const {
  return to_hex(trace_id);
}
std::string TraceContext::span_id_hex() const {
  return to_hex(span_id);
}

std::string TraceContext::to_traceparent() const {
  static constexpr char digits[] = "0123456789abcdef";
  std::string f{digits[flags >> 4], digits[flags & 15]};
  return "00-" + trace_id_hex() + "-" + span_id_hex() + "-" + f;
}

TraceContext TraceContext::child() const {
  TraceContext c = *this;
  fill_random(c.span_id);
  return c;
}

TraceContext TraceContext::generate() {
  TraceContext c;
  fill_random(c.trace_id);
  fill_random(c.span_id);
  c.flags = 1;
  return c;
}

std::optional<TraceContext> parse_traceparent(std::string_view h) {
  // version "-" trace-id "-" parent-id "-" trace-flags, 55 characters for version 00.
  while (!h.empty() && (h.front() == ' ' || h.front() == '\t')) h.remove_prefix(1);
  while (!h.empty() && (h.back() == ' ' || h.back() == '\t')) h.remove_suffix(1);
  if (h.size() < 55) return std::nullopt;
  std::array<std::uint8_t, 1> version{}, flags{};
  if (!parse_hex(h.substr(0, 2), version) || version[0] == 0xff) return std::nullopt;
  if (version[0] == 0 && h.size() != 55) return std::nullopt;
  // Future versions may append fields after a '-'.
  if (version[0] != 0 && h.size() > 55 && h[55] != '-') return std::nullopt;
  if (h[2] != '-' || h[35] != '-' || h[52] != '-') return std::nullopt;
  TraceContext ctx;
  if (!parse_hex(h.substr(3, 32), ctx.trace_id) || !parse_hex(h.substr(36, 16), ctx.span_id) ||
      !parse_hex(h.substr(53, 2), flags))
    return std::nullopt;
  ctx.flags = flags[0];
  if (!ctx.valid()) return std::nullopt;
  return ctx;
}

std::optional<TraceContext> current_trace() {
  const auto& tc = detail::t_context;
  if (!(tc.flags & ring::kHasTrace)) return std::nullopt;
  TraceContext c;
  std::memcpy(c.trace_id.data(), tc.trace, 16);
  std::memcpy(c.span_id.data(), tc.trace + 16, 8);
  c.flags = tc.trace[24];
  return c;
}

std::string current_correlation_id() {
  const auto& tc = detail::t_context;
  return std::string(tc.correlation, tc.correlation_len);
}

ScopedTrace::ScopedTrace(const TraceContext& ctx) : previous_(current_trace()) {
  store_trace(ctx);
}
ScopedTrace::~ScopedTrace() {
  store_trace(previous_);
}

ScopedCorrelation::ScopedCorrelation(std::string_view id) : previous_(current_correlation_id()) {
  store_correlation(id);
}
ScopedCorrelation::~ScopedCorrelation() {
  store_correlation(previous_);
}

}  // namespace shmlog
