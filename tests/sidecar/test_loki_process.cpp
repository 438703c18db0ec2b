// `shmlog sidecar --loki-url` as a process against the Loki push-API receiver: every line in the
// files reaches it, with its labels and timestamp, through 429 storms, 500s, slow answers,
// dropped connections, a restarted receiver and kill -9 of the sidecar; a refused entry is
// dropped alone; a file deleted before it was shipped is counted; SIGTERM pushes what is left.
#include "loki_receiver.hpp"
#include "process/process_util.hpp"
#include "sidecar_run.hpp"
#include "support/test_dir.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <zlib.h>

using namespace shmlog;
using namespace shmlog::test;
using namespace std::chrono_literals;

namespace {

const char* const kEncodings[] = {"protobuf", "json"};

std::unique_ptr<loki::Receiver> start_receiver(loki::ReceiverOptions o = {}) {
  auto r = loki::Receiver::start(std::move(o));
  REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  return std::move(r.value());
}

std::vector<std::string> loki_argv(const TempDir& root, const loki::Receiver& r, const std::string& encoding,
                                   std::vector<std::string> extra = {}) {
  auto argv = sidecar_argv(root);
  argv.insert(argv.end(), {"--loki-url", r.url(), "--loki-encoding", encoding, "--loki-batch-wait", "100ms"});
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

// Every line of every spool file in `dir` (plain and gzipped), in no particular order.
std::multiset<std::string> spool_lines(const std::string& dir) {
  std::multiset<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename();
    if (name.front() == '.' || name.find(".log") == std::string::npos) continue;
    std::string text;
    gzFile gz = gzopen(e.path().c_str(), "rb");  // reads plain files as they are
    REQUIRE(gz != nullptr);
    char buf[65536];
    for (int n; (n = gzread(gz, buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
    gzclose(gz);
    std::size_t at = 0;
    for (std::size_t nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1)
      out.insert(text.substr(at, nl - at));
  }
  return out;
}

std::int64_t line_ns(const std::string& line) {
  const std::string t = field(line, "timestamp");  // 2026-11-21T09:31:44.890133936Z
  std::tm tm{};
  REQUIRE(strptime(t.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) != nullptr);
  const auto secs = static_cast<std::int64_t>(timegm(&tm));
  const auto dot = t.find('.');
  std::int64_t frac = 0;
  if (dot != std::string::npos) frac = std::stoll(t.substr(dot + 1, 9));
  return secs * 1'000'000'000 + frac;
}

// What Loki holds is what the files hold: each line once (a resent entry is identical, so Loki
// keeps one), at the line's own timestamp.
void expect_shipped(const loki::Receiver& r, const std::string& out_dir, std::size_t expected) {
  const auto lines = spool_lines(out_dir);
  REQUIRE(lines.size() == expected);
  REQUIRE(r.wait_for_entries(expected, 60s));
  std::this_thread::sleep_for(200ms);  // anything more (a duplicate stored twice) shows now
  const auto got = r.entries();
  CHECK(got.size() == expected);
  std::multiset<std::string> received;
  std::size_t wrong_ts = 0;
  for (const auto& e : got) {
    received.insert(e.line);
    if (wrong_ts < 3 && e.ts_ns != line_ns(e.line)) {
      ++wrong_ts;
      FAIL_CHECK("entry at " << e.ts_ns << " for line " << e.line);
    }
  }
  CHECK(received == lines);
}

std::string iso_now(std::int64_t offset_ns = 0) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count() +
                  offset_ns;
  const std::time_t secs = ns / 1'000'000'000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(ns % 1'000'000'000));
  return buf;
}

// A record line as the sidecar writes it, `filler` bytes of message.
std::string record_line(int i, std::size_t filler = 10) {
  return "{\"timestamp\":\"" + iso_now(i) + "\",\"level\":\"INFO\",\"message\":\"m" + std::to_string(i) +
         " " + std::string(filler, 'x') +
         "\",\"service\":\"hand\",\"file\":\"a.cpp\",\"line\":1,\"function\":\"f\","
         "\"pid\":1,\"tid\":1,\"seq\":" +
         std::to_string(i) + "}";
}

void write_lines(const std::string& path, int from, int to, std::size_t filler = 10) {
  std::string text;
  for (int i = from; i < to; ++i) text += record_line(i, filler) + "\n";
  std::FILE* f = std::fopen(path.c_str(), "ab");
  REQUIRE(f != nullptr);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
}

void wait_for_text(const TempDir& root, const std::string& text, std::chrono::milliseconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (read_file(root.file("sidecar.err")).find(text) == std::string::npos) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "no \""
                                                                     << text << "\" from the sidecar:\n"
                                                                     << read_file(root.file("sidecar.err")));
    std::this_thread::sleep_for(10ms);
  }
}

void stop(Child& sidecar) {
  sidecar.kill(SIGTERM);
  CHECK(exited_ok(sidecar.wait(60s)));
}

}  // namespace

TEST_CASE("every line reaches Loki once, with its labels, timestamp and tenant") {
  for (const char* encoding : kEncodings) {
    CAPTURE(encoding);
    TempDir root("shmlog-loki");
    child_environment(root);
    auto r = start_receiver();
    Child sidecar =
        Child::spawn(loki_argv(root, *r, encoding, {"--loki-tenant", "team-a"}), root.file("sidecar.err"));
    wait_started(root, 1);
    Child load = Child::spawn(loadgen_argv(2, 2, 20000, 0));
    REQUIRE(exited_ok(load.wait(60s)));
    expect_shipped(*r, root.file("out"), 20000);
    for (const auto& e : r->entries()) {
      CHECK(e.tenant == "team-a");
      CHECK(e.labels.find("job=\"shmlog\"") != std::string::npos);
      CHECK(e.labels.find("service=\"load\"") != std::string::npos);
      CHECK(e.labels.find("level=\"INFO\"") != std::string::npos);
      CHECK(e.labels.find("id=") == std::string::npos);
      break;
    }
    stop(sidecar);
    CHECK(read_file(root.file("sidecar.err")).find("Loki: 20000 entries sent, 0 rejected") !=
          std::string::npos);
  }
}

TEST_CASE("429 storms, 500s, slow answers, dropped connections and a restarted receiver lose nothing") {
  for (const char* encoding : kEncodings) {
    CAPTURE(encoding);
    TempDir root("shmlog-loki");
    child_environment(root);
    auto r = start_receiver();
    Child sidecar =
        Child::spawn(loki_argv(root, *r, encoding,
                               {"--loki-backoff-min", "20ms", "--loki-backoff-max", "200ms", "--loki-timeout",
                                "400ms", "--loki-batch-bytes", "16KiB", "--loki-batch-wait", "20ms"}),
                     root.file("sidecar.err"));
    wait_started(root, 1);
    Child load = Child::spawn(loadgen_argv(2, 1, 40000, 4000));  // about 10 s of writing
    // Each fault is seen through before the next (fail_next replaces what is left of the last).
    auto until = [&](const char* what, auto seen) {
      const auto deadline = std::chrono::steady_clock::now() + 30s;
      while (!seen(r->stats()) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(10ms);
      REQUIRE_MESSAGE(seen(r->stats()), what);
    };
    REQUIRE(r->wait_for_entries(1, 20s));
    r->fail_next(20, 429);
    until("20 x 429", [](const loki::ReceiverStats& s) { return s.responses(429) >= 20; });
    r->fail_next(10, 500);
    until("10 x 500", [](const loki::ReceiverStats& s) { return s.responses(500) >= 10; });
    r->fail_next(5, 503, "0");
    until("5 x 503", [](const loki::ReceiverStats& s) { return s.responses(503) >= 5; });
    r->set_delay(600ms);  // past the sidecar's timeout: it gives up on the request and sends it again
    std::this_thread::sleep_for(1500ms);
    r->set_delay(0ms);
    r->drop_next(3, loki::DropMode::before_ingest);
    until("3 drops", [](const loki::ReceiverStats& s) { return s.dropped_connections >= 3; });
    r->drop_next(3, loki::DropMode::after_ingest);
    until("6 drops", [](const loki::ReceiverStats& s) { return s.dropped_connections >= 6; });
    r->stop();  // Loki restarting
    std::this_thread::sleep_for(500ms);
    REQUIRE(r->restart());
    REQUIRE(exited_ok(load.wait(60s)));
    expect_shipped(*r, root.file("out"), 40000);
    CHECK(r->stats().duplicates > 0);  // the answers lost after ingest made the sidecar resend
    stop(sidecar);
  }
}

TEST_CASE("kill -9 of the sidecar in the middle of a backlog: every line arrives, repeats are identical") {
  TempDir root("shmlog-loki");
  child_environment(root);
  {
    // The backlog: written to the files with no Loki to ship to.
    Child writer = Child::spawn(sidecar_argv(root), root.file("sidecar.err"));
    wait_started(root, 1);
    Child load = Child::spawn(loadgen_argv(2, 1, 60000, 0));
    REQUIRE(exited_ok(load.wait(60s)));
    stop(writer);
  }
  auto r = start_receiver();
  r->set_delay(5ms);  // a slow Loki: the backlog takes a while
  const auto argv = loki_argv(root, *r, "protobuf", {"--loki-batch-bytes", "64KiB"});
  Child sidecar = Child::spawn(argv, root.file("sidecar.err"));
  for (int kill = 0; kill < 3; ++kill) {
    REQUIRE(r->wait_for_entries(static_cast<std::size_t>(12000 * (kill + 1)), 60s));
    kill_and_restart(sidecar, argv, root);
  }
  r->set_delay(0ms);
  expect_shipped(*r, root.file("out"), 60000);
  stop(sidecar);
}

TEST_CASE("an entry Loki refuses is dropped alone and said once; the rest go through") {
  TempDir root("shmlog-loki");
  child_environment(root);
  std::filesystem::create_directories(root.file("out"));
  loki::ReceiverOptions o;
  o.limits.max_line_bytes = 2000;  // a Loki with a small max_line_size
  auto r = start_receiver(o);
  write_lines(root.file("out/hand.log"), 0, 300);
  write_lines(root.file("out/hand.log"), 300, 303, 3000);  // three lines Loki will refuse
  write_lines(root.file("out/hand.log"), 303, 600);
  Child sidecar = Child::spawn(loki_argv(root, *r, "protobuf"), root.file("sidecar.err"));
  REQUIRE(r->wait_for_entries(597, 30s));
  std::this_thread::sleep_for(300ms);
  CHECK(r->entries().size() == 597);
  stop(sidecar);
  const std::string err = read_file(root.file("sidecar.err"));
  std::size_t said = 0;
  for (auto at = err.find("Loki rejected an entry"); at != std::string::npos;
       at = err.find("Loki rejected an entry", at + 1))
    ++said;
  CHECK(said == 3);
  CHECK(err.find("597 entries sent, 3 rejected") != std::string::npos);
}

TEST_CASE("a file deleted before it was shipped is counted and said; the rest still arrives") {
  TempDir root("shmlog-loki");
  child_environment(root);
  std::filesystem::create_directories(root.file("out"));
  auto r = start_receiver();
  r->fail_next(1'000'000, 503);  // Loki down
  // The oldest file is big and the batches small, so while Loki is down the shipper holds .2
  // open and has not read .1 at all: deleting .1 loses it.
  write_lines(root.file("out/hand.log.2"), 0, 400, 100);
  write_lines(root.file("out/hand.log.1"), 400, 500);
  write_lines(root.file("out/hand.log"), 500, 550);
  Child sidecar = Child::spawn(
      loki_argv(root, *r, "protobuf",
                {"--loki-backoff-min", "50ms", "--loki-backoff-max", "100ms", "--loki-batch-bytes", "4KiB"}),
      root.file("sidecar.err"));
  wait_for_text(root, "push failed");
  const auto lost_bytes = std::filesystem::file_size(root.file("out/hand.log.1"));
  std::filesystem::remove(root.file("out/hand.log.1"));  // what a rotation past the outage does
  wait_for_text(root, "never shipped");
  r->clear_faults();
  REQUIRE(r->wait_for_entries(450, 30s));
  stop(sidecar);
  const std::string err = read_file(root.file("sidecar.err"));
  CHECK(err.find("hand.log.1 was deleted with " + std::to_string(lost_bytes) + " bytes never shipped") !=
        std::string::npos);
  CHECK(err.find(std::to_string(lost_bytes) + " bytes lost to rotation") != std::string::npos);
  CHECK(r->entries().size() == 450);
}

TEST_CASE("SIGTERM pushes what is pending and saves the positions: a restart sends nothing again") {
  TempDir root("shmlog-loki");
  child_environment(root);
  std::filesystem::create_directories(root.file("out"));
  auto r = start_receiver();
  write_lines(root.file("out/hand.log"), 0, 1000);
  // A batch wait far longer than the test: only the shutdown push can send these.
  const auto argv = loki_argv(root, *r, "protobuf", {"--loki-batch-wait", "50s"});
  Child sidecar = Child::spawn(argv, root.file("sidecar.err"));
  wait_started(root, 1);
  std::this_thread::sleep_for(300ms);
  CHECK(r->entries().empty());
  stop(sidecar);
  CHECK(r->entries().size() == 1000);
  CHECK(std::filesystem::exists(root.file("out/.shmlog-loki-positions.json")));
  const auto requests = r->stats().requests;
  Child again = Child::spawn(argv, root.file("sidecar.err"));
  wait_started(root, 2);
  std::this_thread::sleep_for(300ms);
  stop(again);
  CHECK(r->stats().requests == requests);
}

TEST_CASE("credentials come from files and are read again when they change; a 401 loses nothing") {
  TempDir root("shmlog-loki");
  child_environment(root);
  std::filesystem::create_directories(root.file("out"));
  write_file(root.file("token"), "old-token\n");
  loki::ReceiverOptions o;
  o.expected_authorization = "Bearer new-token";
  auto r = start_receiver(o);
  write_lines(root.file("out/hand.log"), 0, 200);
  Child sidecar = Child::spawn(loki_argv(root, *r, "protobuf",
                                         {"--loki-bearer-token-file", root.file("token"),
                                          "--loki-backoff-min", "50ms", "--loki-backoff-max", "100ms"}),
                               root.file("sidecar.err"));
  wait_for_text(root, "HTTP 401");
  CHECK(r->entries().empty());
  write_file(root.file("token"), "new-token\n");  // the Secret was updated
  REQUIRE(r->wait_for_entries(200, 30s));
  stop(sidecar);
  CHECK(read_file(root.file("sidecar.err")).find("check --loki-url and the credentials") !=
        std::string::npos);

  // Basic auth: user from the settings, password from a file.
  TempDir root2("shmlog-loki");
  std::filesystem::create_directories(root2.file("out"));
  std::filesystem::create_directories(root2.file("rings"));
  write_file(root2.file("password"), "pw1\n");
  loki::ReceiverOptions b;
  b.expected_authorization = "Basic dXNlcjpwdzE=";  // user:pw1
  auto r2 = start_receiver(b);
  write_lines(root2.file("out/hand.log"), 0, 10);
  Child basic =
      Child::spawn(loki_argv(root2, *r2, "json",
                             {"--loki-username", "user", "--loki-password-file", root2.file("password")}),
                   root2.file("sidecar.err"));
  REQUIRE(r2->wait_for_entries(10, 30s));
  stop(basic);
}

TEST_CASE("https: the server checked against the CA file, a client certificate for mTLS") {
  TempDir root("shmlog-loki");
  child_environment(root);
  std::filesystem::create_directories(root.file("out"));
  // A CA, a server certificate for 127.0.0.1 and a client certificate, both signed by it; and a
  // second CA that signed nothing here.
  const std::string script =
      "set -e; exec >/dev/null; cd " + quoted(root.path()) +
      "; k='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'"
      "; openssl req -x509 $k -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca"
      "; openssl req -x509 $k -keyout other.key -out other.pem -days 2 -subj /CN=other-ca"
      "; openssl req $k -keyout server.key -out server.csr -subj /CN=127.0.0.1"
      "; printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext"
      "; openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
      "-extfile san.ext"
      "; openssl req $k -keyout client.key -out client.csr -subj /CN=shmlog"
      "; openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2";
  const auto made = run_command(script, root);
  REQUIRE_MESSAGE(made.status == 0, made.err);
  loki::ReceiverOptions o;
  o.tls_cert_file = root.file("server.pem");
  o.tls_key_file = root.file("server.key");
  o.tls_client_ca_file = root.file("ca.pem");  // clients must show a certificate of this CA
  auto r = start_receiver(o);
  REQUIRE(r->url().starts_with("https://"));
  write_lines(root.file("out/hand.log"), 0, 100);
  const std::vector<std::string> retry_fast = {"--loki-backoff-min", "50ms", "--loki-backoff-max", "100ms"};
  auto with = [&](std::vector<std::string> flags) {
    flags.insert(flags.end(), retry_fast.begin(), retry_fast.end());
    return loki_argv(root, *r, "protobuf", flags);
  };

  // Loki's certificate from another CA: refused, nothing sent, nothing lost.
  Child wrong_ca = Child::spawn(with({"--loki-ca-file", root.file("other.pem"), "--loki-cert-file",
                                      root.file("client.pem"), "--loki-key-file", root.file("client.key")}),
                                root.file("sidecar.err"));
  wait_for_text(root, "push failed");
  stop(wrong_ca);
  // No client certificate: the server refuses the handshake.
  write_file(root.file("sidecar.err"), "");
  Child no_cert = Child::spawn(with({"--loki-ca-file", root.file("ca.pem")}), root.file("sidecar.err"));
  wait_for_text(root, "push failed");
  stop(no_cert);
  CHECK(r->entries().empty());
  // Both right: everything arrives.
  Child right = Child::spawn(with({"--loki-ca-file", root.file("ca.pem"), "--loki-cert-file",
                                   root.file("client.pem"), "--loki-key-file", root.file("client.key")}),
                             root.file("sidecar.err"));
  REQUIRE(r->wait_for_entries(100, 30s));
  stop(right);
  CHECK(r->entries().size() == 100);
}

TEST_CASE("a broken positions file is set aside and the files are shipped from their start") {
  TempDir root("shmlog-loki");
  child_environment(root);
  std::filesystem::create_directories(root.file("out"));
  write_file(root.file("out/.shmlog-loki-positions.json"), "{\"files\": [ trun");
  auto r = start_receiver();
  write_lines(root.file("out/hand.log"), 0, 50);
  Child sidecar = Child::spawn(loki_argv(root, *r, "json"), root.file("sidecar.err"));
  REQUIRE(r->wait_for_entries(50, 30s));
  stop(sidecar);
  CHECK(std::filesystem::exists(root.file("out/.shmlog-loki-positions.json.broken")));
  CHECK(read_file(root.file("sidecar.err")).find("is not valid") != std::string::npos);
}
