// One JSON line per record, per docs/log-record.schema.json, written with RapidJSON.
#include <shmlog/json_line.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <unordered_map>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace shmlog {
namespace {

// Eight bytes at a time: whether any is below 0x20, a quote or a backslash (the bytes JSON
// escapes), or at or above 0x80 (the bytes UTF-8 validation must look at).
constexpr std::uint64_t kOnes = 0x0101010101010101ull;
constexpr std::uint64_t kHighs = 0x8080808080808080ull;
inline std::uint64_t load8(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline bool has_zero_byte(std::uint64_t v) {
  return ((v - kOnes) & ~v & kHighs) != 0;
}
inline bool needs_escape8(std::uint64_t v) {
  const bool control = ((v - kOnes * 0x20) & ~v & kHighs) != 0;  // some byte < 0x20
  return control || has_zero_byte(v ^ (kOnes * '"')) || has_zero_byte(v ^ (kOnes * '\\'));
}
bool needs_escape(std::string_view s) {
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8)
    if (needs_escape8(load8(s.data() + i))) return true;
  for (; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == '"' || c == '\\') return true;
  }
  return false;
}

// RapidJSON's writer, plus one shortcut: a string with nothing to escape (most of them) is copied
// in one piece instead of going through the escape table a byte at a time. Everything else,
// structure and escaping, stays RapidJSON's.
class Writer : public rapidjson::Writer<rapidjson::StringBuffer> {
 public:
  using rapidjson::Writer<rapidjson::StringBuffer>::Writer;
  void Text(std::string_view s, bool key = false) {
    const auto len = static_cast<rapidjson::SizeType>(s.size());
    if (needs_escape(s)) {
      if (key)
        Key(s.data(), len, true);
      else
        String(s.data(), len, true);
      return;
    }
    Raw(s);
  }
  // Pairs written before by a writer of the same kind (",\"k\":v,..."): copied as they are.
  // The object's count stays even, so the next key still gets its comma.
  void Splice(std::string_view pairs) {
    if (pairs.empty()) return;
    char* out = os_->Push(pairs.size());
    std::memcpy(out, pairs.data(), pairs.size());
  }
  // A key of the schema: a literal that needs no escaping, so not even the check.
  template <std::size_t N>
  void Name(const char (&literal)[N]) {
    Raw(std::string_view(literal, N - 1));
  }

 private:
  void Raw(std::string_view s) {
    Prefix(rapidjson::kStringType);  // a key or a value: the writer's state machine decides
    char* out = os_->Push(s.size() + 2);
    out[0] = '"';
    if (!s.empty()) std::memcpy(out + 1, s.data(), s.size());  // an empty view may be null
    out[s.size() + 1] = '"';
  }
};

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
  w.Text(s, key);
}

void put_timestamp(Writer& w, std::uint64_t ns) {
  // The date and time of day change once a second; only the nanoseconds are written per line.
  thread_local std::uint64_t cached_secs = ~std::uint64_t{0};
  thread_local char buf[32];  // "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ"
  thread_local std::size_t prefix = 0;
  const std::uint64_t secs = ns / 1'000'000'000u;
  if (secs != cached_secs) {
    const auto t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    const int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900,
                                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    prefix = n > 0 && static_cast<std::size_t>(n) + 10 < sizeof buf ? static_cast<std::size_t>(n) : 0;
    cached_secs = secs;
  }
  auto frac = static_cast<std::uint32_t>(ns % 1'000'000'000u);
  for (std::size_t i = prefix + 9; i > prefix; --i) {
    buf[i - 1] = static_cast<char>('0' + frac % 10);
    frac /= 10;
  }
  buf[prefix + 9] = 'Z';
  w.Text(std::string_view(buf, prefix + 10));
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
  w.Text(std::string_view(buf, 2 * N));
}

bool redacted(std::string_view key, const std::vector<std::string>& keys) {
  thread_local std::string lower;  // reused: no allocation per context entry
  lower.assign(key);
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return std::any_of(keys.begin(), keys.end(),
                     [&](const std::string& k) { return lower.find(k) != std::string::npos; });
}

}  // namespace

std::size_t utf8_cut(std::string_view s, std::size_t max) {
  std::size_t cut = std::min(max, s.size());
  while (cut > 0 && cut < s.size() && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return cut;
}

std::vector<std::string> default_redact_keys() {
  return {"password", "passwd",        "secret", "token",      "api_key",
          "apikey",   "authorization", "cookie", "credential", "private_key"};
}

bool sanitize_utf8(std::string_view in, std::string& out) {
  std::size_t i = 0;
  // Fast path: ASCII eight bytes at a time, then sequence by sequence; nothing to replace.
  while (i + 8 <= in.size() && (load8(in.data() + i) & kHighs) == 0) i += 8;
  while (i < in.size()) {
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

namespace {

// One bit per byte of `v`, set exactly where the byte needs escaping in JSON (below 0x20, '"'
// or '\\'): the carry-free form of the zero-byte test, so the lowest set bit is the first such
// byte (and a run of plain bytes is skipped eight at a time).
inline std::uint64_t escape_mask8(std::uint64_t v) {
  constexpr std::uint64_t k7f = 0x7f7f7f7f7f7f7f7full;
  auto zero_bytes = [](std::uint64_t x) { return ~(((x & k7f) + k7f) | x | k7f); };
  return zero_bytes(v & (kOnes * 0xE0)) | zero_bytes(v ^ (kOnes * '"')) | zero_bytes(v ^ (kOnes * '\\'));
}

char* escape_byte(char* o, unsigned char c) {
  static constexpr char hex[] = "0123456789ABCDEF";
  *o++ = '\\';
  switch (c) {
    case '"':
      *o++ = '"';
      break;
    case '\\':
      *o++ = '\\';
      break;
    case '\n':
      *o++ = 'n';
      break;
    case '\r':
      *o++ = 'r';
      break;
    case '\t':
      *o++ = 't';
      break;
    case '\b':
      *o++ = 'b';
      break;
    case '\f':
      *o++ = 'f';
      break;
    default:
      *o++ = 'u';
      *o++ = '0';
      *o++ = '0';
      *o++ = hex[c >> 4];
      *o++ = hex[c & 15];
  }
  return o;
}

}  // namespace

void append_json_escaped(std::string& out, std::string_view s) {
  // Written through a pointer into a scratch buffer of the worst case (six bytes per byte),
  // then appended once: JSON text has a quote every few bytes, and a string append per plain
  // run cost more than the escaping itself.
  thread_local std::unique_ptr<char[]> scratch;
  thread_local std::size_t scratch_size = 0;
  if (scratch_size < 6 * s.size()) {
    scratch_size = std::max<std::size_t>(6 * s.size(), 4096);
    scratch.reset(new char[scratch_size]);
  }
  char* o = scratch.get();
  const char* p = s.data();
  const char* const end = p + s.size();
  while (end - p >= 8) {
    const std::uint64_t m = escape_mask8(load8(p));
    if (m == 0) {
      std::memcpy(o, p, 8);
      o += 8;
      p += 8;
      continue;
    }
    const auto plain = static_cast<std::size_t>(__builtin_ctzll(m) / 8);
    std::memcpy(o, p, 8);  // the plain bytes before it, and some that are overwritten next
    o = escape_byte(o + plain, static_cast<unsigned char>(p[plain]));
    p += plain + 1;
  }
  for (; p < end; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (c < 0x20 || c == '"' || c == '\\')
      o = escape_byte(o, c);
    else
      *o++ = static_cast<char>(c);
  }
  out.append(scratch.get(), static_cast<std::size_t>(o - scratch.get()));
}

namespace {

// The fields that say where a record comes from: service, file, line, function, logger, and the
// pod identity. The same for every record of a call site and logger in one ring.
void write_origin(Writer& w, const RecordView& rec, const RingInfo& ring, std::string& scratch) {
  w.Name("service");
  put_string(w, ring.service.empty() ? std::string_view("unknown") : std::string_view(ring.service), scratch);
  w.Name("file");
  put_string(w, rec.site ? std::string_view(rec.site->file) : std::string_view(), scratch);
  w.Name("line");
  w.Uint(rec.site ? rec.site->line : 0);
  w.Name("function");
  put_string(w, rec.site ? std::string_view(rec.site->function) : std::string_view(), scratch);
  if (rec.logger != nullptr) {
    w.Name("logger");
    put_string(w, *rec.logger, scratch);
  }
  const std::pair<const char*, const std::string*> identity[] = {{"host", &ring.host},
                                                                 {"pod", &ring.pod},
                                                                 {"namespace", &ring.pod_namespace},
                                                                 {"container", &ring.container}};
  for (const auto& [key, value] : identity) {
    if (value->empty()) continue;
    w.Text(key, true);
    put_string(w, *value, scratch);
  }
}

}  // namespace

void append_json_line(const RecordView& rec, const RingInfo& ring, const JsonOptions& options,
                      std::string& out, LineCache* cache) {
  thread_local rapidjson::StringBuffer sb;
  thread_local std::string message, scratch;
  sb.Clear();
  Writer w(sb);
  w.StartObject();
  w.Name("timestamp");
  put_timestamp(w, rec.timestamp_ns);
  w.Name("level");
  const auto level = level_name(rec.level);
  w.Text(level);

  message.clear();
  render_message(rec, message, options.max_message_bytes);
  bool truncated = rec.truncated;
  if (message.size() > options.max_message_bytes) {
    message.resize(utf8_cut(message, options.max_message_bytes));
    message += kTruncationMarker;
    truncated = true;
  }
  w.Name("message");
  put_string(w, message, scratch);
  if (cache == nullptr) {
    write_origin(w, rec, ring, scratch);
  } else {
    // Constant per call site and logger within a ring: formatted once, then copied.
    const std::uint64_t key = std::uint64_t{rec.site_id} << 16 | rec.logger_id;
    auto it = cache->origins.find(key);
    if (it == cache->origins.end()) {
      if (cache->origins.size() >= LineCache::kMaxEntries) cache->origins.clear();
      rapidjson::StringBuffer part;
      Writer pw(part);
      pw.StartObject();
      write_origin(pw, rec, ring, scratch);
      pw.EndObject();
      std::string fragment(part.GetString() + 1, part.GetSize() - 2);  // the pairs, no braces
      it = cache->origins.emplace(key, "," + fragment).first;
    }
    w.Splice(it->second);
  }
  w.Name("pid");
  w.Int(ring.writer_pid);
  w.Name("tid");
  w.Uint(rec.tid);
  w.Name("seq");
  w.Uint64(rec.seq);
  if (!rec.correlation_id.empty()) {
    w.Name("correlation_id");
    put_string(w, rec.correlation_id, scratch);
  }
  if (rec.has_trace) {
    w.Name("trace_id");
    put_hex(w, rec.trace_id);
    w.Name("span_id");
    put_hex(w, rec.span_id);
  }
  if (rec.has_duration) {
    w.Name("duration_ms");
    w.Double(static_cast<double>(rec.duration_ns) / 1e6);
  }
  if (rec.has_exception) {
    w.Name("exception");
    w.StartObject();
    w.Name("type");
    put_string(w, demangle(rec.exception_type), scratch);
    w.Name("message");
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
      w.Name("context");
      w.StartObject();
      context_open = true;
    }
    put_string(w, e.key, scratch, true);
    if (redacted(e.key, options.redact_keys))
      w.Text("[REDACTED]");
    else
      put_value(w, e.value, scratch);
  }
  if (context_open) w.EndObject();
  if (lifted_user) {
    for (auto it = rec.context.rbegin(); it != rec.context.rend(); ++it) {
      if (it->key != "user_id") continue;
      w.Name("user_id");
      put_value(w, it->value, scratch);
      break;
    }
  }
  if (truncated) {
    w.Name("truncated");
    w.Bool(true);
  }
  w.EndObject();
  out.append(sb.GetString(), sb.GetSize());
  out.push_back('\n');
}

}  // namespace shmlog
