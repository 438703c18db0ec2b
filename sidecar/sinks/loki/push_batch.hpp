// One push request in the making: spool lines turned into Loki entries (labels and the
// nanosecond timestamp taken from each JSON line), grouped into streams by label set, encoded
// as Loki's JSON push body. Entries keep their spool order, so a rejected request can be split
// by halves of that order.
#pragma once

#include "sinks/loki/loki_options.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace shmlog::sidecar::loki {

struct BatchCounts {
  std::uint64_t truncated = 0;   // lines cut to max_line_bytes
  std::uint64_t unparsable = 0;  // lines that were not a JSON record: shipped with the time now
};

class PushBatch {
 public:
  explicit PushBatch(const LokiOptions& options);

  // Adds one spool line of service file `stem`; `now_ns` stands in for a line without a
  // readable timestamp.
  void add(std::string_view stem, std::string_view line, std::int64_t now_ns);

  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  std::uint64_t line_bytes() const { return lines_.size(); }
  std::int64_t timestamp(std::size_t i) const { return entries_[i].ts_ns; }
  std::string_view line(std::size_t i) const {
    return {lines_.data() + entries_[i].offset, entries_[i].length};
  }
  std::string_view labels(std::size_t i) const { return label_sets_[entries_[i].stream]; }

  // The body for entries [from, to), uncompressed, in the configured encoding: JSON
  // ({"streams":[{"stream":{...},"values":[["ns","line"],...]},...]}) or a serialized protobuf
  // PushRequest (proto/loki_push.proto).
  void encode(std::size_t from, std::size_t to, std::string& body) const;
  void encode_json(std::size_t from, std::size_t to, std::string& body) const;
  void encode_protobuf(std::size_t from, std::size_t to, std::string& body) const;

  void clear();  // counts too
  const BatchCounts& counts() const { return counts_; }

 private:
  struct Entry {
    std::int64_t ts_ns;
    std::uint64_t offset;
    std::uint32_t length;
    std::uint32_t stream;
  };
  const LokiOptions& options_;
  unsigned wanted_ = 0;  // the record fields add() needs, a bit each
  std::string lines_;
  std::vector<Entry> entries_;
  // Entries [from, to) ordered by stream, then timestamp (stable).
  const std::vector<std::uint32_t>& ordered(std::size_t from, std::size_t to) const;

  std::vector<std::string> streams_;     // each a JSON object of labels
  std::vector<std::string> label_sets_;  // the same as {name="value", ...}, names sorted
  std::unordered_map<std::string, std::uint32_t> stream_of_;
  void new_stream();
  std::vector<std::pair<std::string_view, std::string_view>> pairs_;  // of the line being added
  std::string key_, last_key_;
  std::uint32_t last_stream_ = ~0u;
  BatchCounts counts_;
};

// "2026-11-21T09:31:44.890133936Z" (fewer fraction digits allowed) as nanoseconds since the
// epoch; -1 when it is not such a time.
std::int64_t parse_timestamp_ns(std::string_view iso);

}  // namespace shmlog::sidecar::loki
