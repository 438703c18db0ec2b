#include "sinks/loki/shipper.hpp"

#include "sinks/loki/loki_client.hpp"
#include "sinks/loki/positions.hpp"
#include "sinks/loki/push_batch.hpp"
#include "sinks/loki/spool.hpp"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

namespace shmlog::sidecar::loki {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kRefreshEvery = 1s;  // list the spool: new files, and files gone unshipped
constexpr auto kIdlePoll = 100ms;   // nothing to ship: look again this often
// Positions are handed to the saver after every batch Loki took; the saver writes the newest
// copy it has, as fast as fsync lets it, so a crash re-sends at most the batches whose
// positions were still on their way to the disk. A failed save is tried again this often.
constexpr auto kRetrySave = 200ms;
constexpr int kRejectionsShownPerMinute = 10;

std::int64_t unix_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string first_line_of(const std::string& text) {
  std::string s = text.substr(0, std::min(text.find('\n'), std::size_t{300}));
  return s.empty() ? std::string("(no body)") : s;
}

std::string describe(const PushOutcome& o) {
  if (o.status == 0) return o.error.empty() ? std::string("no answer") : o.error;
  return "HTTP " + std::to_string(o.status) + ": " + first_line_of(o.body);
}

}  // namespace

// Two threads: the reader lists and reads the spool and builds the next batch while the sender
// pushes the last one, so parsing, encoding and Loki's round trip overlap. The spool and the
// positions belong to the reader alone; a batch's positions move (on the reader) only once the
// sender has finished with it, one batch at a time, so they move in order.
struct Shipper::Impl {
  // A batch and its request body: encoded and compressed by the reader before the hand-over,
  // so the sender only posts (and, splitting a refused request, encodes parts itself).
  struct Flight {
    explicit Flight(const LokiOptions& o) : batch(o), compressor(o.encoding) {}
    PushBatch batch;
    SpoolTicket ticket;
    std::string body;
    std::string_view wire;  // in compressor's buffer
    PushCompressor compressor;
  };

  LokiOptions options;
  std::string dir;
  std::function<void(const std::string&)> say;
  PositionStore store;
  std::unique_ptr<Spool> spool;
  std::unique_ptr<LokiClient> client;
  std::mt19937_64 rng{std::random_device{}()};

  std::thread reader, sender;
  mutable std::mutex mu;
  std::condition_variable cv;
  bool finishing = false;
  Clock::time_point deadline;
  ShipperStats stats;  // under mu
  std::int64_t newest_acked_ns = 0;

  // The hand-over, under mu: `flights[building]` is the reader's; `flights[1 - building]` is
  // the sender's while `in_flight`, and its outcome is `flight_ok` once `flight_done`.
  std::array<std::unique_ptr<Flight>, 2> flights;
  int building = 0;
  bool in_flight = false, flight_done = false, flight_ok = false, sender_exit = false;

  Clock::time_point last_refresh{}, batch_started{};
  int failures_in_a_row = 0;  // sender's
  // The saver's: the copy to write next, and its thread.
  std::mutex save_mu;
  std::condition_variable save_cv;
  std::optional<PositionStore> to_save;
  bool saver_exit = false, save_failing = false;
  std::thread saver;
  Clock::time_point rejection_window = Clock::now();
  int rejections_shown = 0, rejections_hidden = 0;

  Impl(LokiOptions o, std::string d)
      : options(std::move(o)), dir(std::move(d)), store(PositionStore::empty("")) {
    flights[0] = std::make_unique<Flight>(options);
    flights[1] = std::make_unique<Flight>(options);
  }

  // ---- the sender ----

  // Sleeps `d` unless finishing makes the deadline come first: false then.
  bool sleep_for(Clock::duration d) {
    const auto until = Clock::now() + d;
    std::unique_lock lock(mu);
    for (;;) {
      if (finishing && Clock::now() >= deadline) return false;
      auto wake = until;
      if (finishing) wake = std::min(wake, deadline);
      cv.wait_until(lock, wake);
      if (Clock::now() >= until) return !(finishing && Clock::now() >= deadline);
    }
  }

  Clock::duration backoff(int attempt, const std::string& retry_after) {
    const auto lo = std::chrono::duration_cast<std::chrono::milliseconds>(options.backoff_min);
    const auto hi = std::chrono::duration_cast<std::chrono::milliseconds>(options.backoff_max);
    auto base = lo;
    for (int i = 0; i < attempt && base < hi; ++i) base *= 2;
    base = std::min(base, hi);
    // Equal jitter: half the step fixed, half random, so many sidecars do not retry in step.
    std::uniform_int_distribution<std::int64_t> half(0, base.count() / 2);
    auto d = std::max(lo, std::chrono::milliseconds(base.count() - base.count() / 2 + half(rng)));
    if (!retry_after.empty()) {
      char* end = nullptr;
      const long s = std::strtol(retry_after.c_str(), &end, 10);
      if (end != retry_after.c_str() && *end == '\0' && s > 0)
        d = std::max(d, std::min(hi, std::chrono::milliseconds(std::chrono::seconds(s))));
    }
    return d;
  }

  void reject(const PushBatch& batch, std::size_t i, const PushOutcome& o) {
    {
      std::lock_guard lock(mu);
      ++stats.entries_rejected;
    }
    const auto now = Clock::now();
    if (now - rejection_window >= 1min) {
      if (rejections_hidden > 0)
        say("Loki: " + std::to_string(rejections_hidden) +
            " more entries were rejected in the last minute (not shown)");
      rejection_window = now;
      rejections_shown = rejections_hidden = 0;
    }
    if (rejections_shown++ >= kRejectionsShownPerMinute) {
      ++rejections_hidden;
      return;
    }
    say("Loki rejected an entry (" + describe(o) + "); it is dropped, the rest go on. Stream " +
        std::string(batch.labels(i)) + ", timestamp " + std::to_string(batch.timestamp(i)) + ", line of " +
        std::to_string(batch.line(i).size()) + " bytes");
  }

  // Pushes entries [from, to) until Loki takes them or refuses them one by one. False only
  // when finishing and the deadline passed first.
  bool push_range(Flight& f, std::size_t from, std::size_t to) {
    const bool whole = from == 0 && to == f.batch.size();  // then f.wire is its body already
    if (!whole) {
      f.batch.encode(from, to, f.body);
      f.wire = f.compressor.compress(f.body);
    }
    for (int attempt = 0;; ++attempt) {
      const auto sent_at = Clock::now();
      const PushOutcome o = client->post(f.wire);
      const double took = std::chrono::duration<double>(Clock::now() - sent_at).count();
      {
        std::lock_guard lock(mu);
        const auto bucket = std::lower_bound(kPushSecondsBounds.begin(), kPushSecondsBounds.end(), took) -
                            kPushSecondsBounds.begin();
        ++stats.push_seconds_buckets[static_cast<std::size_t>(bucket)];
        stats.push_seconds_sum += took;
        ++stats.responses_by_status[o.status];
        ++stats.requests;
        stats.retries += attempt > 0 ? 1 : 0;
        stats.wire_bytes += o.wire_bytes;
        stats.last_status = o.status;
        stats.last_error = o.ok() ? std::string() : describe(o);
      }
      if (o.ok()) {
        if (failures_in_a_row > 0)
          say("Loki: pushing works again after " + std::to_string(failures_in_a_row) + " failed attempts");
        failures_in_a_row = 0;
        std::int64_t newest = 0;
        for (std::size_t i = from; i < to; ++i) newest = std::max(newest, f.batch.timestamp(i));
        std::lock_guard lock(mu);
        stats.entries_sent += to - from;
        stats.last_push_unix_ms = unix_now_ns() / 1'000'000;
        newest_acked_ns = std::max(newest_acked_ns, newest);
        return true;
      }
      if (o.retriable()) {
        if (failures_in_a_row++ == 0)
          say("Loki: push failed (" + describe(o) + ")" +
              (o.misconfigured() ? ": check --loki-url and the credentials;" : ";") +
              " retrying with backoff, the lines wait in the files");
        if (!sleep_for(backoff(attempt, o.retry_after))) return false;
        continue;
      }
      // Refused (400 and other 4xx): some entry of the range is bad. Halves find it, and one
      // bad entry does not hold back the others. Loki may have taken the good entries of a
      // refused request already; sending them again is harmless (identical entries are ignored).
      if (to - from == 1) {
        reject(f.batch, from, o);
        return true;
      }
      const std::size_t mid = from + (to - from) / 2;
      if (!push_range(f, from, mid) || !push_range(f, mid, to)) return false;
      if (whole) {  // the halves overwrote the body; nothing needs it any more
        f.body.clear();
        f.wire = {};
      }
      return true;
    }
  }

  void send_loop() {
    for (;;) {
      Flight* f = nullptr;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return (in_flight && !flight_done) || sender_exit; });
        if (!in_flight || flight_done) return;  // sender_exit with nothing to send
        f = flights[static_cast<std::size_t>(1 - building)].get();
      }
      const bool ok = push_range(*f, 0, f->batch.size());
      {
        std::lock_guard lock(mu);
        flight_done = true;
        flight_ok = ok;
      }
      cv.notify_all();
    }
  }

  // ---- the reader ----

  void refresh_if_due() {
    if (Clock::now() - last_refresh < kRefreshEvery) return;
    last_refresh = Clock::now();
    for (const auto& loss : spool->refresh()) {
      say("Loki: " + loss.path + " was deleted with " + std::to_string(loss.bytes) +
          " bytes never shipped (the files rotated past a Loki outage); those lines are lost for Loki");
      std::lock_guard lock(mu);
      stats.lost_bytes += loss.bytes;
      ++stats.lost_files;
    }
    const auto pending = spool->pending_bytes();
    std::lock_guard lock(mu);
    stats.pending_bytes = pending;
  }

  // Positions are saved by a thread of their own: each save fsyncs twice (the file, the
  // directory), which took several milliseconds a time here and stalled the reader (a
  // sched_switch trace of a shipping sidecar showed it in D state in fsync). The reader hands
  // over a copy of the positions; the saver writes the newest copy it has.
  void save_positions() {
    if (!store.dirty()) return;
    {
      std::lock_guard lock(save_mu);
      to_save = store;  // a copy: a handful of entries per service
    }
    store.mark_saved();
    save_cv.notify_one();
  }

  void save_loop() {
    for (;;) {
      std::optional<PositionStore> copy;
      {
        std::unique_lock lock(save_mu);
        save_cv.wait(lock, [&] { return to_save.has_value() || saver_exit; });
        if (!to_save) return;  // saver_exit, nothing left to write
        copy = std::move(to_save);
        to_save.reset();
      }
      // Said when saving starts failing and when it works again, not at every attempt.
      if (auto s = copy->save(); !s) {
        if (!save_failing) say("Loki: " + s.error().message + " (positions kept in memory; trying again)");
        save_failing = true;
        std::lock_guard lock(save_mu);
        if (!to_save) to_save = std::move(copy);  // try again with the next one, or this one
      } else if (save_failing) {
        say("Loki: the positions file is saved again");
        save_failing = false;
      }
      if (save_failing) {
        std::unique_lock lock(save_mu);
        save_cv.wait_for(lock, kRetrySave, [&] { return saver_exit; });
        if (saver_exit) return;
      }
    }
  }

  // Takes the sender's finished batch, if any: its positions move. False when the sender gave
  // up on it (the shutdown deadline): its lines stay unshipped for the next start.
  bool collect(std::unique_lock<std::mutex>& lock) {
    if (!in_flight || !flight_done) return true;
    Flight& done = *flights[static_cast<std::size_t>(1 - building)];
    const bool ok = flight_ok;
    in_flight = flight_done = false;
    lock.unlock();
    if (ok) {
      spool->commit(done.ticket);
      save_positions();
    }
    const BatchCounts c = done.batch.counts();
    done.batch.clear();
    done.ticket.clear();
    lock.lock();
    stats.truncated_lines += c.truncated;
    stats.unparsable_lines += c.unparsable;
    return ok;
  }

  // Waits until the sender is free (listing the spool meanwhile, so a loss during a long outage
  // is still noticed), then hands it the batch being built. False when the sender gave up.
  bool hand_over() {
    Flight& f = *flights[static_cast<std::size_t>(building)];
    f.batch.encode(0, f.batch.size(), f.body);
    f.wire = f.compressor.compress(f.body);
    std::unique_lock lock(mu);
    for (;;) {
      if (!collect(lock)) return false;
      if (!in_flight) break;
      cv.wait_for(lock, kRefreshEvery);
      lock.unlock();
      refresh_if_due();
      lock.lock();
    }
    in_flight = true;
    building = 1 - building;
    lock.unlock();
    cv.notify_all();
    return true;
  }

  void read_loop() {
    bool given_up = false;
    for (;;) {
      refresh_if_due();
      Flight& f = *flights[static_cast<std::size_t>(building)];
      std::uint64_t got = 0;
      if (f.batch.line_bytes() < options.batch_bytes) {
        const auto before = f.batch.size();
        const auto now_ns = unix_now_ns();
        got = spool->read(
            options.batch_bytes - f.batch.line_bytes(),
            [&](std::string_view stem, std::string_view line) { f.batch.add(stem, line, now_ns); }, f.ticket);
        if (before == 0 && !f.batch.empty()) batch_started = Clock::now();
      }
      {
        std::unique_lock lock(mu);
        if (!collect(lock)) {
          given_up = true;
          break;
        }
      }
      Clock::time_point until;
      const bool finish = stopping(&until);
      if (f.batch.empty()) {
        if (finish && !busy()) break;  // everything in the files is shipped
        save_positions();
        {
          std::unique_lock lock(mu);
          cv.wait_for(lock, kIdlePoll);
        }
        // Idle: list the files at every poll, so a new service's first file is shipped within
        // about a poll rather than a second (a directory listing is cheap next to a push).
        last_refresh = {};
        continue;
      }
      if (finish && Clock::now() >= until) break;  // shutdown: what is left waits in the files
      const bool full = f.batch.line_bytes() >= options.batch_bytes;
      // Not full: more may come. Read again at once while reads bring lines; wait only once a
      // read found nothing, until the batch's time is up.
      if (!full && !finish && Clock::now() - batch_started < options.batch_wait) {
        if (got == 0) {
          std::unique_lock lock(mu);
          cv.wait_for(lock, std::min<Clock::duration>(20ms, options.batch_wait));
        }
        continue;
      }
      if (!hand_over()) {
        given_up = true;
        break;
      }
    }
    // Wait for the last batch in flight (the sender gives up on it at the deadline).
    if (!given_up) {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return !in_flight || flight_done; });
      collect(lock);
    }
    {
      std::lock_guard lock(mu);
      sender_exit = true;
    }
    cv.notify_all();
    save_positions();
    {
      std::lock_guard lock(save_mu);
      saver_exit = true;
    }
    save_cv.notify_one();
    saver.join();
    // The saver wrote what it had, or failed: write the last positions here, once more.
    store.force_dirty();
    if (auto s = store.save(); !s)
      say("Loki: " + s.error().message +
          " (the next start sends again what was shipped since the last save; " +
          "Loki ignores the repeats)");
    last_refresh = {};
    refresh_if_due();  // the figures of the last stats line
  }

  bool busy() {
    std::lock_guard lock(mu);
    return in_flight;
  }

  bool stopping(Clock::time_point* until = nullptr) {
    std::lock_guard lock(mu);
    if (until != nullptr) *until = deadline;
    return finishing;
  }
};

Shipper::Shipper(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Shipper>> Shipper::start(LokiOptions options, std::string spool_dir,
                                                std::function<void(const std::string&)> say) {
  if (options.positions_file.empty()) options.positions_file = spool_dir + "/.shmlog-loki-positions.json";
  auto client = LokiClient::create(options);
  if (!client) return client.error();
  auto store = PositionStore::load(options.positions_file);
  if (!store) {
    // A broken positions file must not keep the sidecar down (it would stop the drain too):
    // set it aside and ship the files from their start; Loki ignores the entries it has.
    const std::string aside = options.positions_file + ".broken";
    const bool moved = std::rename(options.positions_file.c_str(), aside.c_str()) == 0;
    say("Loki: " + store.error().message + (moved ? "; moved to " + aside : std::string("; left as it is")) +
        "; shipping the files from their start (Loki ignores entries it already has)");
    store = PositionStore::empty(options.positions_file);
  }
  auto impl = std::make_unique<Impl>(std::move(options), std::move(spool_dir));
  impl->say = std::move(say);
  impl->client = std::move(client.value());
  impl->store = std::move(store.value());
  impl->spool = std::make_unique<Spool>(impl->dir, impl->store);
  impl->spool->warn = impl->say;
  Impl* raw = impl.get();
  raw->saver = std::thread([raw] { raw->save_loop(); });
  raw->sender = std::thread([raw] { raw->send_loop(); });
  raw->reader = std::thread([raw] { raw->read_loop(); });
  return std::unique_ptr<Shipper>(new Shipper(std::move(impl)));
}

Shipper::~Shipper() {
  finish(std::chrono::steady_clock::now());
}

void Shipper::finish(std::chrono::steady_clock::time_point deadline) {
  if (!impl_->reader.joinable()) return;
  {
    std::lock_guard lock(impl_->mu);
    impl_->finishing = true;
    impl_->deadline = deadline;
  }
  impl_->cv.notify_all();
  impl_->reader.join();
  impl_->sender.join();
}

ShipperStats Shipper::stats() const {
  std::lock_guard lock(impl_->mu);
  ShipperStats s = impl_->stats;
  if (s.pending_bytes > 0 && impl_->newest_acked_ns > 0)
    s.lag_seconds = static_cast<double>(unix_now_ns() - impl_->newest_acked_ns) / 1e9;
  return s;
}

}  // namespace shmlog::sidecar::loki
