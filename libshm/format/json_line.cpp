// One JSON line per record, per docs/log-record.schema.json, written with RapidJSON.
#include <shmlog/json_line.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <unordered_map>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace shmlog {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// Length of the valid UTF-8 sequence at s[i], or 0 if invalid (overlong, surrogate, > U+10FFFF,
// truncated).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  std::size_t n = 0;
  std::uint32_t cp = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    cp = b0 & 0x0F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (b & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

// Writes a string value or key with invalid UTF-8 replaced; RapidJSON escapes the controls.
void put_string(Writer& w, std::string_view s, std::string& scratch, bool key = false) {
  if (sanitize_utf8(s, scratch)) s = scratch;
  const auto len = static_cast<rapidjson::SizeType>(s.size());
  if (key)
    w.Key(s.data(), len, true);
  else
    w.String(s.data(), len, true);
}

void put_timestamp(Writer& w, std::uint64_t ns) {
  const auto secs = static_cast<std::time_t>(ns / 1'000'000'000u);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[48];
  const int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lluZ", tm.tm_year + 1900,
                              tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                              static_cast<unsigned long long>(ns % 1'000'000'000u));
  w.String(buf, static_cast<rapidjson::SizeType>(n), true);
}

void put_double(Writer& w, double d) {
  if (std::isfinite(d)) {
    w.Double(d);
  } else {  // JSON has no NaN or Infinity
    w.String(std::isnan(d) ? "NaN" : (d > 0 ? "Infinity" : "-Infinity"));
  }
}

void put_value(Writer& w, const ArgValue& v, std::string& scratch) {
  using T = ring::ArgType;
  switch (v.type) {
    case T::boolean:
      w.Bool(v.b);
      break;
    case T::character:
      put_string(w, std::string_view(&v.c, 1), scratch);
      break;
    case T::i8:
    case T::i16:
    case T::i32:
    case T::i64:
      w.Int64(v.i);
      break;
    case T::u8:
    case T::u16:
    case T::u32:
    case T::u64:
      w.Uint64(v.u);
      break;
    case T::f32:
    case T::f64:
      put_double(w, v.d);
      break;
    case T::string:
      put_string(w, v.s, scratch);
      break;
    case T::pointer: {
      char buf[24];
      const int n = std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v.u));
      w.String(buf, static_cast<rapidjson::SizeType>(n), true);
      break;
    }
  }
}

template <std::size_t N>
void put_hex(Writer& w, const std::array<std::uint8_t, N>& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  char buf[2 * N];
  for (std::size_t i = 0; i < N; ++i) {
    buf[2 * i] = digits[bytes[i] >> 4];
    buf[2 * i + 1] = digits[bytes[i] & 15];
  }
  w.String(buf, static_cast<rapidjson::SizeType>(2 * N), true);
}

bool redacted(std::string_view key, const std::vector<std::string>& keys) {
  std::string lower(key);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return std::any_of(keys.begin(), keys.end(),
                     [&](const std::string& k) { return lower.find(k) != std::string::npos; });
}

// Cuts at a character boundary at or below `max` bytes.
std::size_t utf8_cut(std::string_view s, std::size_t max) {
  std::size_t cut = std::min(max, s.size());
  while (cut > 0 && cut < s.size() && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return cut;
}

}  // namespace

std::vector<std::string> default_redact_keys() {
  return {"password", "passwd",        "secret", "token",      "api_key",
          "apikey",   "authorization", "cookie", "credential", "private_key"};
}

bool sanitize_utf8(std::string_view in, std::string& out) {
  std::size_t i = 0;
  while (i < in.size()) {  // fast path: nothing to replace
    std::size_t n = utf8_sequence(in, i);
    if (n == 0) break;
    i += n;
  }
  if (i == in.size()) return false;
  out.assign(in.substr(0, i));
  while (i < in.size()) {
    std::size_t n = utf8_sequence(in, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    } else {
      out.append(in.substr(i, n));
      i += n;
    }
  }
  return true;
}

void append_json_line(const RecordView& rec, const RingInfo& ring, const JsonOptions& options,
                      std::string& out) {
  thread_local rapidjson::StringBuffer sb;
  thread_local std::string message, scratch;
  sb.Clear();
  Writer w(sb);
  w.StartObject();
  w.Key("timestamp");
  put_timestamp(w, rec.timestamp_ns);
  w.Key("level");
  const auto level = level_name(rec.level);
  w.String(level.data(), static_cast<rapidjson::SizeType>(level.size()));

  message.clear();
  render_message(rec, message, options.max_message_bytes);
  bool truncated = rec.truncated;
  if (message.size() > options.max_message_bytes) {
    message.resize(utf8_cut(message, options.max_message_bytes));
    message += kTruncationMarker;
    truncated = true;
  }
  w.Key("message");
  put_string(w, message, scratch);
  w.Key("service");
  put_string(w, ring.service.empty() ? std::string_view("unknown") : std::string_view(ring.service), scratch);
  w.Key("file");
  put_string(w, rec.site ? std::string_view(rec.site->file) : std::string_view(), scratch);
  w.Key("line");
  w.Uint(rec.site ? rec.site->line : 0);
  w.Key("function");
  put_string(w, rec.site ? std::string_view(rec.site->function) : std::string_view(), scratch);
  if (rec.logger != nullptr) {
    w.Key("logger");
    put_string(w, *rec.logger, scratch);
  }
  const std::pair<const char*, const std::string*> identity[] = {{"host", &ring.host},
                                                                 {"pod", &ring.pod},
                                                                 {"namespace", &ring.pod_namespace},
                                                                 {"container", &ring.container}};
  for (const auto& [key, value] : identity) {
    if (value->empty()) continue;
    w.Key(key);
    put_string(w, *value, scratch);
  }
  w.Key("pid");
  w.Int(ring.writer_pid);
  w.Key("tid");
  w.Uint(rec.tid);
  w.Key("seq");
  w.Uint64(rec.seq);
  if (!rec.correlation_id.empty()) {
    w.Key("correlation_id");
    put_string(w, rec.correlation_id, scratch);
  }
  if (rec.has_trace) {
    w.Key("trace_id");
    put_hex(w, rec.trace_id);
    w.Key("span_id");
    put_hex(w, rec.span_id);
  }
  if (rec.has_duration) {
    w.Key("duration_ms");
    w.Double(static_cast<double>(rec.duration_ns) / 1e6);
  }
  if (rec.has_exception) {
    w.Key("exception");
    w.StartObject();
    w.Key("type");
    put_string(w, demangle(rec.exception_type), scratch);
    w.Key("message");
    put_string(w, rec.exception_what, scratch);
    w.EndObject();
  }
  // Context: schema fields named in context are lifted to the top level; a later entry with
  // the same key (per call) wins over an earlier one (the child logger's).
  // A hostile record can carry tens of thousands of entries, so past a handful the "is there a
  // later one" question is answered from a map of last positions rather than by rescanning.
  thread_local std::unordered_map<std::string_view, std::size_t> last_of;
  const bool by_map = rec.context.size() > 16;
  if (by_map) {
    last_of.clear();
    for (std::size_t i = 0; i < rec.context.size(); ++i) last_of[rec.context[i].key] = i;
  }
  bool context_open = false;
  bool lifted_user = false;
  for (std::size_t i = 0; i < rec.context.size(); ++i) {
    const ContextEntry& e = rec.context[i];
    bool shadowed = false;
    if (by_map)
      shadowed = last_of[e.key] != i;
    else
      for (std::size_t j = i + 1; j < rec.context.size() && !shadowed; ++j)
        shadowed = rec.context[j].key == e.key;
    if (shadowed) continue;
    if (e.key == "user_id" && !lifted_user &&
        (e.value.type == ring::ArgType::string ||
         (e.value.type != ring::ArgType::f32 && e.value.type != ring::ArgType::f64 &&
          e.value.type != ring::ArgType::boolean && e.value.type != ring::ArgType::pointer &&
          e.value.type != ring::ArgType::character))) {
      lifted_user = true;
      continue;  // written after the context object
    }
    if (!context_open) {
      w.Key("context");
      w.StartObject();
      context_open = true;
    }
    put_string(w, e.key, scratch, true);
    if (redacted(e.key, options.redact_keys))
      w.String("[REDACTED]");
    else
      put_value(w, e.value, scratch);
  }
  if (context_open) w.EndObject();
  if (lifted_user) {
    for (auto it = rec.context.rbegin(); it != rec.context.rend(); ++it) {
      if (it->key != "user_id") continue;
      w.Key("user_id");
      put_value(w, it->value, scratch);
      break;
    }
  }
  if (truncated) {
    w.Key("truncated");
    w.Bool(true);
  }
  w.EndObject();
  out.append(sb.GetString(), sb.GetSize());
  out.push_back('\n');
}

}  // namespace shmlog
