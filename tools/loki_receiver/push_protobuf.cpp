// The protobuf push body, Loki's default: a snappy-compressed (block format) PushRequest whose
// streams carry their label sets as text, parsed as Loki's ParseLabels parses them.
#include "decode_parts.hpp"
#include "loki_push.pb.h"

#include <climits>

#include <google/protobuf/arena.h>
#include <snappy.h>

namespace shmlog::loki::detail {

namespace {

// One arena per request: the message and all its strings, which the views point into, live and
// go together.
struct ParsedRequest {
  google::protobuf::Arena arena;
  lokipb::PushRequest* request = nullptr;
};

// Snappy states the uncompressed length up front: a body that would exceed the limit is refused
// before anything is allocated.
bool unsnappy(std::string_view in, std::size_t limit, std::string& out, DecodedPush& push) {
  std::size_t n = 0;
  if (!snappy::GetUncompressedLength(in.data(), in.size(), &n)) {
    return fail_request(push, 400,
                        "error decoding the protobuf body: it is not snappy-compressed (block format)");
  }
  if (n > limit) {
    return fail_request(push, 413,
                        "request body too large: " + std::to_string(n) +
                            " bytes after snappy, limit: " + std::to_string(limit) + " bytes");
  }
  out.resize(n);
  if (!snappy::RawUncompress(in.data(), in.size(), out.data())) {
    return fail_request(push, 400, "error decoding the protobuf body: corrupt snappy data");
  }
  return true;
}

// seconds * 1e9 + nanos, as Go's time.Unix(s, ns).UnixNano(); false when it does not fit.
bool unix_nanos(const lokipb::Timestamp& t, std::int64_t& ns) {
  std::int64_t secs_ns = 0;
  return !__builtin_mul_overflow(t.seconds(), std::int64_t{1'000'000'000}, &secs_ns) &&
         !__builtin_add_overflow(secs_ns, std::int64_t{t.nanos()}, &ns);
}

bool read_stream(const lokipb::Stream& s, const PushLimits& limits, const TimeWindow& window,
                 std::vector<LabelPair>& pairs, std::deque<std::string>& unescaped, DecodedPush& out) {
  unescaped.clear();  // the previous stream's labels are done with
  std::string error;
  if (!parse_label_set(s.labels(), pairs, unescaped, error)) {
    return fail_request(out, 400, "couldn't parse labels: " + error + " in " + s.labels());
  }
  if (!check_label_pairs(pairs, out)) return false;
  StreamView& stream = out.streams.emplace_back();
  stream.labels = canonical_labels(pairs);
  stream.entries.reserve(static_cast<std::size_t>(s.entries_size()));
  for (const lokipb::Entry& e : s.entries()) {
    EntryView entry;
    if (!unix_nanos(e.timestamp(), entry.ts_ns))
      return fail_request(out, 400, "entry timestamp out of range");
    entry.line = e.line();
    entry.metadata_begin = static_cast<std::uint32_t>(out.metadata.size());
    for (const lokipb::LabelPair& m : e.structured_metadata()) out.metadata.emplace_back(m.name(), m.value());
    entry.metadata_count = static_cast<std::uint32_t>(out.metadata.size() - entry.metadata_begin);
    stream.entries.push_back(entry);
  }
  out.entry_count += stream.entries.size();
  check_stream(stream, pairs, limits, window, out);
  return true;
}

}  // namespace

bool parse_protobuf(const PushLimits& limits, const TimeWindow& window, DecodedPush& out) {
  std::string raw;
  if (!unsnappy(out.body, std::min<std::size_t>(limits.max_body_bytes, INT_MAX), raw, out)) return false;
  out.decoded_bytes = raw.size();
  auto parsed = std::make_shared<ParsedRequest>();
  parsed->request = google::protobuf::Arena::CreateMessage<lokipb::PushRequest>(&parsed->arena);
  if (!parsed->request->ParseFromArray(raw.data(), static_cast<int>(raw.size()))) {
    return fail_request(out, 400,
                        "error parsing the protobuf push request (malformed, or a string not UTF-8)");
  }
  out.keep_alive = parsed;
  out.streams.reserve(static_cast<std::size_t>(parsed->request->streams_size()));
  std::vector<LabelPair> pairs;
  std::deque<std::string> unescaped;
  for (const lokipb::Stream& s : parsed->request->streams()) {
    if (!read_stream(s, limits, window, pairs, unescaped, out)) return false;
  }
  if (out.streams.empty())
    return fail_request(out, 422, "error at least one valid stream is required for ingestion");
  return true;
}

}  // namespace shmlog::loki::detail
