#include "http/tail_hub.hpp"

#include "drain/wake.hpp"

#include <shmlog/json_line.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

namespace shmlog::sidecar {

// ---- the filter ----

namespace {

using Clock = std::chrono::steady_clock;
// Reading at most this long before the client's thread gets back to its connection.
constexpr auto kWorkSlice = std::chrono::milliseconds(50);
// A client that saw lines come, none for it, sleeps this long at most before it looks again.
constexpr auto kNap = std::chrono::milliseconds(2);
// A client looks at most this many records a second (those its level and service chose), and
// skips ahead past the rest, counting them lost. A live tail is for people: no one reads more,
// the page keeps 500 rows, and five unfiltered tails following a drain of a million records a
// second took five sixths of the drain's core (shmlog-bench http) before this bound.
constexpr double kRecordsPerSecond = 1000;
constexpr double kBurst = 1000;
// What a new client may look at before its budget has grown: a screenful, not a full burst. An
// EventSource reconnects by itself after any error, and a full bucket per connection would let a
// reconnecting page (or a script that opens tails in a loop) take a burst each time.
constexpr double kStartBudget = 100;
constexpr auto kOutOfBudgetNap = std::chrono::milliseconds(50);
// A client is sent what came at most ten times a second. A person sees no difference, but a
// client sent each record as it came cost a socket write and two thread wake-ups per record (a
// thousand a second per client) on the core the drain needs; gathered, one write carries ~100.
constexpr auto kSendEvery = std::chrono::milliseconds(100);
// The drain copies at most this many lines a second for each client (twice what the client
// looks at, so q, re and kv have some choice): the others are only counted, and the client
// learns of them as lost. Copying every line of a busy drain cost it a sixth of its speed.
constexpr double kIntakePerSecond = 2 * kRecordsPerSecond;
constexpr double kIntakeBurst = 2 * kBurst;
using KeyValues = std::vector<std::pair<std::string, std::string>>;

std::size_t level_index(Level level) {
  return std::min<std::size_t>(static_cast<std::size_t>(level), kLevelCount - 1);
}

// User text in an error message, cut so a 400 stays short.
std::string quoted(std::string_view text) {
  constexpr std::size_t kShown = 80;
  if (text.size() <= kShown) return "'" + std::string(text) + "'";
  return "'" + std::string(text.substr(0, utf8_cut(text, kShown))) + "…'";
}

// libstdc++'s polynomial mode: a breadth-first search whose stack does not grow with the text
// (the default one recurses per character and overflows on a 64 KiB message with `.*x`) and
// whose time cannot explode on patterns like (a+)+b; it refuses back-references.
#ifdef __GLIBCXX__
constexpr auto kRegexFlags = std::regex::ECMAScript | std::regex_constants::__polynomial;
#else
constexpr auto kRegexFlags = std::regex::ECMAScript;
#endif

Result<std::regex> compile(const std::string& pattern) {
  if (pattern.size() > TailFilter::kMaxPatternBytes)
    return Error{"re: longer than " + std::to_string(TailFilter::kMaxPatternBytes) + " bytes"};
  try {
    return std::regex(pattern, kRegexFlags);
  } catch (const std::regex_error& e) {
    if (e.code() == std::regex_constants::error_complexity)
      return Error{"re: " + quoted(pattern) + " has a back-reference, which is not supported"};
    return Error{"re: " + quoted(pattern) + " is not a valid ECMAScript regular expression: " + e.what()};
  }
}

// A SAX handler taking what q, re and kv look at: the top-level "message" (not the exception's)
// and the entries directly inside the top-level "context".
struct LineFields : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, LineFields> {
  enum class Next { other, message, context };

  const KeyValues* kv = nullptr;
  std::string message;
  bool has_message = false;
  std::uint64_t kv_found = 0;  // bit i: kv[i] is held by an entry
  int depth = 0;
  bool in_context = false;
  Next next = Next::other;      // what the value after the last top-level key is
  std::uint64_t key_wants = 0;  // the kv entries whose key is the context key just read

  bool value(std::string_view text) {
    if (depth == 1 && next == Next::message) {
      message.assign(text);
      has_message = true;
    } else if (depth == 2 && in_context) {
      for (std::uint64_t wants = key_wants; wants != 0; wants &= wants - 1) {
        const auto i = static_cast<std::size_t>(std::countr_zero(wants));
        if ((*kv)[i].second == text) kv_found |= std::uint64_t{1} << i;
      }
    }
    next = Next::other;
    key_wants = 0;
    return true;
  }
  bool String(const char* s, rapidjson::SizeType n, bool) { return value({s, n}); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) { return value({s, n}); }  // its JSON text
  bool Bool(bool b) { return value(b ? "true" : "false"); }
  bool Null() { return value("null"); }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    const std::string_view key(s, n);
    next = Next::other;
    key_wants = 0;
    if (depth == 1) {
      next = key == "message" ? Next::message : key == "context" ? Next::context : Next::other;
    } else if (depth == 2 && in_context) {
      for (std::size_t i = 0; i < kv->size(); ++i)
        if ((*kv)[i].first == key) key_wants |= std::uint64_t{1} << i;
    }
    return true;
  }
  bool StartObject() {
    ++depth;
    if (depth == 2) in_context = next == Next::context;
    next = Next::other;
    key_wants = 0;
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    if (depth == 2) in_context = false;
    --depth;
    return true;
  }
  bool StartArray() {
    ++depth;
    next = Next::other;
    key_wants = 0;
    return true;
  }
  bool EndArray(rapidjson::SizeType) {
    --depth;
    return true;
  }
};

}  // namespace

Result<TailFilter> TailFilter::parse(const std::multimap<std::string, std::string>& query) {
  TailFilter f;
  for (const auto& [name, value] : query) {
    if (name == "kv") {
      if (value.empty()) continue;
      const auto eq = value.find('=');
      if (eq == std::string::npos || eq == 0) return Error{"kv: " + quoted(value) + " is not key=value"};
      if (f.kv_.size() == kMaxKv) return Error{"kv: at most " + std::to_string(kMaxKv) + " are allowed"};
      f.kv_.emplace_back(value.substr(0, eq), value.substr(eq + 1));
      continue;
    }
    if (name != "level" && name != "service" && name != "q" && name != "re")
      return Error{"unknown parameter " + quoted(name) +
                   ": GET /api/tail takes level, service, q, re and kv"};
    if (query.count(name) > 1) return Error{name + ": given more than once"};
    if (value.empty()) continue;
    if (name == "level") {
      const auto level = parse_level(value);
      if (!level)
        return Error{"level: " + quoted(value) +
                     " is not a level (TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL)"};
      f.min_level_ = *level;
    } else if (name == "service") {
      f.service_ = value;
    } else if (name == "q") {
      f.q_ = value;
    } else {
      auto re = compile(value);
      if (!re) return re.error();
      f.re_ = std::move(*re);
    }
  }
  return f;
}

bool TailFilter::matches(std::string_view service, Level level, std::string_view json_line) const {
  return matches_origin(service, level) && matches_line(json_line);
}

bool TailFilter::matches_origin(std::string_view service, Level level) const {
  return level >= min_level_ && (!service_ || *service_ == service);
}

bool TailFilter::matches_line(std::string_view json_line) const {
  if (!needs_line()) return true;
  LineFields fields;
  fields.kv = &kv_;
  rapidjson::Reader reader;
  rapidjson::MemoryStream stream(json_line.data(), json_line.size());
  if (reader.Parse<rapidjson::kParseNumbersAsStringsFlag>(stream, fields).IsError()) return false;
  if (fields.kv_found != (std::uint64_t{1} << kv_.size()) - 1) return false;  // kMaxKv < 64
  if (q_.empty() && !re_) return true;
  if (!fields.has_message) return false;
  if (!q_.empty() && fields.message.find(q_) == std::string::npos) return false;
  if (!re_) return true;
  const std::string_view text(fields.message.data(), utf8_cut(fields.message, kRegexTextBytes));
  try {
    return std::regex_search(text.data(), text.data() + text.size(), *re_);
  } catch (const std::regex_error&) {  // the library gave up on this text: not a match
    return false;
  }
}

// ---- the shared ring ----
//
// Lines go into an arena addressed by an ever-growing offset (taken modulo its size); each
// record has a slot (its number modulo the slot count) saying where its line is. The drain is
// the only writer and never waits: it overwrites the oldest lines whoever still reads them.
// Readers check afterwards whether what they read was overwritten meanwhile (a seqlock):
//   drain:  slot.tag = 0; reclaimed = end of new bytes - arena size; release fence;
//           write slot fields and bytes; slot.tag = n + 1 (release); head = n + 1 (release)
//   reader: slot.tag == n + 1 (acquire); read fields and bytes; acquire fence;
//           slot.tag still n + 1 and its bytes still above `reclaimed`: what was read is whole
// Every shared byte is a relaxed atomic, so a reader racing the drain reads stale or new
// values, never undefined ones, and TSan sees no race.

namespace {

constexpr std::uint64_t kSizeMask = 0xffffffff;
constexpr int kClientsShift = 32;
constexpr std::uint64_t kSkippedBit = std::uint64_t{1} << 48;

struct Slot {
  std::atomic<std::uint64_t> tag{0};         // the record's number + 1; 0 while the drain rewrites the slot
  std::atomic<std::uint64_t> pos{0};         // arena offset of its line
  std::atomic<std::uint64_t> meta{0};        // line bytes | clients it is for << 32 | kSkippedBit
  std::atomic<std::uint64_t> generation{0};  // of the filters its clients were chosen by
  // Per client: records chosen for it so far, this one included. A client that missed records
  // learns from the next one it reads how many of them were for it.
  std::array<std::atomic<std::uint64_t>, TailHub::kMaxClients> chosen{};
};

void copy_in(std::atomic<std::uint64_t>* to, std::string_view from) {
  std::size_t i = 0;
  for (; i + 8 <= from.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, from.data() + i, 8);
    to[i / 8].store(w, std::memory_order_relaxed);
  }
  if (i < from.size()) {
    std::uint64_t w = 0;
    std::memcpy(&w, from.data() + i, from.size() - i);
    to[i / 8].store(w, std::memory_order_relaxed);
  }
}

// The commit: a reader that sees the tag or the head sees the record whole.
void publish(Slot& slot, std::atomic<std::uint64_t>& head, std::uint64_t n) {
  slot.tag.store(n + 1, std::memory_order_release);
  head.store(n + 1, std::memory_order_release);
}

void copy_out(const std::atomic<std::uint64_t>* from, std::size_t size, std::string& to) {
  to.resize(size);
  for (std::size_t i = 0; i < size; i += 8) {
    const std::uint64_t w = from[i / 8].load(std::memory_order_relaxed);
    std::memcpy(to.data() + i, &w, std::min<std::size_t>(8, size - i));
  }
}

}  // namespace

namespace detail {

struct TailShared {
  explicit TailShared(const TailHubOptions& o)
      : lines(std::bit_ceil(std::max<std::uint64_t>(o.ring_lines, 2))),
        bytes(std::bit_ceil(std::max<std::uint64_t>(o.ring_bytes, 64))),
        max_line_bytes(std::min<std::uint64_t>({o.max_line_bytes, bytes / 2, kSizeMask})),
        max_batch_bytes(o.max_batch_bytes) {}

  const std::uint64_t lines;  // slots
  const std::uint64_t bytes;  // arena
  const std::uint64_t max_line_bytes;
  const std::size_t max_batch_bytes;

  // Made by the first subscribe (under mu), kept until the hub is gone: nothing is touched
  // while nobody ever tails. The drain takes the pointers under mu.
  std::unique_ptr<Slot[]> slots;
  std::unique_ptr<std::atomic<std::uint64_t>[]> words;

  // Three groups, a cache line each, so that the drain's stores and the clients' do not
  // contend for one line. Written by the drain alone:
  alignas(64) std::atomic<std::uint64_t> head{0};  // records published
  std::atomic<std::uint64_t> reclaimed{0};         // arena offsets below it may be overwritten

  // Clients that sleep, and how they are woken.
  alignas(64) std::atomic<std::uint32_t> wake_word{0};
  std::atomic<std::uint32_t> sleepers{0};
  std::atomic<bool> closed{false};

  // Subscriptions: written under mu; the drain reads `clients` and `generation` without it,
  // the registrations with it.
  alignas(64) std::atomic<std::uint32_t> clients{0};
  std::atomic<std::uint64_t> generation{0};  // one more at every subscribe and unsubscribe
  std::mutex mu;
  struct Registration {
    std::uint64_t owner = 0;  // the generation its subscribe made; 0: free
    Level min_level = Level::trace;
    std::optional<std::string> service;
  };
  std::array<Registration, TailHub::kMaxClients> registrations;
};

}  // namespace detail

// ---- the drain's side ----

// Touched by the drain thread alone: its copy of the clients' cheap filters, and where it writes.
struct TailHub::DrainSide {
  std::uint64_t applied = 0;  // the generation of the filters below
  Slot* slots = nullptr;
  std::atomic<std::uint64_t>* words = nullptr;
  std::array<std::uint64_t, kMaxClients> owner{};     // whose filter each client slot holds
  std::array<std::uint64_t, kMaxClients> chosen{};    // records chosen for it since
  std::array<std::uint32_t, kLevelCount> by_level{};  // the clients each level is enough for
  std::uint32_t any_service = 0;                      // clients that take every service
  std::array<std::string, kMaxClients> service;
  // Lines come in runs from one ring: the service's clients are worked out once per run.
  std::string last_service;
  std::uint32_t last_service_clients = 0;
  bool last_service_known = false;
  std::uint64_t head = 0, pos = 0, reclaimed = 0;
  std::uint64_t since_wake = 0, wake_every = 1;
  // Lines each client may still be copied (kIntakePerSecond), refilled once a round.
  std::array<double, kMaxClients> intake{};
  Clock::time_point refilled{};
  bool counted_unsent = false;  // chosen counts moved past the last slot written
};

TailHub::TailHub(TailHubOptions options)
    : shared_(std::make_shared<detail::TailShared>(options)),
      clients_(&shared_->clients),
      drain_(std::make_unique<DrainSide>()) {
  // Often enough that a sleeping client is woken well before the ring comes round to it.
  drain_->wake_every = std::max<std::uint64_t>(1, shared_->lines / 8);
}

TailHub::~TailHub() {
  close();
}

void TailHub::offer(std::string_view service, Level level, std::string_view json_line) {
  DrainSide& d = *drain_;
  if (shared_->generation.load(std::memory_order_relaxed) != d.applied) refresh_filters();
  std::uint32_t clients = d.by_level[level_index(level)];
  if ((clients & ~d.any_service) != 0) clients &= d.any_service | clients_for_service(service);
  if (clients == 0) return;
  std::uint32_t copy_for = 0;
  for (std::uint32_t rest = clients; rest != 0; rest &= rest - 1) {
    const auto k = static_cast<std::size_t>(std::countr_zero(rest));
    if (d.intake[k] >= 1) {
      d.intake[k] -= 1;
      copy_for |= 1u << k;
    } else {
      ++d.chosen[k];  // chosen but not copied: lost for it, as the next slot's count will say
      d.counted_unsent = true;
    }
  }
  if (copy_for != 0) append(copy_for, json_line);
}

void TailHub::flush_round() {
  DrainSide& d = *drain_;
  const auto now = Clock::now();
  const double add = d.refilled == Clock::time_point{}
                         ? kIntakeBurst
                         : std::chrono::duration<double>(now - d.refilled).count() * kIntakePerSecond;
  d.refilled = now;
  for (double& left : d.intake) left = std::min(kIntakeBurst, left + add);
  // Records counted for clients but not copied since the last slot: a slot of no line carries
  // the counts, so a client learns of them even if no line follows.
  if (d.counted_unsent && d.slots != nullptr) append(0, {});
  if (d.since_wake != 0) wake_sleepers();
}

void TailHub::refresh_filters() {
  detail::TailShared& s = *shared_;
  DrainSide& d = *drain_;
  // A client is subscribing or leaving right now: rather than wait, keep the filters we have
  // and look again at the next line.
  std::unique_lock lock(s.mu, std::try_to_lock);
  if (!lock.owns_lock()) return;
  d.slots = s.slots.get();
  d.words = s.words.get();
  d.by_level = {};
  d.any_service = 0;
  for (std::size_t k = 0; k < kMaxClients; ++k) {
    const auto& r = s.registrations[k];
    if (r.owner != d.owner[k]) {
      d.owner[k] = r.owner;
      d.chosen[k] = 0;  // a new client counts from its own start
      d.intake[k] = kIntakeBurst;
    }
    if (r.owner == 0) continue;
    const std::uint32_t bit = 1u << k;
    for (std::size_t l = level_index(r.min_level); l < kLevelCount; ++l) d.by_level[l] |= bit;
    if (r.service)
      d.service[k].assign(*r.service);  // allocates only for a longer name than the slot had
    else
      d.any_service |= bit;
  }
  d.last_service_known = false;
  d.applied = s.generation.load(std::memory_order_relaxed);
}

std::uint32_t TailHub::clients_for_service(std::string_view service) {
  DrainSide& d = *drain_;
  if (d.last_service_known && service == d.last_service) return d.last_service_clients;
  std::uint32_t clients = 0;
  for (std::size_t k = 0; k < kMaxClients; ++k)
    if (d.owner[k] != 0 && (d.any_service & (1u << k)) == 0 && d.service[k] == service) clients |= 1u << k;
  d.last_service.assign(service);
  d.last_service_clients = clients;
  d.last_service_known = true;
  return clients;
}

void TailHub::append(std::uint32_t clients, std::string_view line) {
  detail::TailShared& s = *shared_;
  DrainSide& d = *drain_;
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  const bool skipped = line.size() > s.max_line_bytes;
  if (skipped) line = {};
  const std::uint64_t padded = (line.size() + 7) & ~std::uint64_t{7};
  std::uint64_t pos = d.pos;
  if ((pos & (s.bytes - 1)) + padded > s.bytes)
    pos = (pos + s.bytes - 1) & ~(s.bytes - 1);  // a line never wraps
  const std::uint64_t n = d.head;
  Slot& slot = d.slots[n & (s.lines - 1)];

  // Claim: the slot's old record, and the old lines under the bytes about to be written, are
  // marked gone before any of it changes.
  slot.tag.store(0, std::memory_order_relaxed);
  if (pos + padded > s.bytes + d.reclaimed) {
    d.reclaimed = pos + padded - s.bytes;
    s.reclaimed.store(d.reclaimed, std::memory_order_relaxed);
  }
  std::atomic_thread_fence(std::memory_order_release);

  slot.pos.store(pos, std::memory_order_relaxed);
  slot.meta.store(line.size() | std::uint64_t{clients} << kClientsShift | (skipped ? kSkippedBit : 0),
                  std::memory_order_relaxed);
  slot.generation.store(d.applied, std::memory_order_relaxed);
  for (std::size_t k = 0; k < kMaxClients; ++k) {
    d.chosen[k] += (clients >> k) & 1u;
    slot.chosen[k].store(d.chosen[k], std::memory_order_relaxed);
  }
  copy_in(d.words + (pos & (s.bytes - 1)) / 8, line);
  publish(slot, s.head, n);
  d.counted_unsent = false;
  d.head = n + 1;
  d.pos = pos + padded;
  if (++d.since_wake >= d.wake_every) wake_sleepers();
}

void TailHub::wake_sleepers() {
  detail::TailShared& s = *shared_;
  drain_->since_wake = 0;
  // Pairs with the sleeper's seq_cst increment and head load: either it sees the new head and
  // does not sleep, or we see it counted and wake it.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (s.sleepers.load(std::memory_order_relaxed) != 0) wake_private(s.wake_word);
}

// ---- subscriptions ----

struct TailClient::State {
  std::shared_ptr<detail::TailShared> shared;
  TailFilter filter;
  std::size_t index = 0;          // its registration
  std::uint32_t bit = 0;          // 1 << index
  std::uint64_t generation = 0;   // records chosen by older filters are not for it
  std::uint64_t cursor = 0;       // the next record to read
  std::uint64_t last_chosen = 0;  // `chosen` of the last record read
  std::uint64_t lost = 0, reported = 0;
  std::string line;              // scratch, grows to the longest line read
  double budget = kStartBudget;  // records it may still look at (kRecordsPerSecond)
  Clock::time_point refilled = Clock::now();
  std::optional<Clock::time_point> sent;  // when wait_next last returned records (kSendEvery)
};

Result<std::unique_ptr<TailClient>> TailHub::subscribe(TailFilter filter) {
  detail::TailShared& s = *shared_;
  std::lock_guard lock(s.mu);
  if (s.closed.load(std::memory_order_relaxed)) return Error{"the sidecar is stopping"};
  std::size_t k = 0;
  while (k < kMaxClients && s.registrations[k].owner != 0) ++k;
  if (k == kMaxClients)
    return Error{std::to_string(kMaxClients) +
                 " live-tail clients already, the most at once; try again later"};
  if (!s.slots) {
    s.slots = std::make_unique<Slot[]>(s.lines);
    s.words = std::make_unique<std::atomic<std::uint64_t>[]>(s.bytes / 8);
  }
  const std::uint64_t generation = s.generation.load(std::memory_order_relaxed) + 1;
  auto& r = s.registrations[k];
  r.owner = generation;
  r.min_level = filter.min_level();
  r.service = filter.service();
  s.generation.store(generation, std::memory_order_relaxed);
  s.clients.fetch_add(1, std::memory_order_relaxed);

  auto state = std::make_unique<TailClient::State>();
  state->shared = shared_;
  state->filter = std::move(filter);
  state->index = k;
  state->bit = 1u << k;
  state->generation = generation;
  state->cursor = s.head.load(std::memory_order_acquire);
  return std::unique_ptr<TailClient>(new TailClient(std::move(state)));
}

void TailHub::close() {
  detail::TailShared& s = *shared_;
  {
    std::lock_guard lock(s.mu);  // no subscribe gets in after it
    s.closed.store(true, std::memory_order_seq_cst);
  }
  wake_private(s.wake_word);
}

TailClient::TailClient(std::unique_ptr<State> state) : state_(std::move(state)) {}

TailClient::~TailClient() {
  detail::TailShared& s = *state_->shared;
  std::lock_guard lock(s.mu);
  s.registrations[state_->index] = {};
  s.generation.store(s.generation.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  s.clients.fetch_sub(1, std::memory_order_relaxed);
}

std::uint64_t TailClient::dropped() const {
  return state_->lost;
}

const TailFilter& TailClient::filter() const {
  return state_->filter;
}

// ---- a client reading ----

namespace {

struct Seen {
  std::uint64_t generation = 0;
  std::uint64_t chosen = 0;
  bool mine = false;
  bool skipped = false;
};

// Record `n`'s facts, and its line into `line` when it is one for this client. False when it
// is gone: overwritten, or being overwritten while we read.
bool read_record(const detail::TailShared& s, std::uint64_t n, std::size_t index, std::uint32_t bit,
                 std::uint64_t generation, Seen& seen, std::string& line) {
  const Slot& slot = s.slots[n & (s.lines - 1)];
  if (slot.tag.load(std::memory_order_acquire) != n + 1) return false;
  const std::uint64_t pos = slot.pos.load(std::memory_order_relaxed);
  const std::uint64_t meta = slot.meta.load(std::memory_order_relaxed);
  seen.generation = slot.generation.load(std::memory_order_relaxed);
  seen.chosen = slot.chosen[index].load(std::memory_order_relaxed);
  seen.mine = ((meta >> kClientsShift) & bit) != 0;
  seen.skipped = (meta & kSkippedBit) != 0;
  const bool copy = seen.mine && !seen.skipped && seen.generation >= generation;
  if (copy) {
    const std::uint64_t size = meta & kSizeMask;
    const std::uint64_t at = pos & (s.bytes - 1);
    // Out of range only when the drain rewrote the slot between our loads: gone.
    if (size > s.max_line_bytes || at + size > s.bytes) return false;
    if (pos < s.reclaimed.load(std::memory_order_relaxed)) return false;  // gone already: spare the copy
    copy_out(s.words.get() + at / 8, static_cast<std::size_t>(size), line);
  }
  std::atomic_thread_fence(std::memory_order_acquire);
  return slot.tag.load(std::memory_order_relaxed) == n + 1 &&
         (!copy || pos >= s.reclaimed.load(std::memory_order_relaxed));
}

void put_dropped(std::uint64_t& lost, std::uint64_t& reported, std::string& out) {
  if (lost == reported) return;
  out += "event: dropped\ndata: {\"dropped\":";
  out += std::to_string(lost - reported);
  out += "}\n\n";
  reported = lost;
}

// The first '\r' or '\n' of `line`, or npos: two memchr passes, which run 32 bytes a step
// (find_first_of calls memchr once per byte of the line).
std::size_t line_break(std::string_view line) {
  std::size_t cut = std::string_view::npos;
  for (const char c : {'\r', '\n'})
    if (const void* p = std::memchr(line.data(), c, line.size()); p != nullptr)
      cut = std::min(cut, static_cast<std::size_t>(static_cast<const char*>(p) - line.data()));
  return cut;
}

void put_record(std::string_view line, std::string& out) {
  out += "event: record\n";
  // A JSON line has no raw line break (append_json_line escapes them); were there one, each
  // piece still goes out as a data field of its own, so no text can end the event early.
  for (;;) {
    const auto cut = line_break(line);
    out += "data: ";
    out += line.substr(0, cut);
    out += '\n';
    if (cut == std::string_view::npos) break;
    line.remove_prefix(cut + 1);
  }
  out += '\n';
}

}  // namespace

bool TailClient::wait_next(std::string& sse_out, std::chrono::milliseconds max_wait) {
  State& c = *state_;
  detail::TailShared& s = *c.shared;
  sse_out.clear();
  const auto deadline = Clock::now() + max_wait;
  if (c.sent) {  // gather for the rest of kSendEvery: a plain sleep, the drain does not wake it
    const auto until = std::min(*c.sent + kSendEvery, deadline);
    while (Clock::now() < until && !s.closed.load(std::memory_order_acquire))
      std::this_thread::sleep_for(std::min<Clock::duration>(until - Clock::now(), kOutOfBudgetNap));
  }
  for (;;) {
    if (s.closed.load(std::memory_order_acquire)) return false;
    // Taken before looking: a wake after this makes the sleep below return at once.
    const std::uint32_t word = s.wake_word.load(std::memory_order_acquire);
    const bool caught_up = take(sse_out);
    put_dropped(c.lost, c.reported, sse_out);
    if (!sse_out.empty()) {
      c.sent = Clock::now();
      return true;
    }
    const auto now = Clock::now();
    if (now >= deadline) return true;
    if (c.budget < 1) {  // out of budget: a plain sleep, not woken by every drain round
      std::this_thread::sleep_for(std::min<Clock::duration>(kOutOfBudgetNap, deadline - now));
      continue;
    }
    if (!caught_up) continue;
    // Counted as a sleeper, then a last look (the drain pairs with it in wake_sleepers()). Lines
    // that came meanwhile are likely for other clients (ours would have been sent): rather than
    // spin through them, nap briefly; the drain's next wake ends the nap sooner anyway.
    s.sleepers.fetch_add(1, std::memory_order_seq_cst);
    const bool nothing_new = s.head.load(std::memory_order_seq_cst) == c.cursor;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
    if (!s.closed.load(std::memory_order_seq_cst))
      wait_any({{&s.wake_word, word, false}}, nothing_new ? left : std::min(left, kNap));
    s.sleepers.fetch_sub(1, std::memory_order_relaxed);
  }
}

// Reads published records into `out` until it has read them all (true) or a bound is reached:
// a ring's worth of records, max_batch_bytes of text, or kWorkSlice of time (q, re and kv can be
// slow): the HTTP thread gets back to its connection between slices.
bool TailClient::take(std::string& out) {
  State& c = *state_;
  const detail::TailShared& s = *c.shared;
  const auto now = Clock::now();
  const auto work_until = now + kWorkSlice;
  c.budget = std::min(kBurst,
                      c.budget + std::chrono::duration<double>(now - c.refilled).count() * kRecordsPerSecond);
  c.refilled = now;
  std::uint64_t head = s.head.load(std::memory_order_acquire);
  for (std::uint64_t examined = 0;; ++examined) {
    if (c.cursor == head && (head = s.head.load(std::memory_order_acquire)) == c.cursor) return true;
    if (head - c.cursor > s.lines) c.cursor = head - s.lines;  // their slots hold newer records
    if (examined == s.lines || out.size() >= s.max_batch_bytes) return false;
    if (examined % 256 == 255 && Clock::now() >= work_until) return false;
    Seen seen;
    const std::uint64_t n = c.cursor++;
    if (!read_record(s, n, c.index, c.bit, c.generation, seen, c.line)) continue;
    if (seen.generation < c.generation) continue;  // chosen before the drain knew this client
    c.lost += seen.chosen - (seen.mine ? 1 : 0) - c.last_chosen;
    c.last_chosen = seen.chosen;
    if (!seen.mine) continue;
    if (seen.skipped) {
      ++c.lost;
      continue;
    }
    if (c.budget < 1) {
      // Past its budget: this one and every record published by now are skipped, counted
      // exactly from the newest one's running count (read without its line).
      ++c.lost;
      const std::uint64_t newest = s.head.load(std::memory_order_acquire);
      Seen last;
      if (newest > c.cursor && read_record(s, newest - 1, c.index, c.bit, ~std::uint64_t{0}, last, c.line) &&
          last.generation >= c.generation) {
        c.lost += last.chosen - c.last_chosen;
        c.last_chosen = last.chosen;
        c.cursor = newest;
      }
      return true;
    }
    c.budget -= 1;
    const bool wanted = c.filter.matches_line(c.line);  // q, re, kv: true at once when none is set
    if (wanted) {
      put_dropped(c.lost, c.reported, out);
      put_record(c.line, out);
    }
    if (c.filter.needs_line() && Clock::now() >= work_until) return false;
  }
}

}  // namespace shmlog::sidecar
