// The distributor's checks on a stream just read (pkg/distributor/validator.go): the label
// limits, then each entry's, in Loki's order and with Loki's messages.
#include "decode_parts.hpp"
#include "go_text.hpp"

namespace shmlog::loki::detail {

namespace {

// Loki's ValidateEntry, in its order: age, future, line size, structured metadata.
std::string entry_limit_failure(const EntryView& e, const std::string& labels, const PushLimits& limits,
                                const TimeWindow& window, const DecodedPush& push) {
  if (limits.reject_old_samples && e.ts_ns < window.oldest_ns) {
    return "entry for stream '" + labels + "' has timestamp too old: " + rfc3339(e.ts_ns) +
           ", oldest acceptable timestamp is: " + rfc3339(window.oldest_ns);
  }
  if (e.ts_ns > window.newest_ns) {
    return "entry for stream '" + labels + "' has timestamp too new: " + rfc3339(e.ts_ns);
  }
  if (limits.max_line_bytes != 0 && e.line.size() > limits.max_line_bytes) {
    return "Max entry size '" + std::to_string(limits.max_line_bytes) + "' bytes exceeded for stream '" +
           labels + "' while adding an entry with length '" + std::to_string(e.line.size()) + "' bytes";
  }
  if (e.metadata_count == 0) return {};
  std::size_t bytes = 0;
  for (std::uint32_t i = 0; i < e.metadata_count; ++i) {
    const auto& [name, value] = push.metadata[e.metadata_begin + i];
    bytes += name.size() + value.size();
  }
  if (limits.max_structured_metadata_bytes != 0 && bytes > limits.max_structured_metadata_bytes) {
    return "stream '" + labels + "' has structured metadata too large: '" + std::to_string(bytes) +
           "' bytes, limit: '" + std::to_string(limits.max_structured_metadata_bytes) + "' bytes";
  }
  if (limits.max_structured_metadata_entries != 0 &&
      e.metadata_count > limits.max_structured_metadata_entries) {
    return "stream '" + labels + "' has too many structured metadata labels: '" +
           std::to_string(e.metadata_count) + "', limit: '" +
           std::to_string(limits.max_structured_metadata_entries) + "'";
  }
  return {};
}

}  // namespace

void check_stream(StreamView& stream, const std::vector<LabelPair>& sorted, const PushLimits& limits,
                  const TimeWindow& window, DecodedPush& out) {
  if (stream.entries.empty()) return;
  if (std::string why = label_limit_failure(sorted, stream.labels, limits); !why.empty()) {
    stream.labels_valid = false;  // one failure refuses all of the stream's entries
    for (auto& e : stream.entries) e.valid = false;
    out.rejected += stream.entries.size();
    out.failures.add(std::move(why), limits.max_reported_errors);
    return;
  }
  for (auto& e : stream.entries) {
    if (std::string why = entry_limit_failure(e, stream.labels, limits, window, out); !why.empty()) {
      e.valid = false;
      ++out.rejected;
      out.failures.add(std::move(why), limits.max_reported_errors);
    }
  }
}

}  // namespace shmlog::loki::detail
