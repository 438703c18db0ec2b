#include "sinks/loki/shipper.hpp"

#include "sinks/loki/loki_client.hpp"
#include "sinks/loki/positions.hpp"
#include "sinks/loki/push_batch.hpp"
#include "sinks/loki/spool.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>

namespace shmlog::sidecar::loki {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kRefreshEvery = 1s;  // list the spool: new files, and files gone unshipped
constexpr auto kIdlePoll = 100ms;   // nothing to ship: look again this often
constexpr auto kSaveEvery = 200ms;  // positions, at most this often while shipping
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

struct Shipper::Impl {
  LokiOptions options;
  std::string dir;
  std::function<void(const std::string&)> say;
  PositionStore store;
  std::unique_ptr<Spool> spool;
  std::unique_ptr<LokiClient> client;
  PushBatch batch;
  SpoolTicket ticket;
  std::string body;
  std::mt19937_64 rng{std::random_device{}()};

  std::thread thread;
  mutable std::mutex mu;
  std::condition_variable cv;
  bool finishing = false;
  Clock::time_point deadline;
  ShipperStats stats;  // under mu
  std::int64_t newest_acked_ns = 0;

  Clock::time_point last_refresh{}, last_save = Clock::now(), batch_started{};
  int failures_in_a_row = 0;
  Clock::time_point rejection_window = Clock::now();
  int rejections_shown = 0, rejections_hidden = 0;

  Impl(LokiOptions o, std::string d)
      : options(std::move(o)), dir(std::move(d)), store(PositionStore::empty("")), batch(options) {}

  bool stopping(Clock::time_point* until = nullptr) {
    std::lock_guard lock(mu);
    if (until != nullptr) *until = deadline;
    return finishing;
  }

  // Sleeps `d`, listing the spool every second meanwhile. False when finishing and the
  // deadline has passed (or will, before `d` is over).
  bool sleep_for(Clock::duration d) {
    const auto until = Clock::now() + d;
    for (;;) {
      refresh_if_due();
      std::unique_lock lock(mu);
      if (finishing && Clock::now() >= deadline) return false;
      auto wake = std::min(until, Clock::now() + kRefreshEvery);
      if (finishing) wake = std::min(wake, deadline);
      cv.wait_until(lock, wake);
      if (Clock::now() >= until) return !(finishing && Clock::now() >= deadline);
    }
  }

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

  void reject(std::size_t i, const PushOutcome& o) {
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
  bool push_range(std::size_t from, std::size_t to) {
    for (int attempt = 0;; ++attempt) {
      batch.encode(from, to, body);
      const PushOutcome o = client->push(body);
      {
        std::lock_guard lock(mu);
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
        for (std::size_t i = from; i < to; ++i) newest = std::max(newest, batch.timestamp(i));
        std::lock_guard lock(mu);
        stats.entries_sent += to - from;
        stats.last_push_unix_ms = unix_now_ns() / 1'000'000;
        newest_acked_ns = std::max(newest_acked_ns, newest);
        return true;
      }
      if (o.retriable()) {
        if (failures_in_a_row++ == 0)
          say("Loki: push failed (" + describe(o) + "); retrying with backoff, the lines wait in the files");
        if (!sleep_for(backoff(attempt, o.retry_after))) return false;
        continue;
      }
      // Refused (400 and other 4xx): some entry of the range is bad. Halves find it, and one
      // bad entry does not hold back the others. Loki may have taken the good entries of a
      // refused request already; sending them again is harmless (identical entries are ignored).
      if (to - from == 1) {
        reject(from, o);
        return true;
      }
      const std::size_t mid = from + (to - from) / 2;
      return push_range(from, mid) && push_range(mid, to);
    }
  }

  void save_positions(bool now) {
    if (!store.dirty() || (!now && Clock::now() - last_save < kSaveEvery)) return;
    last_save = Clock::now();
    if (auto s = store.save(); !s)
      say("Loki: " + s.error().message + " (positions kept in memory; trying again)");
  }

  void run() {
    for (;;) {
      refresh_if_due();
      if (batch.line_bytes() < options.batch_bytes) {
        const auto before = batch.size();
        const auto now_ns = unix_now_ns();
        spool->read(
            options.batch_bytes - batch.line_bytes(),
            [&](std::string_view stem, std::string_view line) { batch.add(stem, line, now_ns); }, ticket);
        if (before == 0 && !batch.empty()) batch_started = Clock::now();
      }
      Clock::time_point until;
      const bool finish = stopping(&until);
      if (batch.empty()) {
        if (finish) break;  // everything in the files is shipped
        save_positions(true);
        std::unique_lock lock(mu);
        cv.wait_for(lock, kIdlePoll);
        continue;
      }
      if (finish && Clock::now() >= until) break;  // shutdown: what is left waits in the files
      const bool full = batch.line_bytes() >= options.batch_bytes;
      if (!full && !finish && Clock::now() - batch_started < options.batch_wait) {
        std::unique_lock lock(mu);
        cv.wait_for(lock, std::min<Clock::duration>(50ms, options.batch_wait));
        continue;
      }
      if (!push_range(0, batch.size())) break;  // the shutdown deadline passed: next start resends
      {
        std::lock_guard lock(mu);
        stats.truncated_lines = batch.counts().truncated;
        stats.unparsable_lines = batch.counts().unparsable;
      }
      spool->commit(ticket);
      batch.clear();
      ticket.clear();
      save_positions(false);
    }
    save_positions(true);
    last_refresh = {};
    refresh_if_due();  // the figures of the last stats line
  }
};

Shipper::Shipper(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Shipper>> Shipper::start(LokiOptions options, std::string spool_dir,
                                                std::function<void(const std::string&)> say) {
  if (options.positions_file.empty()) options.positions_file = spool_dir + "/.shmlog-loki-positions.json";
  auto client = LokiClient::create(options);
  if (!client) return client.error();
  auto store = PositionStore::load(options.positions_file);
  if (!store) return store.error();
  auto impl = std::make_unique<Impl>(std::move(options), std::move(spool_dir));
  impl->say = std::move(say);
  impl->client = std::move(client.value());
  impl->store = std::move(store.value());
  impl->spool = std::make_unique<Spool>(impl->dir, impl->store);
  impl->spool->warn = impl->say;
  Impl* raw = impl.get();
  raw->thread = std::thread([raw] { raw->run(); });
  return std::unique_ptr<Shipper>(new Shipper(std::move(impl)));
}

Shipper::~Shipper() {
  finish(std::chrono::steady_clock::now());
}

void Shipper::finish(std::chrono::steady_clock::time_point deadline) {
  if (!impl_->thread.joinable()) return;
  {
    std::lock_guard lock(impl_->mu);
    impl_->finishing = true;
    impl_->deadline = deadline;
  }
  impl_->cv.notify_all();
  impl_->thread.join();
}

ShipperStats Shipper::stats() const {
  std::lock_guard lock(impl_->mu);
  ShipperStats s = impl_->stats;
  if (s.pending_bytes > 0 && impl_->newest_acked_ns > 0)
    s.lag_seconds = static_cast<double>(unix_now_ns() - impl_->newest_acked_ns) / 1e9;
  return s;
}

}  // namespace shmlog::sidecar::loki
