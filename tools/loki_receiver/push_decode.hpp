// The stateless half of Loki's push path: the body decoded and checked against the limits that
// need no memory of earlier requests. Loki does this in its distributor
// (pkg/loghttp/push/push.go, pkg/distributor/validator.go); the stateful half, the ingester's
// dedup and out-of-order window, is stream_store.hpp.
//
// What a request may look like (Loki 3.x):
//   Content-Type: application/json (parameters allowed): the JSON body
//     {"streams":[{"stream":{"name":"value",...},
//                  "values":[["<ns since epoch, as a string>","<line>",{optional metadata}],...]}]}
//   any other Content-Type, or none: Loki's documented default, a snappy-compressed (block
//     format) protobuf PushRequest whose streams carry their labels as text, {name="value", ...}
//   Content-Encoding: none, identity, snappy (nothing to undo: snappy is part of the protobuf
//     format), gzip, or deflate (raw DEFLATE, as Go's compress/flate reads it)
//
// Where this receiver differs from Loki, on purpose:
//   - an unknown Content-Encoding is 415 (Loki: 400); "identity" is accepted (Loki: 400);
//   - stricter JSON: no trailing bytes after the object, an entry has 2 or 3 elements (Loki
//     tolerates shorter ones), a timestamp is digits only (Go's ParseInt also takes a sign);
//   - label names starting with "__" and label values that are not UTF-8 fail the request (Loki
//     passes them); a name given twice in one stream is a per-stream 400 with Loki's
//     duplicate-label message (Go's JSON map would keep the last silently);
//   - protobuf strings (labels, metadata) must be UTF-8: the C++ protobuf runtime refuses others;
//   - Loki 3.x adds a service_name label when discover_service_name finds one; not done here:
//     the stored labels are exactly the ones pushed (minus empty values, as Loki drops them).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shmlog::loki {

// Loki's limits, defaults as in Loki 3.x limits_config and ingester config.
struct PushLimits {
  std::size_t max_line_bytes = 256 * 1024;  // max_line_size ("256KB"); 0 turns the check off
  std::size_t max_label_names_per_series = 15;
  std::size_t max_label_name_length = 1024;
  std::size_t max_label_value_length = 2048;
  std::size_t max_structured_metadata_bytes = 64 * 1024;  // max_structured_metadata_size
  std::size_t max_structured_metadata_entries = 128;      // ..._entries_count
  bool reject_old_samples = true;
  std::chrono::nanoseconds reject_old_samples_max_age = std::chrono::hours(24 * 7);
  std::chrono::nanoseconds creation_grace_period = std::chrono::minutes(10);
  // Unordered writes: an entry older than the stream's newest minus this is "too far behind"
  // (the ingester's max_chunk_age / 2, 2h / 2).
  std::chrono::nanoseconds out_of_order_window = std::chrono::hours(1);
  // The decompressed body; beyond it the answer is 413 and nothing more is inflated. Loki
  // bounds its input too; this keeps a gzip bomb from taking the receiver's memory.
  std::size_t max_body_bytes = std::size_t{64} << 20;
  // Failure lines in a 400 body, like the ingester's max_returned_stream_errors; the rest are
  // counted in one last line.
  std::size_t max_reported_errors = 10;
};

// The request's headers that matter to decoding.
struct PushRequestInfo {
  std::string_view content_type;
  std::string_view content_encoding;
  std::string_view tenant;  // X-Scope-OrgID; empty when none was sent
};

// One stored entry.
struct ReceivedEntry {
  std::string tenant;  // X-Scope-OrgID as sent; empty when none
  std::string labels;  // canonical, as Loki prints a label set: {app="a", level="info"}
  std::int64_t ts_ns = 0;
  std::string line;
  std::map<std::string, std::string> metadata;  // structured metadata (an entry's 3rd element)
};

// Failure lines for a 400 body: the first `cap` are kept, the others only counted (a batch of
// 5,000 stale entries must not make a 5,000-line answer).
struct FailureList {
  std::vector<std::string> lines;
  std::size_t total = 0;

  void add(std::string line, std::size_t cap);
  bool empty() const { return total == 0; }
  std::string body() const;  // the lines, '\n'-terminated, then "(N more not shown)" if any
};

struct EntryView {
  std::int64_t ts_ns = 0;
  std::string_view line;
  std::uint32_t metadata_begin = 0;  // into DecodedPush::metadata
  std::uint32_t metadata_count = 0;
  bool valid = true;  // false: failed a per-entry limit (DecodedPush::failures says which)
};

struct StreamView {
  std::string labels;  // canonical; see canonical_labels()
  std::vector<EntryView> entries;
  bool labels_valid = true;  // false: a per-stream limit failed, none of its entries count
};

// A request decoded and checked. The views point into `body` (JSON, parsed in place) or into
// `keep_alive` (a parsed protobuf), so a DecodedPush cannot be copied or moved:
// decode_request() fills one the caller owns.
struct DecodedPush {
  DecodedPush() = default;
  DecodedPush(const DecodedPush&) = delete;
  DecodedPush& operator=(const DecodedPush&) = delete;

  int status = 0;     // non-zero: the request fails as a whole (nothing stored) with this status
  std::string error;  // why, when status != 0
  std::string body;   // after Content-Encoding: the JSON or the snappy-compressed protobuf
  std::shared_ptr<const void> keep_alive;  // the parsed protobuf the views point into
  std::vector<StreamView> streams;
  std::vector<std::pair<std::string_view, std::string_view>> metadata;
  FailureList failures;           // per-stream and per-entry limit failures, in order
  std::size_t rejected = 0;       // entries refused by those
  std::size_t entry_count = 0;    // every entry in the body
  std::size_t wire_bytes = 0;     // the body as received
  std::size_t decoded_bytes = 0;  // the JSON, or the protobuf after snappy
};

// Decodes `body` as sent with `request`'s headers, and checks the stateless limits.
void decode_request(const PushRequestInfo& request, std::string body, const PushLimits& limits,
                    std::chrono::system_clock::time_point now, DecodedPush& out);

// The entry as a stored copy (tenant and labels filled in).
ReceivedEntry to_received(std::string_view tenant, const StreamView& stream, const EntryView& entry,
                          const DecodedPush& push);

enum class Compression {
  gzip,     // one or more gzip members, as Go's gzip.Reader reads them
  deflate,  // raw DEFLATE, as Go's flate.NewReader reads it
};

// Inflates `in` into `out`, never writing more than `limit` bytes. Returns 0, or 413 (more than
// `limit`) or 400 (not that format, corrupt, truncated) with `error` set.
int inflate_bounded(std::string_view in, Compression format, std::size_t limit, std::string& out,
                    std::string& error);
inline int gunzip_bounded(std::string_view in, std::size_t limit, std::string& out, std::string& error) {
  return inflate_bounded(in, Compression::gzip, limit, out, error);
}

}  // namespace shmlog::loki
