// The stateful half of Loki's push path, what its ingester remembers per stream: the newest
// timestamp (unordered writes accept an entry no older than that minus the out-of-order window)
// and the entries already stored (an exact repeat, same timestamp and same line, is dropped
// without an error). Streams are keyed by tenant and canonical labels.
#pragma once

#include "push_decode.hpp"
#include "recent_keys.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace shmlog::loki {

struct StoreOptions {
  // true: every accepted entry is kept (tests) and dedup is exact over all of them.
  // false: only counts (benchmarks): memory stays bounded whatever arrives, and dedup covers the
  // stream's last `dedup_window` to 2 * `dedup_window` accepted entries, matched by a 64-bit
  // hash of (timestamp, line): a false match has a probability of about window / 2^64.
  bool keep_entries = true;
  std::size_t dedup_window = 16384;
};

struct StoreOutcome {
  std::size_t accepted = 0;
  std::size_t duplicates = 0;
  std::size_t rejected = 0;  // too far behind
};

class StreamStore {
 public:
  explicit StreamStore(StoreOptions options = {});

  // The ingester's pass over the valid entries of `push`, in order: an exact repeat of a stored
  // entry is skipped, one too far behind its stream's newest is refused (a line in `failures`),
  // the rest are stored. `accepted_out`, when given, receives copies of what was stored.
  StoreOutcome apply(std::string_view tenant, const DecodedPush& push, const PushLimits& limits,
                     FailureList& failures, std::vector<ReceivedEntry>* accepted_out = nullptr);

  const std::vector<ReceivedEntry>& entries() const { return entries_; }  // keep mode only
  std::size_t stream_count() const { return streams_.size(); }
  void clear();

 private:
  struct Stream {
    explicit Stream(std::size_t dedup_window) : recent(dedup_window) {}
    bool has_entries = false;
    std::int64_t highest_ts = 0;
    std::int64_t last_ts = 0;  // the last stored entry: Loki checks it before anything else
    std::uint64_t last_key = 0;
    std::size_t last_index = 0;                                // keep mode: into entries_
    std::unordered_multimap<std::int64_t, std::size_t> by_ts;  // keep mode: ts -> entries_ index
    RecentKeys recent;                                         // count-only mode
  };

  Stream& stream_for(std::string_view tenant, const std::string& labels);
  bool repeats_last(const Stream& s, const EntryView& e, std::uint64_t key) const;
  bool already_stored(const Stream& s, const EntryView& e, std::uint64_t key) const;
  void store(Stream& s, std::string_view tenant, const StreamView& stream, const EntryView& e,
             std::uint64_t key, const DecodedPush& push, std::vector<ReceivedEntry>* accepted_out);

  StoreOptions options_;
  std::unordered_map<std::string, Stream> streams_;  // by tenant + '\n' + labels
  std::vector<ReceivedEntry> entries_;
};

}  // namespace shmlog::loki
