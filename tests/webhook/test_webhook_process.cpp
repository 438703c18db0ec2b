// `shmlog webhook` end to end: the real program on a loopback port with a throwaway CA and server
// certificate, laid out as the kubelet mounts a Secret (files behind a `..data` symlink that is
// swapped at once on renewal). A client that verifies against the CA posts AdmissionReviews; the
// certificate is renewed while it runs; bad clients do not keep it from the next review; SIGTERM
// ends it with 0.
#include "process/process_util.hpp"
#include "support/test_dir.hpp"
#include "webhook/json_patch_check.hpp"
#include "webhook/test_certs.hpp"

#include <chrono>
#include <csignal>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

#include <doctest/doctest.h>
#include <httplib.h>
#include <openssl/ssl.h>
#include <rapidjson/document.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace shmlog;
using namespace shmlog::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* kPod = R"({"apiVersion":"v1","kind":"Pod",
  "metadata":{"name":"web-0","labels":{"app":"web"}},
  "spec":{"containers":[{"name":"app","image":"registry.example/secret-app:1.2"}]}})";

std::string review_of(const std::string& uid, const std::string& object = kPod) {
  return R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":")" + uid +
         R"(","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","namespace":"shop","object":)" +
         object + "}}";
}

// A Secret volume as the kubelet writes it: tls.crt -> ..data/tls.crt, ..data -> ..<generation>;
// a renewal writes a new generation and replaces the ..data symlink in one rename.
class SecretVolume {
 public:
  explicit SecretVolume(std::string dir) : dir_(std::move(dir)) {}
  std::string cert_file() const { return dir_ + "/tls.crt"; }
  std::string key_file() const { return dir_ + "/tls.key"; }

  void publish(const std::string& cert, const std::string& key) {
    const std::string generation = "..gen" + std::to_string(++generation_);
    std::filesystem::create_directories(dir_ + "/" + generation);
    write_file(dir_ + "/" + generation + "/tls.crt", cert);
    write_file(dir_ + "/" + generation + "/tls.key", key);
    std::filesystem::create_symlink(generation, dir_ + "/..data_tmp");
    std::filesystem::rename(dir_ + "/..data_tmp", dir_ + "/..data");
    if (generation_ == 1) {
      std::filesystem::create_symlink("..data/tls.crt", cert_file());
      std::filesystem::create_symlink("..data/tls.key", key_file());
    }
  }

 private:
  std::string dir_;
  int generation_ = 0;
};

bool exited_ok(const std::optional<int>& status) {
  return status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
}

// One `shmlog webhook` on 127.0.0.1, its certificate from `ca`.
struct Webhook {
  TempDir root{"shmlog-webhook"};
  Pem ca = make_ca("shmlog test CA");
  SecretVolume tls{root.path() + "/tls"};
  std::string ca_file = root.file("ca.crt");
  std::string log_file = root.file("webhook.stderr");
  Child child;
  int port = 0;

  explicit Webhook(const std::vector<std::string>& extra = {}) {
    write_file(ca_file, ca.cert);
    const Pem server = make_server_cert(ca, "webhook-1", 1001);
    tls.publish(server.cert, server.key);
    std::vector<std::string> argv = {SHMLOG_CLI_PATH,   "webhook",       "--listen",       "127.0.0.1:0",
                                     "--tls-cert-file", tls.cert_file(), "--tls-key-file", tls.key_file()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    child = Child::spawn(argv, log_file);
    const auto until = std::chrono::steady_clock::now() + 10s;
    const std::string said = "webhook at https://127.0.0.1:";
    while (port == 0 && std::chrono::steady_clock::now() < until) {
      const std::string log = read_file(log_file);
      if (const auto at = log.find(said); at != std::string::npos)
        port = std::atoi(log.c_str() + at + said.size());
      if (port == 0) std::this_thread::sleep_for(20ms);
    }
    REQUIRE_MESSAGE(port > 0, "the webhook did not say where it listens: " << read_file(log_file));
  }

  std::unique_ptr<httplib::SSLClient> client() const {
    auto c = std::make_unique<httplib::SSLClient>("127.0.0.1", port);
    c->set_ca_cert_path(ca_file.c_str());
    c->enable_server_certificate_verification(true);
    c->set_connection_timeout(3, 0);
    c->set_read_timeout(5, 0);
    c->set_write_timeout(5, 0);
    return c;
  }

  // Posts a review of kPod with `uid` and checks the answer: 200, the uid, a patch that applies.
  void check_review(const std::string& uid) const {
    auto c = client();
    const auto res = c->Post("/mutate", review_of(uid), "application/json");
    REQUIRE_MESSAGE(res, "no answer to review " << uid << ": " << httplib::to_string(res.error()));
    REQUIRE_MESSAGE(res->status == 200, res->status << " " << res->body);
    rapidjson::Document body;
    body.Parse(res->body.c_str());
    REQUIRE_FALSE(body.HasParseError());
    const auto& response = body["response"];
    CHECK(std::string(response["uid"].GetString()) == uid);
    CHECK(response["allowed"].IsTrue());
    REQUIRE(response.HasMember("patch"));
    bool ok = false;
    const std::string patch_text = base64_decode(response["patch"].GetString(), ok);
    REQUIRE(ok);
    rapidjson::Document patch, pod;
    patch.Parse(patch_text.c_str());
    pod.Parse(kPod);
    const std::string problem = apply_json_patch(pod, patch);
    CHECK_MESSAGE(problem.empty(), problem);
    CHECK(pod["metadata"]["annotations"].HasMember("shmlog.io/status"));
  }

  void stop_with_sigterm() {
    child.kill(SIGTERM);
    const auto status = child.wait(15s);
    CHECK_MESSAGE(exited_ok(status), (status ? describe_status(*status) : "still running after 15 s")
                                         << "\n"
                                         << read_file(log_file));
  }

  // The certificate the next handshake shows; waits up to `limit` for `want`.
  std::string wait_served(const std::string& want, std::chrono::milliseconds limit) const {
    const auto until = std::chrono::steady_clock::now() + limit;
    std::string seen;
    do {
      seen = served_certificate(port, ca_file);
      if (seen == want) break;
      std::this_thread::sleep_for(50ms);
    } while (std::chrono::steady_clock::now() < until);
    return seen;
  }
};

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("reviews over TLS get their uid and a patch; one log line each, without the pod") {
  Webhook w;
  CHECK(served_certificate(w.port, w.ca_file) == "CN=webhook-1 serial=1001");
  for (int i = 0; i < 5; ++i) w.check_review("review-" + std::to_string(i));
  // Several reviews on one kept-alive connection, as the API server sends them.
  auto c = w.client();
  for (int i = 0; i < 3; ++i) {
    const auto res = c->Post("/mutate", review_of("kept-" + std::to_string(i)), "application/json");
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->body.find("\"uid\":\"kept-" + std::to_string(i) + "\"") != std::string::npos);
  }
  const auto health = c->Get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(health->body == "ok\n");
  // TLS 1.2 and up only.
  CHECK(served_certificate(w.port, w.ca_file, TLS1_1_VERSION).starts_with("error: "));
  CHECK(served_certificate(w.port, w.ca_file, TLS1_2_VERSION) == "CN=webhook-1 serial=1001");

  w.stop_with_sigterm();
  const std::string log = read_file(w.log_file);
  CHECK_MESSAGE(log.find("review review-0 shop/web-0: injected") != std::string::npos, log);
  CHECK(count_of(log, "review ") == 8);
  CHECK_MESSAGE(log.find("secret-app") == std::string::npos, "the log shows the pod's contents:\n" << log);
}

TEST_CASE("a renewed certificate is served within 2 s without a restart; a broken one is not") {
  Webhook w;
  w.check_review("before");
  REQUIRE(served_certificate(w.port, w.ca_file) == "CN=webhook-1 serial=1001");

  // cert-manager renews: same CA, new key, new serial and subject.
  const Pem renewed = make_server_cert(w.ca, "webhook-2", 1002);
  w.tls.publish(renewed.cert, renewed.key);
  auto swapped = std::chrono::steady_clock::now();
  CHECK(w.wait_served("CN=webhook-2 serial=1002", 3s) == "CN=webhook-2 serial=1002");
  CHECK(std::chrono::steady_clock::now() - swapped <= 2500ms);
  w.check_review("after-renewal");

  // A broken renewal: the key is not the certificate's. The last good pair stays, said once.
  const Pem other = make_server_cert(w.ca, "webhook-3", 1003);
  const Pem third = make_server_cert(w.ca, "webhook-3", 1003);
  w.tls.publish(third.cert, other.key);
  const auto until = std::chrono::steady_clock::now() + 2500ms;
  while (std::chrono::steady_clock::now() < until) {
    CHECK(served_certificate(w.port, w.ca_file) == "CN=webhook-2 serial=1002");
    std::this_thread::sleep_for(100ms);
  }
  w.check_review("after-broken-renewal");
  CHECK_MESSAGE(count_of(read_file(w.log_file), "cannot use the new certificate") == 1,
                read_file(w.log_file));

  // Fixed by the next renewal.
  const Pem fourth = make_server_cert(w.ca, "webhook-4", 1004);
  w.tls.publish(fourth.cert, fourth.key);
  swapped = std::chrono::steady_clock::now();
  CHECK(w.wait_served("CN=webhook-4 serial=1004", 3s) == "CN=webhook-4 serial=1004");
  CHECK(std::chrono::steady_clock::now() - swapped <= 2500ms);
  w.check_review("after-fix");

  w.stop_with_sigterm();
  CHECK(count_of(read_file(w.log_file), "certificate reloaded") == 2);
}

TEST_CASE("bad requests get a 4xx or are cut off, and the next review is still answered") {
  Webhook w;
  auto post = [&](const std::string& body, const std::string& type = "application/json") {
    return w.client()->Post("/mutate", body, type.c_str());
  };
  auto check_status = [](const httplib::Result& res, int status) {
    REQUIRE_MESSAGE(res, httplib::to_string(res.error()));
    CHECK_MESSAGE(res->status == status, res->status << " " << res->body);
    // Every refusal says why, as JSON.
    rapidjson::Document d;
    d.Parse(res->body.c_str());
    CHECK_MESSAGE((!d.HasParseError() && d.IsObject() && d.HasMember("error")), res->body);
  };

  SUBCASE("not JSON") {
    check_status(post("{not json"), 400);
  }
  SUBCASE("no uid") {
    check_status(post(R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}})"), 400);
  }
  SUBCASE("the wrong apiVersion") {
    check_status(
        post(R"({"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u"}})"),
        400);
  }
  SUBCASE("not sent as JSON") {
    check_status(post(review_of("u"), "text/plain"), 415);
  }
  SUBCASE("GET /mutate") {
    check_status(w.client()->Get("/mutate"), 405);
  }
  SUBCASE("an unknown path") {
    check_status(w.client()->Get("/nope"), 404);
  }
  SUBCASE("a 5 MiB body") {
    const auto res = post(std::string(5 << 20, ' '));
    if (res) CHECK_MESSAGE(res->status == 413, res->status);  // or cut off while sending
  }
  SUBCASE("plain HTTP to the TLS port") {
    httplib::Client plain("127.0.0.1", w.port);
    plain.set_connection_timeout(3, 0);
    plain.set_read_timeout(6, 0);
    const auto res = plain.Post("/mutate", review_of("plain"), "application/json");
    if (res) CHECK_MESSAGE(res->status >= 400, res->status);
  }
  SUBCASE("a client that connects and says nothing") {
    // Held by the server at most its read timeout; meanwhile others are served.
    std::thread idle([&] {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<std::uint16_t>(w.port));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      (void)::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      std::this_thread::sleep_for(1500ms);
      ::close(fd);
    });
    std::this_thread::sleep_for(200ms);
    w.check_review("while-one-is-silent");
    idle.join();
  }
  w.check_review("next");
  w.stop_with_sigterm();
}

TEST_CASE("SIGTERM with an idle kept-alive connection still ends it promptly with 0") {
  Webhook w;
  auto c = w.client();
  c->set_keep_alive(true);
  const auto res = c->Post("/mutate", review_of("kept"), "application/json");
  REQUIRE(res);
  const auto start = std::chrono::steady_clock::now();
  w.stop_with_sigterm();
  CHECK(std::chrono::steady_clock::now() - start < 8s);
  CHECK(read_file(w.log_file).find("stopped") != std::string::npos);
}

TEST_CASE("--shutdown-delay: after SIGTERM it answers reviews for that long, then exits 0") {
  Webhook w({"--shutdown-delay", "2s"});
  w.check_review("before");
  const auto start = std::chrono::steady_clock::now();
  w.child.kill(SIGTERM);
  std::this_thread::sleep_for(500ms);  // the API server has not yet heard that the pod is going
  w.check_review("after-sigterm");
  const auto status = w.child.wait(15s);
  CHECK(exited_ok(status));
  CHECK(std::chrono::steady_clock::now() - start >= 2s);
  CHECK(read_file(w.log_file).find("answering for 2000 ms more (--shutdown-delay)") != std::string::npos);
}

TEST_CASE("without a usable certificate it does not start, and says which file") {
  TempDir root("shmlog-webhook");
  const Pem ca = make_ca("shmlog test CA");
  const Pem a = make_server_cert(ca, "a", 1), b = make_server_cert(ca, "b", 2);
  write_file(root.file("a.crt"), a.cert);
  write_file(root.file("b.key"), b.key);
  write_file(root.file("junk"), "not PEM\n");
  struct Case {
    std::string cert, key, says;
  };
  for (const Case& k : {Case{root.file("missing.crt"), root.file("b.key"), "missing.crt"},
                        Case{root.file("junk"), root.file("b.key"), "holds no PEM certificate"},
                        Case{root.file("a.crt"), root.file("junk"), "holds no PEM private key"},
                        Case{root.file("a.crt"), root.file("b.key"), "is not the key of the certificate"}}) {
    CAPTURE(k.says);
    const CommandRun run =
        run_command(quoted(SHMLOG_CLI_PATH) + " webhook --listen 127.0.0.1:0 --tls-cert-file " +
                        quoted(k.cert) + " --tls-key-file " + quoted(k.key),
                    root);
    CHECK(run.status == 2);
    CHECK_MESSAGE(run.err.find(k.says) != std::string::npos, run.err);
  }
  const CommandRun bad_listen = run_command(
      quoted(SHMLOG_CLI_PATH) + " webhook --listen nowhere --tls-cert-file x --tls-key-file y", root);
  CHECK(bad_listen.status == 2);
  CHECK_MESSAGE(bad_listen.err.find("--listen") != std::string::npos, bad_listen.err);
}
