// `shmlog sidecar`'s HTTP endpoint as a process, over real loopback sockets: probes, status,
// metrics (checked by promtool), the page, level control reaching a running producer and
// surviving a restart, the token, and bad, huge, slow and many clients while the drain goes on.
#include "output_check.hpp"
#include "process/process_util.hpp"
#include "sidecar_run.hpp"
#include "support/test_dir.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <rapidjson/document.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace shmlog;
using namespace shmlog::test;
using namespace std::chrono_literals;

namespace {

rapidjson::Document json_of(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.c_str(), body.size());
  REQUIRE_MESSAGE(!d.HasParseError(), body);
  return d;
}

// Polls GET `path` until `ok(body)` holds; the last body otherwise (the check then fails on it).
template <typename Pred>
std::string wait_for(httplib::Client& c, const std::string& path, Pred ok,
                     std::chrono::milliseconds within = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto r = c.Get(path.c_str()); r && r->status == 200) {
      last = r->body;
      if (ok(last)) return last;
    }
    std::this_thread::sleep_for(50ms);
  }
  return last;
}

// Sends `bytes` on a fresh connection and returns what came back before the server closed it
// (or `wait` passed).
std::string raw_exchange(int port, const std::string& bytes, std::chrono::milliseconds wait = 10s) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  timeval tv{static_cast<time_t>(wait.count() / 1000), static_cast<suseconds_t>(wait.count() % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may cut a flood off before it is all sent
    sent += static_cast<std::size_t>(n);
  }
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) got.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return got;
}

// The process's resident set, from /proc: what the many clients below may not grow unbounded.
std::uint64_t rss_kib(pid_t pid) {
  const std::string status = read_file("/proc/" + std::to_string(pid) + "/status");
  const auto at = status.find("VmRSS:");
  return at == std::string::npos ? 0 : std::stoull(status.substr(at + 6));
}

// Sends `request` and then never reads: the server's writes fill the socket buffers and block.
void connect_and_stall(int port, const std::string& request, std::chrono::milliseconds stall) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  int small = 4096;  // a small receive buffer: the server's writes block sooner
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::this_thread::sleep_for(stall);
  ::close(fd);
}

int status_of(const std::string& raw) {
  return raw.starts_with("HTTP/1.1 ") ? std::stoi(raw.substr(9, 3)) : 0;
}

std::size_t count_of(const std::string& text, std::string_view what) {
  std::size_t n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("probes, status, metrics and the page; unknown paths and methods get 404 and 405") {
  TempDir root("shmlog-http");
  child_environment(root);
  Child sidecar = Child::spawn(sidecar_argv(root), root.file("sidecar.err"));
  httplib::Client c("127.0.0.1", served_port(root));
  c.set_read_timeout(10, 0);
  REQUIRE(c.Get("/livez"));
  CHECK(c.Get("/livez")->status == 200);
  CHECK(wait_for(c, "/readyz", [](const std::string& b) {
          return b.starts_with("ready");
        }).starts_with("ready"));

  Child load = Child::spawn(loadgen_argv(1, 2, 20000, 0));
  REQUIRE(exited_ok(load.wait(60s)));
  const std::string status = wait_for(c, "/status", [](const std::string& b) {
    return b.find("\"lines_total\":20000") != std::string::npos;
  });
  auto doc = json_of(status);
  CHECK(std::string(doc["sidecar"]["version"].GetString()) == SHMLOG_VERSION);
  CHECK(std::string(doc["sidecar"]["health"].GetString()) == "ok");
  REQUIRE(doc["sinks"]["files"].IsArray());
  REQUIRE(doc["sinks"]["files"].Size() == 1);
  CHECK(doc["sinks"]["files"][0]["lines_total"].GetUint64() == 20000);
  CHECK(doc["sinks"]["loki"].IsNull());

  auto metrics = c.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->status == 200);
  CHECK(metrics->get_header_value("Content-Type").starts_with("text/plain; version=0.0.4"));
  CHECK(metrics->body.find("shmlog_records_written_total{service=\"load\",level=\"INFO\"} 20000") !=
        std::string::npos);
  // promtool, as Prometheus would read it (the package is installed by scripts/install-deps.sh).
  const std::string file = root.file("metrics.txt");
  std::ofstream(file) << metrics->body;
  const int rc =
      std::system(("promtool check metrics < " + file + " > " + root.file("promtool.out") + " 2>&1").c_str());
  CHECK_MESSAGE(rc == 0, "promtool check metrics: " << read_file(root.file("promtool.out")));

  auto page = c.Get("/");
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(page->get_header_value("Content-Type").starts_with("text/html"));
  CHECK(page->body.find("<html") != std::string::npos);

  auto nope = c.Get("/nope");
  REQUIRE(nope);
  CHECK(nope->status == 404);
  CHECK(nope->body.find("\"error\"") != std::string::npos);
  auto post = c.Post("/status", "x", "text/plain");
  REQUIRE(post);
  CHECK(post->status == 405);
  CHECK(post->get_header_value("Allow") == "GET");

  sidecar.kill(SIGTERM);
  CHECK(exited_ok(sidecar.wait(30s)));
}

TEST_CASE("bad, huge, slow and many clients get a 4xx or are cut off, and the drain goes on") {
  TempDir root("shmlog-http");
  child_environment(root);
  Child sidecar = Child::spawn(sidecar_argv(root), root.file("sidecar.err"));
  const int port = served_port(root);
  constexpr std::uint64_t kRecords = 200000;
  Child load = Child::spawn(loadgen_argv(2, 2, kRecords, 100000));  // about 2 s of load meanwhile

  // A client that starts a request and never finishes it is cut off (5 s read timeout).
  std::thread slow([port] {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string got = raw_exchange(port, "GET /stat", 20s);
    CHECK(std::chrono::steady_clock::now() - t0 < 15s);
    CHECK(status_of(got) != 200);
  });
  // Many clients at once, while the records flow.
  std::vector<std::thread> many;
  std::atomic<int> answered{0};
  for (int t = 0; t < 20; ++t)
    many.emplace_back([port, t, &answered] {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(20, 0);
      for (int i = 0; i < 25; ++i)
        if (auto r = c.Get(t % 2 == 0 ? "/status" : "/metrics"); r && r->status == 200) ++answered;
    });

  CHECK(status_of(raw_exchange(port, "NONSENSE\r\n\r\n")) == 400);
  CHECK(status_of(raw_exchange(port, "GET /status HTTP/1.1\r\nHost: x\r\nX-Big: " +
                                         std::string(64 << 10, 'a') + "\r\n\r\n")) != 200);
  const std::string big(100 << 10, '{');
  CHECK(status_of(raw_exchange(port, "PUT /api/level HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                                         std::to_string(big.size()) + "\r\n\r\n" + big)) == 413);
  httplib::Client c("127.0.0.1", port);
  for (const char* body :
       {"not json", "[]", "{}", R"({"service":"load"})", R"({"service":"","level":"INFO"})",
        R"({"service":"load","level":"LOUD"})", R"({"service":7,"level":"INFO"})"}) {
    auto r = c.Put("/api/level", body, "application/json");
    REQUIRE(r);
    CHECK_MESSAGE(r->status == 400, body);
    CHECK(r->body.find("\"error\"") != std::string::npos);
  }
  auto bad_re = c.Get("/api/tail?re=(unclosed");
  REQUIRE(bad_re);
  CHECK(bad_re->status == 400);

  // Eight live tails that never read: the server's writes to them block and time out, their
  // share of the tail buffer is fixed; the drain goes on meanwhile.
  std::vector<std::thread> stuck;
  for (int t = 0; t < 8; ++t)
    stuck.emplace_back([port] { connect_and_stall(port, "GET /api/tail HTTP/1.1\r\nHost: x\r\n\r\n", 3s); });
  for (auto& t : many) t.join();
  slow.join();
  for (auto& t : stuck) t.join();
  CHECK(answered.load() == 500);
  const auto rss = rss_kib(sidecar.pid());
  MESSAGE("sidecar resident set after the clients: " << rss / 1024 << " MiB");
  CHECK(rss < 128u << 10);  // rings mapped (64 MiB each here) count only as far as touched
  REQUIRE(exited_ok(load.wait(60s)));
  sidecar.kill(SIGTERM);
  CHECK_MESSAGE(exited_ok(sidecar.wait(30s)), read_file(root.file("sidecar.err")));
  auto check = read_output(root.file("out"), "load");
  expect_loadgen_ids(check, 2, 2, kRecords);
  CHECK_MESSAGE(check.ok(), summary(check));
}

TEST_CASE("an output failing past --http-ready-grace makes /readyz 503 with the reason; its lines wait") {
  TempDir root("shmlog-http");
  child_environment(root);
  // A directory where the service's file belongs: every open of it fails (EISDIR), even as root.
  const std::string blocker = root.file("out") + "/load.log";
  std::filesystem::create_directories(blocker);
  auto argv = sidecar_argv(root);
  argv.insert(argv.end(), {"--http-ready-grace", "1s"});
  Child sidecar = Child::spawn(argv, root.file("sidecar.err"));
  httplib::Client c("127.0.0.1", served_port(root));
  c.set_read_timeout(10, 0);
  CHECK(wait_for(c, "/readyz", [](const std::string& b) {
          return b.starts_with("ready");
        }).starts_with("ready"));

  Child load = Child::spawn(loadgen_argv(1, 1, 5000, 0));
  REQUIRE(exited_ok(load.wait(60s)));
  int status = 0;
  std::string reason;
  for (const auto deadline = std::chrono::steady_clock::now() + 20s;
       status != 503 && std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(50ms))
    if (auto r = c.Get("/readyz")) {
      status = r->status;
      reason = r->body;
    }
  CHECK(status == 503);
  CHECK_MESSAGE(reason.starts_with("not ready: an output has been failing for "), reason);
  CHECK_MESSAGE(reason.find("(not ready after 1 s, --http-ready-grace)") != std::string::npos, reason);
  const auto doc = json_of(c.Get("/status")->body);
  CHECK(std::string(doc["sidecar"]["health"].GetString()) == "degraded");
  CHECK(c.Get("/livez")->status == 200);  // failing output is no reason to restart the sidecar

  // The way clears: the lines that waited in the ring arrive, all of them, and it is ready again.
  std::filesystem::remove(blocker);
  CHECK(wait_for(c, "/readyz", [](const std::string& b) {
          return b.starts_with("ready");
        }).starts_with("ready"));
  sidecar.kill(SIGTERM);
  CHECK_MESSAGE(exited_ok(sidecar.wait(30s)), read_file(root.file("sidecar.err")));
  auto check = read_output(root.file("out"), "load");
  expect_loadgen_ids(check, 1, 1, 5000);
  CHECK_MESSAGE(check.ok(), summary(check));
}

TEST_CASE("PUT /api/level stops a running producer's DEBUG records; the level survives a restart") {
  TempDir root("shmlog-http");
  child_environment(root);
  const auto argv = sidecar_argv(root);
  Child sidecar = Child::spawn(argv, root.file("sidecar.err"));
  httplib::Client c("127.0.0.1", served_port(root));
  Child app = Child::spawn({SHMLOG_PRODUCER_PATH, "--dir", root.file("rings"), "--service", "lvl",
                            "--threads", "1", "--count", "0", "--interval-us", "2000", "--debug-too"});
  const std::string log = root.file("out/lvl.log");
  auto debug_lines = [&] { return count_of(read_file(log), "\"level\":\"DEBUG\""); };
  auto info_lines = [&] { return count_of(read_file(log), "\"level\":\"INFO\""); };
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (debug_lines() < 10 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  REQUIRE(debug_lines() >= 10);

  auto put = c.Put("/api/level", R"({"service":"lvl","level":"INFO"})", "application/json");
  REQUIRE(put);
  CHECK_MESSAGE(put->status == 200, put->body);
  // Applied once the ring holds it (the drain writes it between rounds).
  const std::string applied = wait_for(c, "/api/level", [](const std::string& b) {
    return b.find(R"("lvl":{"level":"INFO","override":"INFO"})") != std::string::npos;
  });
  CHECK(applied.find(R"("lvl":{"level":"INFO","override":"INFO"})") != std::string::npos);
  std::this_thread::sleep_for(300ms);  // records logged before the change are drained
  const auto debug_before = debug_lines(), info_before = info_lines();
  std::this_thread::sleep_for(1s);
  CHECK(debug_lines() == debug_before);
  CHECK(info_lines() > info_before + 100);

  // A new sidecar (the old one killed) finds the override and keeps the ring at INFO.
  sidecar.kill(SIGKILL);
  REQUIRE(sidecar.wait(10s));
  sidecar = Child::spawn(argv, root.file("sidecar.err"));
  httplib::Client again("127.0.0.1", served_port(root, 2));
  const std::string kept = wait_for(again, "/api/level", [](const std::string& b) {
    return b.find(R"("lvl":{"level":"INFO","override":"INFO"})") != std::string::npos;
  });
  CHECK(kept.find(R"("lvl":{"level":"INFO","override":"INFO"})") != std::string::npos);
  // Cleared: the ring goes back to the app's own level (TRACE), which the first sidecar kept.
  auto clear = again.Put("/api/level", R"({"service":"lvl","level":null})", "application/json");
  REQUIRE(clear);
  CHECK(clear->status == 200);
  const std::string back = wait_for(again, "/api/level", [](const std::string& b) {
    return b.find(R"("lvl":{"level":"TRACE","override":null})") != std::string::npos;
  });
  CHECK(back.find(R"("lvl":{"level":"TRACE","override":null})") != std::string::npos);
  const auto debug_cleared = debug_lines();
  std::this_thread::sleep_for(500ms);
  CHECK(debug_lines() > debug_cleared);
  app.kill(SIGKILL);
  REQUIRE(app.wait(10s));
  sidecar.kill(SIGTERM);
  CHECK(exited_ok(sidecar.wait(30s)));
}

TEST_CASE("with a token file, changing a level wants the bearer token; reading does not") {
  TempDir root("shmlog-http");
  child_environment(root);
  std::ofstream(root.file("token")) << "s3cret\n";
  auto argv = sidecar_argv(root);
  argv.insert(argv.end(), {"--http-token-file", root.file("token")});
  Child sidecar = Child::spawn(argv, root.file("sidecar.err"));
  httplib::Client c("127.0.0.1", served_port(root));
  const char* body = R"({"service":"api","level":"WARNING"})";
  auto none = c.Put("/api/level", body, "application/json");
  REQUIRE(none);
  CHECK(none->status == 401);
  auto wrong =
      c.Put("/api/level", httplib::Headers{{"Authorization", "Bearer nope"}}, body, "application/json");
  REQUIRE(wrong);
  CHECK(wrong->status == 401);
  auto right =
      c.Put("/api/level", httplib::Headers{{"Authorization", "Bearer s3cret"}}, body, "application/json");
  REQUIRE(right);
  CHECK_MESSAGE(right->status == 200, right->body);
  CHECK(c.Get("/api/level")->status == 200);
  // A rotated secret takes effect without a restart.
  std::this_thread::sleep_for(20ms);  // a new mtime
  std::ofstream(root.file("token")) << "n3w\n";
  auto old =
      c.Put("/api/level", httplib::Headers{{"Authorization", "Bearer s3cret"}}, body, "application/json");
  REQUIRE(old);
  CHECK(old->status == 401);
  sidecar.kill(SIGTERM);
  CHECK(exited_ok(sidecar.wait(30s)));
}

TEST_CASE("an address beyond loopback needs the opt-in and a token file") {
  TempDir root("shmlog-http");
  for (const auto& [extra, says] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--http-addr", "0.0.0.0:0"}, "--http-allow-remote"},
           {{"--http-addr", "0.0.0.0:0", "--http-allow-remote", "true"}, "--http-token-file"},
           {{"--http-addr", "nonsense"}, "--http-addr=\"nonsense\" is not valid"}}) {
    auto argv = sidecar_argv(root);
    argv.insert(argv.end(), extra.begin(), extra.end());
    Child s = Child::spawn(argv, root.file("bad.err"));
    const auto st = s.wait(20s);
    REQUIRE(st);
    CHECK(WIFEXITED(*st));
    CHECK(WEXITSTATUS(*st) != 0);
    CHECK_MESSAGE(read_file(root.file("bad.err")).find(says) != std::string::npos,
                  read_file(root.file("bad.err")));
  }
}
