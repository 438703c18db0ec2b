// A push request's headers and body encoding, then the body format: what Loki's push parser
// (pkg/loghttp/push/push.go) does before its distributor sees the streams.
#include "push_decode.hpp"

#include "decode_parts.hpp"
#include "go_text.hpp"

#include <algorithm>

namespace shmlog::loki {

namespace detail {

bool fail_request(DecodedPush& out, int status, std::string error) {
  out.status = status;
  out.error = std::move(error);
  return false;
}

}  // namespace detail

namespace {

using detail::fail_request;

std::string lowercase_trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
  return out;
}

// As Loki's API documents it: application/json (only the media type counts, in any case, as
// mime.ParseMediaType sees it) is JSON; anything else, no Content-Type included, is protobuf.
bool is_json(std::string_view content_type) {
  return lowercase_trimmed(content_type.substr(0, content_type.find(';'))) == "application/json";
}

// Undoes Content-Encoding into out.body. Loki's switch is case-sensitive too. "snappy" leaves
// the body as it is: snappy belongs to the protobuf format, and a JSON body said to be snappy
// then fails to parse, as in Loki.
bool decode_content(std::string_view encoding, std::string& body, std::size_t limit, DecodedPush& out) {
  if (encoding == "gzip" || encoding == "deflate") {
    std::string error;
    const auto format = encoding == "gzip" ? Compression::gzip : Compression::deflate;
    if (const int status = inflate_bounded(body, format, limit, out.body, error); status != 0) {
      return fail_request(out, status, std::move(error));
    }
    return true;
  }
  if (!encoding.empty() && encoding != "identity" && encoding != "snappy") {
    return fail_request(out, 415, "Content-Encoding " + go_quote(encoding) + " not supported");
  }
  if (body.size() > limit) {
    return fail_request(out, 413,
                        "request body too large: " + std::to_string(body.size()) +
                            " bytes, limit: " + std::to_string(limit) + " bytes");
  }
  out.body = std::move(body);
  return true;
}

}  // namespace

void FailureList::add(std::string line, std::size_t cap) {
  ++total;
  if (lines.size() < cap) lines.push_back(std::move(line));
}

std::string FailureList::body() const {
  std::string s;
  for (const auto& line : lines) s += line + "\n";
  if (total > lines.size()) s += "(" + std::to_string(total - lines.size()) + " more not shown)\n";
  return s;
}

void decode_request(const PushRequestInfo& request, std::string body, const PushLimits& limits,
                    std::chrono::system_clock::time_point now, DecodedPush& out) {
  out.wire_bytes = body.size();
  if (!decode_content(request.content_encoding, body, limits.max_body_bytes, out)) return;
  const std::int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  const detail::TimeWindow window{now_ns - limits.reject_old_samples_max_age.count(),
                                  now_ns + limits.creation_grace_period.count()};
  bool ok = false;
  if (is_json(request.content_type)) {
    out.decoded_bytes = out.body.size();
    ok = detail::parse_json(limits, window, out);
  } else {
    ok = detail::parse_protobuf(limits, window, out);
  }
  if (!ok) {
    out.streams.clear();  // a request that fails as a whole stores nothing, and rejects nothing
    out.metadata.clear();
    out.failures = FailureList{};
    out.rejected = 0;
  }
}

ReceivedEntry to_received(std::string_view tenant, const StreamView& stream, const EntryView& entry,
                          const DecodedPush& push) {
  ReceivedEntry r;
  r.tenant = tenant;
  r.labels = stream.labels;
  r.ts_ns = entry.ts_ns;
  r.line = entry.line;
  for (std::uint32_t i = 0; i < entry.metadata_count; ++i) {
    const auto& [name, value] = push.metadata[entry.metadata_begin + i];
    r.metadata[std::string(name)] = std::string(value);
  }
  return r;
}

}  // namespace shmlog::loki
