// shmlog-loki-receiver: the Loki push API stand-in as a program, to point the sidecar at by hand
// or from a benchmark in another process. Prints one JSON line when it listens, one of counters
// per interval, and a summary on SIGTERM or SIGINT.
#include "loki_receiver/loki_receiver.hpp"

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace {

using shmlog::loki::Receiver;
using shmlog::loki::ReceiverOptions;
using shmlog::loki::ReceiverStats;

struct Faults {
  int fail_next = 0;
  int fail_status = 503;
  std::string retry_after;
  int drop_next = 0;
  bool drop_after_ingest = false;
  int delay_ms = 0;
  bool delay_without_ingest = false;
};

// "host:port"; the port may be 0.
bool split_listen(const std::string& listen, ReceiverOptions& o) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size()) return false;
  o.host = listen.substr(0, colon);
  try {
    o.port = std::stoi(listen.substr(colon + 1));
  } catch (const std::exception&) {
    return false;
  }
  return o.port >= 0 && o.port <= 65535;
}

void print_line(const rapidjson::StringBuffer& buf) {
  std::fwrite(buf.GetString(), 1, buf.GetSize(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void print_stats(const char* event, const ReceiverStats& s, double entries_per_s) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("event");
  w.String(event);
  w.Key("requests");
  w.Uint64(s.requests);
  w.Key("accepted_entries");
  w.Uint64(s.accepted_entries);
  w.Key("rejected_entries");
  w.Uint64(s.rejected_entries);
  w.Key("duplicates");
  w.Uint64(s.duplicates);
  w.Key("entries_per_s");
  w.Double(entries_per_s);
  w.Key("bytes_on_wire");
  w.Uint64(s.bytes_on_wire);
  w.Key("bytes_decoded");
  w.Uint64(s.bytes_decoded);
  w.Key("dropped_connections");
  w.Uint64(s.dropped_connections);
  w.Key("streams");
  w.Uint64(s.streams);
  w.Key("responses");
  w.StartObject();
  for (const auto& [status, n] : s.responses_by_status) {
    w.Key(std::to_string(status).c_str());
    w.Uint64(n);
  }
  w.EndObject();
  w.EndObject();
  print_line(buf);
}

void print_listening(const Receiver& r) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("event");
  w.String("listening");
  w.Key("url");
  w.String(r.push_url().c_str());
  w.Key("port");
  w.Int(r.port());
  w.EndObject();
  print_line(buf);
}

void apply_faults(Receiver& r, const Faults& f) {
  if (f.fail_next > 0) r.fail_next(f.fail_next, f.fail_status, f.retry_after);
  if (f.drop_next > 0) {
    r.drop_next(f.drop_next, f.drop_after_ingest ? shmlog::loki::DropMode::after_ingest
                                                 : shmlog::loki::DropMode::before_ingest);
  }
  if (f.delay_ms > 0) r.set_delay(std::chrono::milliseconds(f.delay_ms), !f.delay_without_ingest);
}

// Counters every `interval` until SIGTERM or SIGINT, which every thread has blocked, so the
// signal waits here for sigtimedwait instead of killing the process mid-write.
void run_until_signal(const Receiver& r, const sigset_t& signals, int interval_ms) {
  using Clock = std::chrono::steady_clock;
  auto last_time = Clock::now();
  std::uint64_t last_accepted = 0;
  const long wait_ms = interval_ms > 0 ? interval_ms : 3'600'000;
  for (;;) {
    const timespec timeout{wait_ms / 1000, (wait_ms % 1000) * 1'000'000};
    if (sigtimedwait(&signals, nullptr, &timeout) >= 0) return;
    if (interval_ms <= 0) continue;
    const ReceiverStats s = r.stats();
    const auto now = Clock::now();
    const double secs = std::chrono::duration<double>(now - last_time).count();
    print_stats("counters", s,
                secs > 0 ? static_cast<double>(s.accepted_entries - last_accepted) / secs : 0.0);
    last_time = now;
    last_accepted = s.accepted_entries;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "A stand-in for Grafana Loki's push API (POST /loki/api/v1/push): decodes and checks requests "
      "as Loki 3.x does, counts or keeps what it accepts, and fails on demand."};
  std::string listen = "127.0.0.1:3100";
  ReceiverOptions o;
  bool keep_entries = false;
  int interval_ms = 1000;
  Faults f;
  app.add_option("--listen", listen, "host:port to serve on; port 0 picks a free one (printed)")
      ->capture_default_str();
  app.add_option("--max-line-bytes", o.limits.max_line_bytes,
                 "Loki's max_line_size; longer entries get a 400")
      ->capture_default_str();
  app.add_option("--max-body-bytes", o.limits.max_body_bytes, "largest body after gunzip; larger gets a 413")
      ->capture_default_str();
  app.add_flag("--keep-entries", keep_entries,
               "keep every accepted entry in memory: exact dedup, but memory grows (default: count only)");
  app.add_option("--dedup-window", o.dedup_window,
                 "without --keep-entries: recent entries per stream checked for repeats")
      ->capture_default_str();
  app.add_flag("--require-tenant", o.require_tenant,
               "401 \"no org id\" without X-Scope-OrgID (Loki's auth_enabled)");
  app.add_option("--authorization", o.expected_authorization,
                 "exact Authorization header required, e.g. \"Basic dXNlcjpwYXNz\"; else 401");
  app.add_option("--threads", o.threads, "worker threads (connections served at once)")
      ->capture_default_str();
  app.add_option("--dump", o.dump_path, "append every accepted entry to this file as a JSON line");
  app.add_option("--interval-ms", interval_ms, "print counters this often; 0: only the final summary")
      ->capture_default_str();
  app.add_option("--fail-next", f.fail_next, "answer the next N push requests with --fail-status");
  app.add_option("--fail-status", f.fail_status, "status for --fail-next (429, 500, 503...)")
      ->capture_default_str();
  app.add_option("--retry-after", f.retry_after, "Retry-After header sent with --fail-next answers");
  app.add_option("--drop-next", f.drop_next,
                 "close the connection of the next N push requests without answering");
  app.add_flag("--drop-after-ingest", f.drop_after_ingest, "with --drop-next: store the entries first");
  app.add_option("--delay-ms", f.delay_ms, "answer every push request this much later");
  app.add_flag("--delay-without-ingest", f.delay_without_ingest,
               "with --delay-ms: store nothing and answer 503");
  CLI11_PARSE(app, argc, argv);
  o.keep_entries = keep_entries;  // the program never reads them back: by default only counts
  if (!split_listen(listen, o)) {
    std::fprintf(stderr, "shmlog-loki-receiver: --listen wants host:port, got \"%s\"\n", listen.c_str());
    return 2;
  }

  // Blocked before any thread starts, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto receiver = Receiver::start(o);
  if (!receiver) {
    std::fprintf(stderr, "shmlog-loki-receiver: %s\n", receiver.error().message.c_str());
    return 1;
  }
  Receiver& r = **receiver;
  apply_faults(r, f);
  print_listening(r);
  const auto started = std::chrono::steady_clock::now();
  run_until_signal(r, signals, interval_ms);
  r.stop();
  const ReceiverStats s = r.stats();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  print_stats("summary", s, secs > 0 ? static_cast<double>(s.accepted_entries) / secs : 0.0);
  return 0;
}
