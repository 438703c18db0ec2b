#include "sinks/loki/record_fields.hpp"

#include <cstring>

// SSE2 is part of x86-64 itself: RapidJSON then scans strings and whitespace 16 bytes at a
// time, and so does the scan below. Only this file's reader (and its own handler type) is built
// with it.
#if defined(__x86_64__)
#include <emmintrin.h>
#if !defined(RAPIDJSON_SSE2)
#define RAPIDJSON_SSE2
#endif
#endif
#include <rapidjson/reader.h>

namespace shmlog::sidecar::loki {
namespace {

void reset(RecordFields& out) {
  out.value.fill({});
  out.seen.fill(false);
  out.parsed = false;
}

// A SAX handler that keeps the top-level string values of the fields. It stops the parse
// (kParseErrorTermination) at the first nested value or once every wanted field is seen.
struct TopLevel : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, TopLevel> {
  RecordFields* out = nullptr;
  unsigned wanted = 0;
  unsigned found = 0;
  int depth = 0;
  int pending = -1;  // the field whose value comes next

  bool Default() {
    pending = -1;
    return true;
  }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    if (depth == 1 && pending >= 0) {
      const auto at = static_cast<std::size_t>(pending);
      out->value[at] = std::string_view(s, n);
      out->seen[at] = true;
      found |= 1u << pending;
    }
    pending = -1;
    return (found & wanted) != wanted;
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    pending = depth == 1 ? record_field_index(std::string_view(s, n)) : -1;
    return true;
  }
  bool StartObject() {
    ++depth;
    pending = -1;
    return depth == 1;
  }
  bool EndObject(rapidjson::SizeType) {
    --depth;
    return true;
  }
  bool StartArray() {
    ++depth;
    pending = -1;
    return false;
  }
  bool EndArray(rapidjson::SizeType) {
    --depth;
    return true;
  }
};

// The first byte in [p, end) that is '"', '\\' or a control character, or end: what ends a
// plain stretch of a JSON string.
const char* string_stop(const char* p, const char* end) {
#if defined(__x86_64__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i below_space = _mm_set1_epi8(0x1F);
  for (; end - p >= 16; p += 16) {
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(c, below_space), c);  // c <= 0x1F
    const __m128i hit =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(c, quote), _mm_cmpeq_epi8(c, backslash)), control);
    if (const int mask = _mm_movemask_epi8(hit); mask != 0)
      return p + __builtin_ctz(static_cast<unsigned>(mask));
  }
#endif
  for (; p < end; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (c == '"' || c == '\\' || c < 0x20) return p;
  }
  return end;
}

bool digit(char c) {
  return c >= '0' && c <= '9';
}

// A JSON number of a form RapidJSON reads without an error of its own: no exponent, at most 18
// integer and 17 fraction digits. Returns the byte after it, or nullptr (let RapidJSON decide).
const char* plain_number(const char* p, const char* end) {
  if (p < end && *p == '-') ++p;
  const char* start = p;
  if (p < end && *p == '0') {
    ++p;
  } else {
    while (p < end && digit(*p)) ++p;
  }
  if (p == start || p - start > 18) return nullptr;
  if (p < end && *p == '.') {
    const char* frac = ++p;
    while (p < end && digit(*p)) ++p;
    if (p == frac || p - frac > 17) return nullptr;
  }
  if (p < end && (*p == 'e' || *p == 'E')) return nullptr;
  return p;
}

const char* literal(const char* p, const char* end) {
  for (const std::string_view word : {"true", "false", "null"})
    if (static_cast<std::size_t>(end - p) >= word.size() && std::memcmp(p, word.data(), word.size()) == 0)
      return p + word.size();
  return nullptr;
}

enum class Scan { done, undecided };

// The record writer's lines are compact JSON (no whitespace) whose keys and label values hold
// no escapes; the message, most of a line, needs only its closing quote found. This reads such
// a line without decoding what it skips. Anything outside that narrow form (whitespace, a
// backslash anywhere it reads, an exponent, a control character, an early end) is undecided:
// RapidJSON reads the line then, so both paths give the same fields for every line.
Scan scan_compact(std::string_view line, unsigned wanted, RecordFields& out) {
  const char* p = line.data();
  const char* const end = p + line.size();
  unsigned found = 0;
  if (p == end || *p++ != '{') return Scan::undecided;
  if (p < end && *p == '}') {
    out.parsed = true;
    return Scan::done;
  }
  for (;;) {
    // "key":
    if (p == end || *p++ != '"') return Scan::undecided;
    const char* key_end = string_stop(p, end);
    if (key_end == end || *key_end != '"') return Scan::undecided;
    const int field = record_field_index(std::string_view(p, static_cast<std::size_t>(key_end - p)));
    p = key_end + 1;
    if (p == end || *p++ != ':' || p == end) return Scan::undecided;
    // the value
    if (*p == '"') {
      const char* s = ++p;
      const char* q = string_stop(p, end);
      if (q == end || *q != '"') return Scan::undecided;
      p = q + 1;
      if (field >= 0) {
        const auto at = static_cast<std::size_t>(field);
        out.value[at] = std::string_view(s, static_cast<std::size_t>(q - s));
        out.seen[at] = true;
        found |= 1u << field;
        if ((found & wanted) == wanted) break;
      }
    } else if (*p == '{' || *p == '[') {
      break;  // nested: the fields named here all come before
    } else {
      p = (*p == '-' || digit(*p)) ? plain_number(p, end) : literal(p, end);
      if (p == nullptr) return Scan::undecided;
    }
    if (p == end) return Scan::undecided;
    if (*p == '}') break;
    if (*p++ != ',') return Scan::undecided;
  }
  out.parsed = true;
  return Scan::done;
}

}  // namespace

int record_field_index(std::string_view name) {
  for (std::size_t i = 0; i < kRecordFields; ++i)
    if (kRecordFieldNames[i] == name) return static_cast<int>(i);
  return -1;
}

void read_record_fields_rapidjson(std::string_view line, unsigned wanted, RecordFields& out) {
  reset(out);
  // Parsed in place: its strings are the field values. RapidJSON's SSE2 scan reads whole
  // aligned 16-byte blocks, up to 15 bytes past the terminating NUL: the buffer has room for them.
  out.decoded.reserve(line.size() + 32);
  out.decoded.assign(line);
  TopLevel fields;
  fields.out = &out;
  fields.wanted = wanted;
  rapidjson::Reader reader;
  rapidjson::InsituStringStream ss(out.decoded.data());  // a NUL inside the line ends it: not JSON
  const auto result =
      reader.Parse<rapidjson::kParseInsituFlag | rapidjson::kParseStopWhenDoneFlag>(ss, fields);
  out.parsed = !result.IsError() || result.Code() == rapidjson::kParseErrorTermination;
}

void read_record_fields(std::string_view line, unsigned wanted, RecordFields& out) {
  reset(out);
  if (scan_compact(line, wanted, out) == Scan::done) return;
  read_record_fields_rapidjson(line, wanted, out);
}

}  // namespace shmlog::sidecar::loki
