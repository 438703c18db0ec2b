#include "sinks/loki/push_batch.hpp"

#include "loki_push.pb.h"
#include "sinks/loki/record_fields.hpp"

#include <shmlog/json_line.hpp>

#include <algorithm>
#include <array>
#include <numeric>
#include <utility>

#include <google/protobuf/io/coded_stream.h>

namespace shmlog::sidecar::loki {
namespace {

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
    if (const int i = record_field_index(name); i >= 0) wanted_ |= 1u << i;
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
  thread_local RecordFields fields;
  read_record_fields(line, wanted_, fields);
  const bool parsed = fields.parsed;
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
    const int i = record_field_index(name);
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

namespace {

using google::protobuf::io::CodedOutputStream;
namespace pb = shmlog::lokipb;

constexpr std::uint32_t tag(int field, int wire_type) {
  return static_cast<std::uint32_t>(field) << 3 | static_cast<std::uint32_t>(wire_type);
}
constexpr int kVarint = 0, kLengthDelimited = 2;

std::size_t length_delimited(std::uint32_t field_tag, std::size_t size) {
  return CodedOutputStream::VarintSize32(field_tag) +
         CodedOutputStream::VarintSize32(static_cast<std::uint32_t>(size)) + size;
}

std::uint8_t* put_length(std::uint32_t field_tag, std::size_t size, std::uint8_t* p) {
  p = CodedOutputStream::WriteTagToArray(field_tag, p);
  return CodedOutputStream::WriteVarint32ToArray(static_cast<std::uint32_t>(size), p);
}

}  // namespace

// The PushRequest's wire form written straight from the batch, as SerializeToString writes it
// for the same messages (proto3: zero and empty fields left out; the timestamp always there):
// building the messages first copied every line twice, a tenth of the shipper's time.
// The field numbers are the generated code's, so proto/loki_push.proto stays the one definition.
void PushBatch::encode_protobuf(std::size_t from, std::size_t to, std::string& body) const {
  constexpr auto kStreams = tag(pb::PushRequest::kStreamsFieldNumber, kLengthDelimited);
  constexpr auto kLabels = tag(pb::Stream::kLabelsFieldNumber, kLengthDelimited);
  constexpr auto kEntries = tag(pb::Stream::kEntriesFieldNumber, kLengthDelimited);
  constexpr auto kTimestamp = tag(pb::Entry::kTimestampFieldNumber, kLengthDelimited);
  constexpr auto kLine = tag(pb::Entry::kLineFieldNumber, kLengthDelimited);
  constexpr auto kSeconds = tag(pb::Timestamp::kSecondsFieldNumber, kVarint);
  constexpr auto kNanos = tag(pb::Timestamp::kNanosFieldNumber, kVarint);
  const auto& order = ordered(from, to);
  struct Sized {
    std::size_t timestamp, entry;
  };
  thread_local std::vector<Sized> sized;
  thread_local std::vector<std::size_t> stream_size;  // a run of one stream's entries each
  sized.resize(order.size());
  stream_size.clear();
  const auto seconds = [](const Entry& e) { return static_cast<std::uint64_t>(e.ts_ns / 1'000'000'000); };
  const auto nanos = [](const Entry& e) { return static_cast<std::uint32_t>(e.ts_ns % 1'000'000'000); };

  // Sizes first: every message is written after its length.
  std::size_t total = 0;
  std::uint32_t current = ~0u;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const Entry& e = entries_[order[k]];
    if (e.stream != current) {
      if (current != ~0u) total += length_delimited(kStreams, stream_size.back());
      const std::size_t labels = label_sets_[e.stream].size();
      stream_size.push_back(labels > 0 ? length_delimited(kLabels, labels) : 0);
      current = e.stream;
    }
    Sized& z = sized[k];
    z.timestamp = (seconds(e) != 0 ? 1 + CodedOutputStream::VarintSize64(seconds(e)) : 0) +
                  (nanos(e) != 0 ? 1 + CodedOutputStream::VarintSize32(nanos(e)) : 0);
    z.entry =
        length_delimited(kTimestamp, z.timestamp) + (e.length > 0 ? length_delimited(kLine, e.length) : 0);
    stream_size.back() += length_delimited(kEntries, z.entry);
  }
  if (current != ~0u) total += length_delimited(kStreams, stream_size.back());

  body.resize(total);
  auto* p = reinterpret_cast<std::uint8_t*>(body.data());
  current = ~0u;
  std::size_t run = 0;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const Entry& e = entries_[order[k]];
    if (e.stream != current) {
      const std::string& labels = label_sets_[e.stream];
      p = put_length(kStreams, stream_size[run++], p);
      if (!labels.empty()) {
        p = put_length(kLabels, labels.size(), p);
        p = CodedOutputStream::WriteRawToArray(labels.data(), static_cast<int>(labels.size()), p);
      }
      current = e.stream;
    }
    p = put_length(kEntries, sized[k].entry, p);
    p = put_length(kTimestamp, sized[k].timestamp, p);
    if (seconds(e) != 0) {
      p = CodedOutputStream::WriteTagToArray(kSeconds, p);
      p = CodedOutputStream::WriteVarint64ToArray(seconds(e), p);
    }
    if (nanos(e) != 0) {
      p = CodedOutputStream::WriteTagToArray(kNanos, p);
      p = CodedOutputStream::WriteVarint32ToArray(nanos(e), p);
    }
    if (e.length > 0) {
      p = put_length(kLine, e.length, p);
      p = CodedOutputStream::WriteRawToArray(lines_.data() + e.offset, static_cast<int>(e.length), p);
    }
  }
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
