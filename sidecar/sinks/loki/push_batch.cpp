#include "sinks/loki/push_batch.hpp"

#include <shmlog/json_line.hpp>

#include <algorithm>
#include <array>
#include <numeric>

#include <rapidjson/reader.h>

namespace shmlog::sidecar::loki {
namespace {

// The fields of a record line that labels, the timestamp and the message-only format need.
enum Field : int {
  kTimestamp,
  kMessage,
  kService,
  kNamespace,
  kPod,
  kContainer,
  kLevel,
  kHost,
  kLogger,
  kFields
};
constexpr std::array<std::string_view, kFields> kFieldNames = {
    "timestamp", "message", "service", "namespace", "pod", "container", "level", "host", "logger"};

// A SAX handler that keeps the top-level string values of those fields. Nested objects
// (context, exception) are walked through by the reader and ignored here.
struct TopLevel : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, TopLevel> {
  std::array<std::string, kFields> value;
  std::array<bool, kFields> seen{};
  int depth = 0;
  int pending = -1;  // the field whose value comes next

  bool Default() {
    pending = -1;
    return true;
  }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    if (depth == 1 && pending >= 0) {
      value[static_cast<std::size_t>(pending)].assign(s, n);
      seen[static_cast<std::size_t>(pending)] = true;
    }
    pending = -1;
    return true;
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    pending = -1;
    if (depth != 1) return true;
    const std::string_view k(s, n);
    for (std::size_t i = 0; i < kFields; ++i)
      if (kFieldNames[i] == k) pending = static_cast<int>(i);
    return true;
  }
  bool StartObject() {
    ++depth;
    pending = -1;
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    --depth;
    return true;
  }
  bool StartArray() {
    ++depth;
    pending = -1;
    return true;
  }
  bool EndArray(rapidjson::SizeType) {
    --depth;
    return true;
  }
};

int field_index(std::string_view name) {
  for (std::size_t i = 0; i < kFields; ++i)
    if (kFieldNames[i] == name) return static_cast<int>(i);
  return -1;
}

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// Cuts at a UTF-8 character boundary at or below `max`.
std::size_t utf8_cut(std::string_view s, std::size_t max) {
  std::size_t cut = std::min(max, s.size());
  while (cut > 0 && cut < s.size() && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return cut;
}

}  // namespace

std::int64_t parse_timestamp_ns(std::string_view t) {
  // YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z
  if (t.size() < 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':' ||
      t.back() != 'Z')
    return -1;
  auto num = [&](std::size_t at, std::size_t len) -> int {
    int v = 0;
    for (std::size_t i = at; i < at + len; ++i) {
      if (t[i] < '0' || t[i] > '9') return -1;
      v = v * 10 + (t[i] - '0');
    }
    return v;
  };
  const int y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2), s = num(17, 2);
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 ||
      s > 60)
    return -1;
  std::int64_t frac = 0;
  if (t.size() > 20) {
    if (t[19] != '.' || t.size() - 21 > 9 || t.size() - 21 == 0) return -1;
    std::size_t digits = 0;
    for (std::size_t i = 20; i + 1 < t.size(); ++i, ++digits) {
      if (t[i] < '0' || t[i] > '9') return -1;
      frac = frac * 10 + (t[i] - '0');
    }
    for (; digits < 9; ++digits) frac *= 10;
  }
  const std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return ((days * 24 + h) * 60 + mi) * 60'000'000'000 + std::int64_t{s} * 1'000'000'000 + frac;
}

PushBatch::PushBatch(const LokiOptions& options) : options_(options) {}

void PushBatch::clear() {
  lines_.clear();
  entries_.clear();
  streams_.clear();
  stream_of_.clear();
}

void PushBatch::add(std::string_view stem, std::string_view line, std::int64_t now_ns) {
  thread_local TopLevel fields;
  for (auto& v : fields.value) v.clear();
  fields.seen.fill(false);
  fields.depth = 0;
  fields.pending = -1;
  rapidjson::Reader reader;
  rapidjson::MemoryStream ms(line.data(), line.size());
  const bool parsed = !reader.Parse<rapidjson::kParseStopWhenDoneFlag>(ms, fields).IsError();
  std::int64_t ts = parsed && fields.seen[kTimestamp] ? parse_timestamp_ns(fields.value[kTimestamp]) : -1;
  if (ts < 0) {
    ++counts_.unparsable;
    ts = now_ns;
  }

  // The stream: static labels, then the configured fields present in the line. A line that is
  // not a record still gets its service from the file it came from.
  key_.clear();
  scratch_ = "{";
  auto put = [&](std::string_view name, std::string_view value) {
    if (value.empty()) return;  // Loki drops empty labels; so do we, before it
    key_.append(name).push_back('\0');
    key_.append(value).push_back('\0');
    if (scratch_.size() > 1) scratch_ += ',';
    scratch_ += '"';
    append_json_escaped(scratch_, name);
    scratch_ += "\":\"";
    append_json_escaped(scratch_, value.substr(0, utf8_cut(value, 1024)));
    scratch_ += '"';
  };
  for (const auto& [name, value] : options_.static_labels) put(name, value);
  for (const auto& name : options_.label_fields) {
    const int i = field_index(name);
    if (i < 0) continue;
    const auto at = static_cast<std::size_t>(i);
    if (fields.seen[at])
      put(name, fields.value[at]);
    else if (i == kService && !parsed)
      put(name, stem);
  }
  scratch_ += '}';
  auto [it, fresh] = stream_of_.try_emplace(key_, static_cast<std::uint32_t>(streams_.size()));
  if (fresh) streams_.push_back(scratch_);

  std::string_view text = line;
  if (options_.line_format == LineFormat::message && parsed && fields.seen[kMessage])
    text = fields.value[kMessage];
  const std::size_t offset = lines_.size();
  if (text.size() > options_.max_line_bytes) {
    const std::size_t keep = options_.max_line_bytes > kTruncationMarker.size()
                                 ? options_.max_line_bytes - kTruncationMarker.size()
                                 : 0;
    lines_.append(text.substr(0, utf8_cut(text, keep)));
    lines_.append(kTruncationMarker);
    ++counts_.truncated;
  } else {
    lines_.append(text);
  }
  entries_.push_back({ts, offset, static_cast<std::uint32_t>(lines_.size() - offset), it->second});
}

void PushBatch::encode(std::size_t from, std::size_t to, std::string& body) const {
  body.clear();
  body.reserve(lines_.size() / 8 * 9 + 64 * streams_.size() + 40 * (to - from));
  // Entries of a stream in timestamp order (stable: equal times keep the spool's order), so
  // Loki sees each stream in order within the request.
  thread_local std::vector<std::uint32_t> order;
  order.resize(to - from);
  std::iota(order.begin(), order.end(), static_cast<std::uint32_t>(from));
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    const Entry &x = entries_[a], &y = entries_[b];
    return x.stream != y.stream ? x.stream < y.stream : x.ts_ns < y.ts_ns;
  });
  body += "{\"streams\":[";
  std::uint32_t current = ~0u;
  char digits[24];
  for (const std::uint32_t i : order) {
    const Entry& e = entries_[i];
    if (e.stream != current) {
      if (current != ~0u) body += "]},";
      body += "{\"stream\":";
      body += streams_[e.stream];
      body += ",\"values\":[";
      current = e.stream;
    } else {
      body += ',';
    }
    body += "[\"";
    char* end = digits + sizeof digits;
    char* p = end;
    auto v = static_cast<std::uint64_t>(e.ts_ns);
    do {
      *--p = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    body.append(p, static_cast<std::size_t>(end - p));
    body += "\",\"";
    append_json_escaped(body, std::string_view(lines_.data() + e.offset, e.length));
    body += "\"]";
  }
  if (current != ~0u) body += "]}";
  body += "]}";
}

}  // namespace shmlog::sidecar::loki
