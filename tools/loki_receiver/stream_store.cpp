#include "stream_store.hpp"

#include "go_text.hpp"

#include <functional>

namespace shmlog::loki {

namespace {

std::uint64_t mix64(std::uint64_t x) {  // splitmix64's finaliser: spreads every input bit
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t entry_key(const EntryView& e) {
  return mix64(std::hash<std::string_view>{}(e.line) ^ mix64(static_cast<std::uint64_t>(e.ts_ns)));
}

// The ingester's words (pkg/ingester/stream.go, chunkenc.ErrTooFarBehind).
std::string too_far_behind(std::int64_t ts, std::int64_t cutoff) {
  return "entry with timestamp " + go_time_string(ts) +
         " ignored, reason: 'entry too far behind, entry timestamp is: " + rfc3339(ts) +
         ", oldest acceptable timestamp is: " + rfc3339(cutoff) + "',";
}

}  // namespace

StreamStore::StreamStore(StoreOptions options) : options_(options) {}

void StreamStore::clear() {
  streams_.clear();
  entries_.clear();
}

StreamStore::Stream& StreamStore::stream_for(std::string_view tenant, const std::string& labels) {
  std::string key;
  key.reserve(tenant.size() + 1 + labels.size());
  key.append(tenant).append("\n").append(labels);  // a header value holds no '\n'
  auto it = streams_.find(key);
  if (it == streams_.end()) it = streams_.emplace(std::move(key), Stream(options_.dedup_window)).first;
  return it->second;
}

bool StreamStore::repeats_last(const Stream& s, const EntryView& e, std::uint64_t key) const {
  if (!s.has_entries || e.ts_ns != s.last_ts || key != s.last_key) return false;
  return !options_.keep_entries || entries_[s.last_index].line == e.line;
}

bool StreamStore::already_stored(const Stream& s, const EntryView& e, std::uint64_t key) const {
  if (!options_.keep_entries) return s.recent.contains(key);
  const auto [first, last] = s.by_ts.equal_range(e.ts_ns);
  for (auto it = first; it != last; ++it) {
    if (entries_[it->second].line == e.line) return true;
  }
  return false;
}

void StreamStore::store(Stream& s, std::string_view tenant, const StreamView& stream, const EntryView& e,
                        std::uint64_t key, const DecodedPush& push,
                        std::vector<ReceivedEntry>* accepted_out) {
  if (!s.has_entries || e.ts_ns > s.highest_ts) s.highest_ts = e.ts_ns;
  s.has_entries = true;
  s.last_ts = e.ts_ns;
  s.last_key = key;
  if (options_.keep_entries) {
    s.last_index = entries_.size();
    s.by_ts.emplace(e.ts_ns, entries_.size());
    entries_.push_back(to_received(tenant, stream, e, push));
    if (accepted_out != nullptr) accepted_out->push_back(entries_.back());
  } else {
    s.recent.insert(key);
    if (accepted_out != nullptr) accepted_out->push_back(to_received(tenant, stream, e, push));
  }
}

StoreOutcome StreamStore::apply(std::string_view tenant, const DecodedPush& push, const PushLimits& limits,
                                FailureList& failures, std::vector<ReceivedEntry>* accepted_out) {
  StoreOutcome outcome;
  for (const StreamView& stream : push.streams) {
    if (!stream.labels_valid) continue;
    Stream* s = nullptr;  // looked up on the first valid entry: a stream exists once it has one
    std::size_t offered = 0;
    std::size_t behind = 0;
    for (const EntryView& e : stream.entries) {
      if (!e.valid) continue;
      if (s == nullptr) s = &stream_for(tenant, stream.labels);
      ++offered;
      const std::uint64_t key = entry_key(e);
      // Loki's order: the last line first (a silent skip), then the window, then the chunk's dedup.
      if (repeats_last(*s, e, key)) {
        ++outcome.duplicates;
        continue;
      }
      const std::int64_t cutoff = s->highest_ts - limits.out_of_order_window.count();
      if (s->has_entries && e.ts_ns < cutoff) {
        ++behind;
        failures.add(too_far_behind(e.ts_ns, cutoff), limits.max_reported_errors);
        continue;
      }
      if (already_stored(*s, e, key)) {
        ++outcome.duplicates;
        continue;
      }
      store(*s, tenant, stream, e, key, push, accepted_out);
      ++outcome.accepted;
    }
    if (behind > 0) {
      failures.add("user '" + std::string(tenant) + "', total ignored: " + std::to_string(behind) +
                       " out of " + std::to_string(offered) + " for stream: " + stream.labels,
                   limits.max_reported_errors);
      outcome.rejected += behind;
    }
  }
  return outcome;
}

}  // namespace shmlog::loki
