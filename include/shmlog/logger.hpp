// The app-facing logging API.
//
//   shmlog::Logger log{"payments"};
//   log.info("charged {} cents to {}", cents, account, shmlog::kv("order_id", id));
//   auto child = log.with_context(shmlog::kv("tenant", "acme"));
//   try { ... } catch (const std::exception& e) { log.error("refund failed", shmlog::exception(e)); }
//   { auto t = log.time("load config"); ... }   // logs duration_ms when the scope ends
//
// A call costs a level check, then copying the raw arguments into this thread's lane: no lock,
// no syscall, no formatting, no allocation. The sidecar formats. Nothing here throws.
#pragma once

#include <shmlog/config.hpp>
#include <shmlog/detail/args.hpp>
#include <shmlog/detail/producer.hpp>
#include <shmlog/level.hpp>
#include <shmlog/result.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>

// Calls below this level compile to nothing (0 = TRACE ... 5 = CRITICAL). With the methods the
// arguments are still evaluated; the SHMLOG_* macros skip them too.
#ifndef SHMLOG_ACTIVE_LEVEL
#define SHMLOG_ACTIVE_LEVEL 0
#endif

namespace shmlog {

inline constexpr Level kCompiledMinLevel = static_cast<Level>(SHMLOG_ACTIVE_LEVEL);

// ---- process-wide setup (all optional: the first log call initialises from the environment) ----

// Opens this process's ring with `config` (see Config::from_env for the usual start). Returns
// an error for a bad setting; a directory that cannot be used is not an error: the library
// falls back as configured and says so once on stderr.
Status init(const Config& config);
// Marks the ring closed (the sidecar drains it, then removes it) and sends later calls to the
// fallback. Safe to call more than once.
void shutdown() noexcept;
// Waits until consumers have taken every record committed before the call, or the timeout
// passes. True if drained. Never hangs past the timeout; with no ring it returns at once.
bool flush(std::chrono::milliseconds timeout = std::chrono::milliseconds{1000}) noexcept;
// The ring file this process writes, or empty while it has none (fallback).
std::string ring_path();
// Where records go now: "ring", "stderr" or "discard".
std::string_view sink_name() noexcept;

// ---- per-call extras ----

// A structured key/value for this record's `context`. Keys longer than 255 bytes are cut.
template <typename T>
struct KeyValue {
  std::string_view key;
  const T& value;
};
template <typename T>
KeyValue<T> kv(std::string_view key, const T& value) {
  static_assert(detail::Loggable<T>, "shmlog::kv: value type cannot be logged");
  return {key, value};
}

// A caught exception for the record's `exception` field: its dynamic type and what().
struct ExceptionInfo {
  const char* type;  // mangled; the reader demangles it
  std::string_view what;
};
inline ExceptionInfo exception(const std::exception& e) noexcept {
  return {typeid(e).name(), e.what()};
}
// For `catch (...)`: the type and message of std::current_exception(), if any.
ExceptionInfo current_exception() noexcept;

// ---- the format string: checked against the arguments at compile time ----

namespace detail {
template <typename T>
inline constexpr bool is_kv = false;
template <typename T>
inline constexpr bool is_kv<KeyValue<T>> = true;
template <typename T>
inline constexpr bool is_exception = std::is_same_v<std::remove_cvref_t<T>, ExceptionInfo>;
template <typename T>
inline constexpr bool is_format_arg = !is_kv<std::remove_cvref_t<T>> && !is_exception<T>;

template <typename T>
constexpr char code_of() {
  if constexpr (is_format_arg<T>) {
    static_assert(Loggable<T>,
                  "shmlog: this argument type cannot be logged (integers, floating "
                  "point, bool, char, strings, pointers and enums can)");
    return static_cast<char>(arg_traits<T>::code);
  } else {
    return 0;
  }
}

template <typename... Args>
struct Signature {
  static constexpr std::size_t count = (std::size_t{0} + ... + (is_format_arg<Args> ? 1 : 0));
  static constexpr std::array<char, count + 1> codes = [] {
    std::array<char, count + 1> a{};
    std::size_t i = 0;
    ((is_format_arg<Args> ? (a[i++] = code_of<Args>(), 0) : 0), ...);
    return a;
  }();
};

// Counts replacement fields of an fmt-style template ("{}", "{:>8}", "{0}"), skipping "{{" and
// "}}". Returns -1 for an unbalanced brace.
consteval int count_fields(std::string_view s) {
  int automatic = 0, max_index = -1;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '{') {
      if (i + 1 < s.size() && s[i + 1] == '{') {
        ++i;
        continue;
      }
      std::size_t j = i + 1;
      int index = -1;
      while (j < s.size() && s[j] >= '0' && s[j] <= '9')
        index = (index < 0 ? 0 : index * 10) + (s[j++] - '0');
      while (j < s.size() && s[j] != '}') ++j;
      if (j == s.size()) return -1;
      if (index >= 0)
        max_index = index > max_index ? index : max_index;
      else
        ++automatic;
      i = j;
    } else if (s[i] == '}') {
      if (i + 1 < s.size() && s[i + 1] == '}')
        ++i;
      else
        return -1;
    }
  }
  return max_index >= 0 ? (max_index + 1 > automatic ? max_index + 1 : automatic) : automatic;
}
void format_string_mismatch();  // not constexpr: calling it in a consteval is the error message

// Everything that identifies a call site. `signature` is unique per (level, argument types).
struct SiteKey {
  const char* format;
  const char* file;
  const char* function;
  const char* signature;
  std::uint32_t format_len;
  std::uint32_t line;
  Level level;
};
// Registers the site with the process registry (and so every ring) once; returns its id, or 0
// if the registry is full. Cached per thread by the caller.
std::uint32_t site_id(const SiteKey& key) noexcept;
}  // namespace detail

namespace detail {
// Where a call is and what it says: the non-template part of FormatString, so the site cache's
// miss path can take it by reference.
struct SiteText {
  std::string_view text;
  const char* file;
  const char* function;
  unsigned line;
};

// How Logger::log_enabled takes an argument: small trivially copyable ones by value (registers),
// the rest by reference.
template <typename T>
using param_t = std::conditional_t<std::is_trivially_copyable_v<T> && !std::is_array_v<T> && sizeof(T) <= 16,
                                   T, const T&>;
}  // namespace detail

template <typename... Args>
struct FormatString {
  template <typename S>
  requires std::is_convertible_v<const S&, std::string_view>
  consteval FormatString(const S& s, const char* file_ = __builtin_FILE(),  // NOLINT: implicit
                         const char* function_ = __builtin_FUNCTION(), unsigned line_ = __builtin_LINE())
      : site{s, file_, function_, line_} {
    if (detail::count_fields(site.text) != static_cast<int>(detail::Signature<Args...>::count))
      detail::format_string_mismatch();  // "{}" fields and arguments differ in number
  }
  // A member, not a base: clang 14 crashes on a consteval constructor initialising a base.
  detail::SiteText site;
};

class ScopedTimer;

class Logger {
 public:
  // The default logger, named after nothing: records carry no `logger` field.
  Logger() noexcept = default;
  explicit Logger(std::string_view name) noexcept;

  // A logger whose records all carry these key/values in `context` (before per-call ones).
  template <typename... KVs>
  Logger with_context(const KVs&... kvs) const;

  template <typename... Args>
  [[gnu::always_inline]] void trace(FormatString<std::type_identity_t<Args>...> f,
                                    const Args&... args) const noexcept {
    log<Level::trace>(f, args...);
  }
  template <typename... Args>
  [[gnu::always_inline]] void debug(FormatString<std::type_identity_t<Args>...> f,
                                    const Args&... args) const noexcept {
    log<Level::debug>(f, args...);
  }
  template <typename... Args>
  [[gnu::always_inline]] void info(FormatString<std::type_identity_t<Args>...> f,
                                   const Args&... args) const noexcept {
    log<Level::info>(f, args...);
  }
  template <typename... Args>
  [[gnu::always_inline]] void warning(FormatString<std::type_identity_t<Args>...> f,
                                      const Args&... args) const noexcept {
    log<Level::warning>(f, args...);
  }
  template <typename... Args>
  [[gnu::always_inline]] void error(FormatString<std::type_identity_t<Args>...> f,
                                    const Args&... args) const noexcept {
    log<Level::error>(f, args...);
  }
  template <typename... Args>
  [[gnu::always_inline]] void critical(FormatString<std::type_identity_t<Args>...> f,
                                       const Args&... args) const noexcept {
    log<Level::critical>(f, args...);
  }

  // Logs `f` with `duration_ms` when the returned timer goes out of scope.
  [[nodiscard]] ScopedTimer time(FormatString<> f, Level level = Level::info) const noexcept;

  // Would a record at `level` be kept right now (compile-time and runtime minimum)?
  static bool enabled(Level level) noexcept {
    return level >= kCompiledMinLevel &&
           static_cast<std::uint32_t>(level) >=
               detail::g_active.min_level.load(std::memory_order_relaxed)->load(std::memory_order_relaxed);
  }

  std::uint16_t id() const noexcept { return id_; }
  const std::string& context_bytes() const noexcept;

  template <Level L, typename... Args>
  void log(const FormatString<std::type_identity_t<Args>...>& f, const Args&... args) const noexcept;
  template <Level L, typename... Args>
  void log_enabled(const char* text, std::size_t text_len, const char* file, const char* function,
                   unsigned line, detail::param_t<Args>... args) const noexcept;

  // Used by the SHMLOG_* macros and the timer: `site` is already registered.
  template <Level L, typename... Args>
  void log_site(std::uint32_t site, std::uint16_t flags_extra, std::uint64_t duration_ns,
                const Args&... args) const noexcept;
  template <Level L, typename... Args>
  void log_site_slow(std::uint32_t site, std::uint16_t flags_extra, std::uint64_t duration_ns,
                     const Args&... args) const noexcept;

 private:
  std::uint16_t id_ = 0;
  std::shared_ptr<const std::string> context_;  // pre-encoded context entries, shared by copies
};

class ScopedTimer {
 public:
  ScopedTimer(const Logger& logger, std::uint32_t site, Level level) noexcept
      : logger_(&logger), site_(site), level_(level), start_(std::chrono::steady_clock::now()) {}
  ~ScopedTimer();
  ScopedTimer(ScopedTimer&& o) noexcept
      : logger_(o.logger_), site_(o.site_), level_(o.level_), start_(o.start_) {
    o.logger_ = nullptr;
  }
  ScopedTimer(const ScopedTimer&) = delete;
  ScopedTimer& operator=(const ScopedTimer&) = delete;
  ScopedTimer& operator=(ScopedTimer&&) = delete;

 private:
  const Logger* logger_;
  std::uint32_t site_;
  Level level_;
  std::chrono::steady_clock::time_point start_;
};

// ======================================= implementation =======================================

namespace detail {

// The thread's context, copied into every record while set (see trace.hpp).
struct ThreadContext {
  std::uint16_t flags;  // ring::kHasTrace | ring::kHasCorrelation
  std::uint8_t trace[25];
  std::uint8_t correlation_len;
  char correlation[64];
};
extern constinit thread_local ThreadContext t_context;
inline constexpr std::uint32_t kTraceBytes = 25;

// A small per-thread cache from call site to site id, so the method API needs no static per
// call site. Direct-mapped; a miss asks the process registry (a lock, once per site and thread).
struct SiteCacheEntry {
  const char* format;
  const char* file;
  const char* signature;
  std::uint32_t line;
  std::uint32_t id;
};
inline constexpr std::size_t kSiteCacheSize = 256;
extern constinit thread_local SiteCacheEntry t_site_cache[kSiteCacheSize];

// Registers the site on a cache miss and fills the entry. Out of line: the hit path stays small.
std::uint32_t site_id_miss(const SiteKey& key, SiteCacheEntry& e) noexcept;

// Takes the call site's parts as values: a reference would make the compiler spill the whole
// FormatString to the stack on every call, even disabled ones, before the level check.
[[gnu::always_inline]] inline std::uint32_t cached_site_id(const char* text, std::size_t len,
                                                           const char* file, const char* function,
                                                           unsigned line, const char* signature,
                                                           Level level) noexcept {
  const auto h = (reinterpret_cast<std::uintptr_t>(text) >> 3) ^ (line * 0x9E3779B1u) ^
                 (reinterpret_cast<std::uintptr_t>(signature) >> 4);
  SiteCacheEntry& e = t_site_cache[h & (kSiteCacheSize - 1)];
  if (e.format == text && e.line == line && e.file == file && e.signature == signature) [[likely]]
    return e.id;
  return site_id_miss(SiteKey{text, file, function, signature, static_cast<std::uint32_t>(len), line, level},
                      e);
}

template <typename T>
std::size_t extra_size(const T& a, std::size_t cap) noexcept {
  using U = std::remove_cvref_t<T>;
  if constexpr (is_kv<U>) {
    std::size_t k = a.key.size() < ring::kMaxKeyBytes ? a.key.size() : ring::kMaxKeyBytes;
    return 2 + k + arg_traits<decltype(a.value)>::size(a.value, cap);
  } else if constexpr (is_exception<U>) {
    return 0;
  } else {
    return arg_traits<T>::size(a, cap);
  }
}

template <typename T>
std::byte* write_format_arg(std::byte* p, const T& a, std::size_t cap) noexcept {
  if constexpr (is_format_arg<T>)
    return arg_traits<T>::write(p, a, cap);
  else
    return p;
}

template <typename T>
std::byte* write_kv(std::byte* p, const T& a, std::size_t cap) noexcept {
  using U = std::remove_cvref_t<T>;
  if constexpr (is_kv<U>) {
    auto k = static_cast<std::uint8_t>(a.key.size() < ring::kMaxKeyBytes ? a.key.size() : ring::kMaxKeyBytes);
    p[0] = static_cast<std::byte>(arg_traits<decltype(a.value)>::code);
    p[1] = static_cast<std::byte>(k);
    std::memcpy(p + 2, a.key.data(), k);
    return arg_traits<decltype(a.value)>::write(p + 2 + k, a.value, cap);
  } else {
    return p;
  }
}

template <typename T>
bool string_cut(const T& a, std::size_t cap) noexcept {
  using U = std::remove_cvref_t<T>;
  if constexpr (is_kv<U>) {
    return a.key.size() > ring::kMaxKeyBytes || string_cut(a.value, cap);
  } else if constexpr (is_exception<U>) {
    return false;
  } else if constexpr (arg_traits<T>::is_string) {
    return arg_traits<T>::size(a, std::size_t(-1) >> 1) - 4 > cap;
  } else {
    return false;
  }
}

template <typename T>
const ExceptionInfo* find_exception(const T& a) noexcept {
  if constexpr (is_exception<T>)
    return &a;
  else
    return nullptr;
}

// Writes a whole record for a thread in `own` mode; other modes go to emit_slow.
void emit_slow(LaneWriter& w, Level level, std::uint32_t site, std::uint16_t logger_id,
               const std::byte* payload, std::uint32_t payload_bytes, std::uint16_t flags) noexcept;

// Lays out the payload described in ring_format.hpp: arguments, then the optional sections.
// Arguments whose stored size does not depend on their value (no strings, no extras).
template <typename T>
constexpr bool is_fixed() {
  if constexpr (is_format_arg<T>)
    return !arg_traits<T>::is_string;
  else
    return false;
}
template <typename... Args>
inline constexpr bool kAllFixed = (true && ... && is_fixed<Args>());
template <typename T>
constexpr std::size_t fixed_size() {
  return arg_traits<T>::fixed_size;
}

// Every field of the record header but the commit word.
[[gnu::always_inline]] inline void write_header(std::byte* rec, LaneWriter& w, std::uint32_t site,
                                                std::uint16_t logger_id, std::uint32_t payload) noexcept {
  auto* h = reinterpret_cast<ring::RecordHeader*>(rec);
  h->site_id = site;
  h->tid = w.tid;
  h->seq = w.seq++;
  h->timestamp = now_ticks(g_active.tsc.load(std::memory_order_relaxed));
  h->logger_id = logger_id;
  h->reserved = 0;
  h->payload_bytes = payload;
}

// What a record will hold: its payload size and flags, computed once per call.
struct Plan {
  std::uint32_t payload;
  std::uint32_t size;  // header + payload, 8-byte aligned
  std::uint32_t ctx_bytes;
  std::uint16_t flags;
  const ExceptionInfo* exc;
};

template <typename... Args>
[[gnu::always_inline]] inline std::byte* write_payload(std::byte* p, const Plan& e,
                                                       const std::string* logger_ctx,
                                                       std::uint64_t duration_ns, std::size_t cap,
                                                       const Args&... args) noexcept {
  ((p = write_format_arg(p, args, cap)), ...);
  if (e.flags & ring::kHasContext) {
    std::memcpy(p, &e.ctx_bytes, 4);
    p += 4;
    if (logger_ctx && !logger_ctx->empty()) {
      std::memcpy(p, logger_ctx->data(), logger_ctx->size());
      p += logger_ctx->size();
    }
    ((p = write_kv(p, args, cap)), ...);
  }
  const ThreadContext& tc = t_context;
  if (e.flags & ring::kHasTrace) {
    std::memcpy(p, tc.trace, kTraceBytes);
    p += kTraceBytes;
  }
  if (e.flags & ring::kHasCorrelation) {
    std::uint16_t n = tc.correlation_len;
    std::memcpy(p, &n, 2);
    std::memcpy(p + 2, tc.correlation, n);
    p += 2 + n;
  }
  if constexpr ((false || ... || is_exception<Args>)) {  // e.exc is set exactly then
    std::string_view type = e.exc->type ? e.exc->type : "";
    auto tn = static_cast<std::uint16_t>(type.size() < 1024 ? type.size() : 1024);
    auto wn = static_cast<std::uint32_t>(e.exc->what.size() < cap ? e.exc->what.size() : cap);
    std::memcpy(p, &tn, 2);
    std::memcpy(p + 2, type.data(), tn);
    p += 2 + tn;
    std::memcpy(p, &wn, 4);
    std::memcpy(p + 4, e.exc->what.data(), wn);
    p += 4 + wn;
  }
  if (e.flags & ring::kHasDuration) {
    std::memcpy(p, &duration_ns, 8);
    p += 8;
  }
  return p;
}

}  // namespace detail

template <Level L, typename... Args>
[[gnu::always_inline]] inline void Logger::log(const FormatString<std::type_identity_t<Args>...>& f,
                                               const Args&... args) const noexcept {
  if constexpr (L < kCompiledMinLevel) {
    return;
  } else {
    if (static_cast<std::uint32_t>(L) <
        detail::g_active.min_level.load(std::memory_order_relaxed)->load(std::memory_order_relaxed))
      return;
    // Everything by value in registers (small arguments) or as constants: passing `f` or the
    // arguments by reference made GCC store them all to the stack before the level check.
    log_enabled<L, Args...>(f.site.text.data(), f.site.text.size(), f.site.file, f.site.function, f.site.line,
                            args...);
  }
}

// Out of line so that a disabled call is only the level check: inlining the writer too would
// make every call site save registers and spill its arguments before that check.
template <Level L, typename... Args>
[[gnu::noinline]] void Logger::log_enabled(const char* text, std::size_t text_len, const char* file,
                                           const char* function, unsigned line,
                                           detail::param_t<Args>... args) const noexcept {
  log_site<L>(detail::cached_site_id(text, text_len, file, function, line,
                                     detail::Signature<Args...>::codes.data(), L),
              0, 0, args...);
}

namespace detail {

template <typename... Args>
[[gnu::always_inline]] inline Plan plan_record(const std::string* logger_ctx, std::uint16_t flags,
                                               std::size_t cap, const Args&... args) noexcept {
  std::size_t bytes = (std::size_t{0} + ... + extra_size(args, cap));
  constexpr bool has_kv = (false || ... || is_kv<std::remove_cvref_t<Args>>);
  std::uint32_t ctx_bytes = 0;
  if (has_kv || (logger_ctx && !logger_ctx->empty())) {
    flags |= ring::kHasContext;
    ctx_bytes = static_cast<std::uint32_t>(
        (logger_ctx ? logger_ctx->size() : 0) +
        (std::size_t{0} + ... + (is_kv<std::remove_cvref_t<Args>> ? extra_size(args, cap) : 0)));
    bytes += 4 + (logger_ctx ? logger_ctx->size() : 0);
  }
  const ExceptionInfo* exc = nullptr;
  if constexpr ((false || ... || is_exception<Args>)) {
    ((exc = exc ? exc : find_exception(args)), ...);
    flags |= ring::kHasException;
    std::string_view type = exc->type ? exc->type : "";
    bytes +=
        2 + (type.size() < 1024 ? type.size() : 1024) + 4 + (exc->what.size() < cap ? exc->what.size() : cap);
    if (exc->what.size() > cap) flags |= ring::kTruncated;
  }
  if (flags & ring::kHasTrace) bytes += kTraceBytes;
  if (flags & ring::kHasCorrelation) bytes += 2 + t_context.correlation_len;
  if (flags & ring::kHasDuration) bytes += 8;
  if ((false || ... || string_cut(args, cap))) flags |= ring::kTruncated;
  return Plan{static_cast<std::uint32_t>(bytes), ring::align_record(ring::kRecordHeaderBytes + bytes),
              ctx_bytes, flags, exc};
}

}  // namespace detail

// The hot path: this thread owns a lane of the current ring. Anything else goes out of line.
template <Level L, typename... Args>
[[gnu::always_inline]] inline void Logger::log_site(std::uint32_t site, std::uint16_t flags_extra,
                                                    std::uint64_t duration_ns,
                                                    const Args&... args) const noexcept {
  using namespace detail;
  LaneWriter& w = t_lane;
  if (w.generation != g_active.generation.load(std::memory_order_relaxed)) [[unlikely]] {
    log_site_slow<L>(site, flags_extra, duration_ns, args...);
    return;
  }
  const std::uint16_t flags_in = static_cast<std::uint16_t>(flags_extra | w.context_flags);
  // Plain records (fixed-size arguments, no context of any kind): the size is a constant and
  // the payload is straight stores.
  if constexpr (kAllFixed<Args...>) {
    if (flags_in == 0 && !context_) [[likely]] {
      constexpr std::uint32_t kPayload =
          static_cast<std::uint32_t>((std::size_t{0} + ... + fixed_size<Args>()));
      constexpr std::uint32_t kSize = ring::align_record(ring::kRecordHeaderBytes + kPayload);
      std::byte* rec = reserve(w, kSize, L);
      if (rec == nullptr) [[unlikely]]
        return;  // dropped and counted by reserve_slow
      write_header(rec, w, site, id_, kPayload);
      std::byte* p = rec + ring::kRecordHeaderBytes;
      ((p = write_format_arg(p, args, 0)), ...);
      commit(w, rec, kSize, ring::make_commit(kSize, ring::RecordKind::log, static_cast<std::uint8_t>(L), 0));
      return;
    }
  }
  const std::string* logger_ctx = context_.get();
  const Plan plan = plan_record(logger_ctx, flags_in, w.max_string, args...);
  // Only records with strings or context vary in size; the rest are known to fit.
  if ((!kAllFixed<Args...> || (plan.flags & ring::kHasContext)) && plan.size > w.max_record) [[unlikely]] {
    drop_record(w, L);
    return;
  }
  std::byte* rec = reserve(w, plan.size, L);
  if (rec == nullptr) [[unlikely]]
    return;  // dropped and counted by reserve_slow
  write_header(rec, w, site, id_, plan.payload);
  write_payload(rec + ring::kRecordHeaderBytes, plan, logger_ctx, duration_ns, w.max_string, args...);
  commit(w, rec, plan.size,
         ring::make_commit(plan.size, ring::RecordKind::log, static_cast<std::uint8_t>(L), plan.flags));
}

// First call on a thread, a switched ring, the shared lane or the fallback.
template <Level L, typename... Args>
[[gnu::noinline, gnu::cold]] void Logger::log_site_slow(std::uint32_t site, std::uint16_t flags_extra,
                                                        std::uint64_t duration_ns,
                                                        const Args&... args) const noexcept {
  using namespace detail;
  LaneWriter& w = t_lane;
  if (w.mode == LaneMode::unclaimed ||
      w.mode_generation != g_active.generation.load(std::memory_order_relaxed))
    acquire_lane(w);
  if (w.mode == LaneMode::own) {
    log_site<L>(site, flags_extra, duration_ns, args...);
    return;
  }
  // Build the payload on the stack (or the heap if large) for the out-of-line writer.
  const std::string* logger_ctx = context_.get();
  const Plan plan = plan_record(logger_ctx, static_cast<std::uint16_t>(flags_extra | w.context_flags),
                                w.max_string, args...);
  constexpr std::size_t kStack = 1024;
  std::byte stack[kStack];
  std::unique_ptr<std::byte[]> heap;
  std::byte* buf = stack;
  if (plan.payload > kStack) {
    heap.reset(new (std::nothrow) std::byte[plan.payload]);
    if (!heap) return;
    buf = heap.get();
  }
  write_payload(buf, plan, logger_ctx, duration_ns, w.max_string, args...);
  emit_slow(w, L, site, id_, buf, plan.payload, plan.flags);
}

namespace detail {
// Out of line for the same reason as Logger::log_enabled: the macro's level check stays small.
template <Level L, typename... Args>
[[gnu::noinline]] void log_static(const Logger& logger, std::atomic<std::uint32_t>& site,
                                  const FormatString<std::type_identity_t<Args>...>& f,
                                  const Args&... args) noexcept {
  std::uint32_t id = site.load(std::memory_order_relaxed);
  if (id == 0) [[unlikely]] {
    SiteCacheEntry unused{};  // the static above is this call site's cache
    id = site_id_miss(
        SiteKey{f.site.text.data(), f.site.file, f.site.function, Signature<Args...>::codes.data(),
                static_cast<std::uint32_t>(f.site.text.size()), f.site.line, L},
        unused);
    site.store(id, std::memory_order_relaxed);
  }
  logger.log_site<L>(id, 0, 0, args...);
}
}  // namespace detail

template <typename... KVs>
Logger Logger::with_context(const KVs&... kvs) const {
  static_assert((detail::is_kv<KVs> && ...), "with_context takes shmlog::kv(key, value) arguments");
  Logger child = *this;
  std::string blob = context_ ? *context_ : std::string{};
  constexpr std::size_t cap = 4096;
  std::size_t add = (std::size_t{0} + ... + detail::extra_size(kvs, cap));
  std::size_t old = blob.size();
  blob.resize(old + add);
  auto* p = reinterpret_cast<std::byte*>(blob.data() + old);
  ((p = detail::write_kv(p, kvs, cap)), ...);
  child.context_ = std::make_shared<const std::string>(std::move(blob));
  return child;
}

}  // namespace shmlog

// Macro forms: the arguments are not evaluated when the level is disabled, and each call site
// keeps its site id in a static instead of the per-thread cache.
//   SHMLOG_INFO(log, "took {} ms", ms);
#define SHMLOG_LOG_AT(logger, LEVEL, ...)                                                           \
  do {                                                                                              \
    if constexpr (::shmlog::Level::LEVEL >= ::shmlog::kCompiledMinLevel) {                          \
      if (::shmlog::Logger::enabled(::shmlog::Level::LEVEL)) {                                      \
        static std::atomic<std::uint32_t> shmlog_site_id_{0};                                       \
        ::shmlog::detail::log_static<::shmlog::Level::LEVEL>(logger, shmlog_site_id_, __VA_ARGS__); \
      }                                                                                             \
    }                                                                                               \
  } while (0)
#define SHMLOG_TRACE(logger, ...) SHMLOG_LOG_AT(logger, trace, __VA_ARGS__)
#define SHMLOG_DEBUG(logger, ...) SHMLOG_LOG_AT(logger, debug, __VA_ARGS__)
#define SHMLOG_INFO(logger, ...) SHMLOG_LOG_AT(logger, info, __VA_ARGS__)
#define SHMLOG_WARNING(logger, ...) SHMLOG_LOG_AT(logger, warning, __VA_ARGS__)
#define SHMLOG_ERROR(logger, ...) SHMLOG_LOG_AT(logger, error, __VA_ARGS__)
#define SHMLOG_CRITICAL(logger, ...) SHMLOG_LOG_AT(logger, critical, __VA_ARGS__)
