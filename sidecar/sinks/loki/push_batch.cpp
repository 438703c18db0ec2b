#include "sinks/loki/push_batch.hpp"

#include "loki_push.pb.h"

#include <shmlog/json_line.hpp>

#include <algorithm>
#include <array>
#include <numeric>
#include <utility>

// SSE2 is part of x86-64 itself: RapidJSON then scans strings and whitespace 16 bytes at a
// time. Only this file's reader (and its own handler type) is built with it.
#if defined(__x86_64__) && !defined(RAPIDJSON_SSE2)
#define RAPIDJSON_SSE2
#endif
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
// Once every wanted field is seen, or at the first nested value (context, exception), it stops
// the parse: the record writer puts every field a label or the timestamp can come from before
// them (json_line.cpp), and the nested part is much of a line.
struct TopLevel : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, TopLevel> {
  std::array<std::string_view, kFields> value;  // into the in-situ copy of the line
  std::array<bool, kFields> seen{};
  unsigned wanted = 0;  // bit per Field
  unsigned found = 0;
  int depth = 0;
  int pending = -1;  // the field whose value comes next

  bool Default() {
    pending = -1;
    return true;
  }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    if (depth == 1 && pending >= 0) {
      value[static_cast<std::size_t>(pending)] = std::string_view(s, n);
      seen[static_cast<std::size_t>(pending)] = true;
      found |= 1u << pending;
    }
    pending = -1;
    return (found & wanted) != wanted;  // false: all there, stop (kParseErrorTermination)
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

PushBatch::PushBatch(const LokiOptions& options) : options_(options) {
  wanted_ = 1u << kTimestamp;
  if (options.line_format == LineFormat::message) wanted_ |= 1u << kMessage;
  for (const auto& name : options.label_fields)
    if (const int i = field_index(name); i >= 0) wanted_ |= 1u << i;
}

void PushBatch::clear() {
  lines_.clear();
  entries_.clear();
  streams_.clear();
  label_sets_.clear();
  stream_of_.clear();
  last_stream_ = ~0u;
  counts_ = {};
}

void PushBatch::add(std::string_view stem, std::string_view line, std::int64_t now_ns) {
  thread_local TopLevel fields;
  thread_local std::string insitu;  // parsed in place: its strings are the field values
  insitu.assign(line);
  for (auto& v : fields.value) v = {};
  fields.seen.fill(false);
  fields.depth = 0;
  fields.pending = -1;
  fields.found = 0;
  fields.wanted = wanted_;
  rapidjson::Reader reader;
  rapidjson::InsituStringStream ss(insitu.data());  // a NUL inside the line ends it: not JSON
  const auto result =
      reader.Parse<rapidjson::kParseInsituFlag | rapidjson::kParseStopWhenDoneFlag>(ss, fields);
  const bool parsed = !result.IsError() || result.Code() == rapidjson::kParseErrorTermination;
  std::int64_t ts = parsed && fields.seen[kTimestamp] ? parse_timestamp_ns(fields.value[kTimestamp]) : -1;
  if (ts < 0) {
    ++counts_.unparsable;
    ts = now_ns;
  }

  // The stream: static labels, then the configured fields present in the line. A line that is
  // not a record still gets its service from the file it came from.
  key_.clear();
  pairs_.clear();
  auto put = [&](std::string_view name, std::string_view value) {
    if (value.empty()) return;  // Loki drops empty labels; so do we, before it
    value = value.substr(0, utf8_cut(value, 1024));
    key_.append(name).push_back('\0');
    key_.append(value).push_back('\0');
    pairs_.emplace_back(name, value);
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
  // Most lines belong to the stream of the line before: a compare instead of a hash.
  std::uint32_t stream = last_stream_;
  if (stream == ~0u || key_ != last_key_) {
    auto [it, fresh] = stream_of_.try_emplace(key_, static_cast<std::uint32_t>(streams_.size()));
    if (fresh) new_stream();
    stream = it->second;
    last_key_ = key_;
    last_stream_ = stream;
  }

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
  entries_.push_back({ts, offset, static_cast<std::uint32_t>(lines_.size() - offset), stream});
}

// The label set of the stream being added, from pairs_: as a JSON object for the JSON body,
// and in Prometheus syntax, names sorted and values quoted as Go does, for the protobuf one.
void PushBatch::new_stream() {
  std::string json = "{";
  for (const auto& [name, value] : pairs_) {
    if (json.size() > 1) json += ',';
    json += '"';
    append_json_escaped(json, name);
    json += "\":\"";
    append_json_escaped(json, value);
    json += '"';
  }
  json += '}';
  streams_.push_back(std::move(json));
  std::stable_sort(pairs_.begin(), pairs_.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string set = "{";
  for (const auto& [name, value] : pairs_) {
    if (set.size() > 1) set += ", ";
    set.append(name);
    set += "=\"";
    for (const char c : value) {
      if (c == '"' || c == '\\') {
        set += '\\';
        set += c;
      } else if (c == '\n') {
        set += "\\n";
      } else if (static_cast<unsigned char>(c) < 0x20) {
        static constexpr char hex[] = "0123456789abcdef";
        const auto u = static_cast<unsigned char>(c);
        set += "\\x";
        set += hex[u >> 4];
        set += hex[u & 15];
      } else {
        set += c;
      }
    }
    set += '"';
  }
  set += '}';
  label_sets_.push_back(std::move(set));
}

const std::vector<std::uint32_t>& PushBatch::ordered(std::size_t from, std::size_t to) const {
  // Entries of a stream in timestamp order (stable: equal times keep the spool's order), so
  // Loki sees each stream in order within the request.
  thread_local std::vector<std::uint32_t> order;
  order.resize(to - from);
  std::iota(order.begin(), order.end(), static_cast<std::uint32_t>(from));
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    const Entry &x = entries_[a], &y = entries_[b];
    return x.stream != y.stream ? x.stream < y.stream : x.ts_ns < y.ts_ns;
  });
  return order;
}

void PushBatch::encode(std::size_t from, std::size_t to, std::string& body) const {
  if (options_.encoding == Encoding::json)
    encode_json(from, to, body);
  else
    encode_protobuf(from, to, body);
}

void PushBatch::encode_protobuf(std::size_t from, std::size_t to, std::string& body) const {
  // One arena per body: the messages are built and dropped together, no allocation each.
  google::protobuf::Arena arena;
  auto* request = google::protobuf::Arena::CreateMessage<shmlog::lokipb::PushRequest>(&arena);
  shmlog::lokipb::Stream* stream = nullptr;
  std::uint32_t current = ~0u;
  for (const std::uint32_t i : ordered(from, to)) {
    const Entry& e = entries_[i];
    if (e.stream != current) {
      stream = request->add_streams();
      stream->set_labels(label_sets_[e.stream]);
      current = e.stream;
    }
    auto* entry = stream->add_entries();
    entry->mutable_timestamp()->set_seconds(e.ts_ns / 1'000'000'000);
    entry->mutable_timestamp()->set_nanos(static_cast<std::int32_t>(e.ts_ns % 1'000'000'000));
    entry->set_line(lines_.data() + e.offset, e.length);
  }
  body.clear();
  request->SerializeToString(&body);
}

void PushBatch::encode_json(std::size_t from, std::size_t to, std::string& body) const {
  body.clear();
  body.reserve(lines_.size() / 8 * 9 + 64 * streams_.size() + 40 * (to - from));
  const auto& order = ordered(from, to);
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
