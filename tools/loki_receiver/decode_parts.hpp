// The pieces push_decode.cpp's two body formats share: the JSON reader (push_json.cpp) and the
// protobuf reader (push_protobuf.cpp) each turn a body into streams of entries; the label rules
// (labels.cpp) and the distributor's checks (validate.cpp) are the same for both, as in Loki.
#pragma once

#include "push_decode.hpp"

#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shmlog::loki::detail {

using LabelPair = std::pair<std::string_view, std::string_view>;

struct TimeWindow {
  std::int64_t oldest_ns;  // earlier is "too old" (reject_old_samples_max_age)
  std::int64_t newest_ns;  // later is "too new" (creation_grace_period)
};

// Sets the request-wide failure (nothing will be stored); returns false for `return fail(...)`.
bool fail_request(DecodedPush& out, int status, std::string error);

// ---- labels (labels.cpp) ----

// Checks every name and value as Loki's label parser would, then sorts by name. A failure
// fails the request ("couldn't parse labels: ..."), as it fails Loki's push parser.
bool check_label_pairs(std::vector<LabelPair>& pairs, DecodedPush& out);
// {a="1", b="2"}: how Loki prints a label set; empty values left out, as Loki drops them.
std::string canonical_labels(const std::vector<LabelPair>& sorted);
// Loki's ValidateLabels for a stream with entries: "" or the failure message.
std::string label_limit_failure(const std::vector<LabelPair>& sorted, const std::string& labels,
                                const PushLimits& limits);
// A label set in Prometheus syntax, as a protobuf push carries it: {name="value", ...}. Values
// are Go string literals ("...", '...' or `...`); unescaped ones are kept in `storage`.
bool parse_label_set(std::string_view text, std::vector<LabelPair>& pairs, std::deque<std::string>& storage,
                     std::string& error);

// ---- the distributor's checks (validate.cpp) ----

// Label limits, then each entry's limits, on a stream just read; a stream without entries is
// skipped, as Loki skips it before any check.
void check_stream(StreamView& stream, const std::vector<LabelPair>& sorted, const PushLimits& limits,
                  const TimeWindow& window, DecodedPush& out);

// ---- the body formats ----

// out.body holds the JSON; it is parsed in place.
bool parse_json(const PushLimits& limits, const TimeWindow& window, DecodedPush& out);
// out.body holds the snappy-compressed protobuf PushRequest.
bool parse_protobuf(const PushLimits& limits, const TimeWindow& window, DecodedPush& out);

}  // namespace shmlog::loki::detail
