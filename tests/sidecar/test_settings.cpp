// The sidecar's settings: one table, flags over environment over config file over defaults, and
// every bad value named with what is allowed.
#include "settings/sidecar_settings.hpp"
#include "support/test_dir.hpp"

#include <set>

#include <doctest/doctest.h>

using namespace shmlog;
using namespace shmlog::sidecar;
using Map = std::map<std::string, std::string>;

TEST_CASE("no settings at all gives working defaults") {
  auto s = resolve_settings({}, {}, {});
  REQUIRE(s);
  CHECK(s->dir == "/var/run/shmlog");
  CHECK(s->out == "/var/log/shmlog");
  CHECK(s->file.dir == "/var/log/shmlog");
  CHECK(s->file.max_bytes == 100ull << 20);
  CHECK(s->file.max_backups == 5);
  CHECK(s->file.time_rotation == TimeRotation::none);
  CHECK_FALSE(s->file.compress);
  CHECK(s->file.fsync == FsyncPolicy::none);
}

TEST_CASE("a flag beats its environment twin, which beats the config file") {
  const Map file = {{"out", "/from/file"}, {"rotate-keep", "7"}, {"compress", "true"}};
  const Map env = {{"SHMLOG_OUT", "/from/env"}, {"SHMLOG_ROTATE_KEEP", "8"}};
  const Map flags = {{"out", "/from/flag"}};
  auto s = resolve_settings(flags, file, env);
  REQUIRE(s);
  CHECK(s->out == "/from/flag");
  CHECK(s->file.dir == "/from/flag");
  CHECK(s->file.max_backups == 8);
  CHECK(s->file.compress);
}

TEST_CASE("each setting parses what it allows") {
  auto s = resolve_settings({{"rotate-bytes", "10MiB"},
                             {"rotate-every", "hourly"},
                             {"retention", "7d"},
                             {"fsync", "250ms"},
                             {"shutdown-deadline", "5s"},
                             {"redact-keys", "ssn, card_number,"},
                             {"max-message-bytes", "1024"}},
                            {}, {});
  REQUIRE(s);
  CHECK(s->file.max_bytes == 10u << 20);
  CHECK(s->file.time_rotation == TimeRotation::hourly);
  CHECK(s->file.max_age == std::chrono::hours(24 * 7));
  CHECK(s->file.fsync == FsyncPolicy::interval);
  CHECK(s->file.fsync_interval == std::chrono::milliseconds(250));
  CHECK(s->shutdown_deadline == std::chrono::seconds(5));
  CHECK(s->redact_keys == std::vector<std::string>{"ssn", "card_number"});
  CHECK(s->max_message_bytes == 1024);
  CHECK(resolve_settings({{"fsync", "always"}}, {}, {})->file.fsync == FsyncPolicy::always);
  auto sampled = resolve_settings({{"sample", "debug=0.1, trace=0.01"}, {"rate-limit", "500"}}, {}, {});
  REQUIRE(sampled);
  CHECK(sampled->admission.keep_one_in[static_cast<std::size_t>(Level::debug)] == 10);
  CHECK(sampled->admission.keep_one_in[static_cast<std::size_t>(Level::trace)] == 100);
  CHECK(sampled->admission.keep_one_in[static_cast<std::size_t>(Level::info)] == 1);
  CHECK(sampled->admission.rate_limit == 500);
  CHECK_FALSE(resolve_settings({{"sample", "error=0.5"}}, {}, {}));  // ERROR is never sampled
  CHECK_FALSE(resolve_settings({{"sample", "debug=2"}}, {}, {}));
  CHECK_FALSE(resolve_settings({{"sample", "debug"}}, {}, {}));
  CHECK_FALSE(resolve_settings({{"sample", "loud=0.5"}}, {}, {}));
}

TEST_CASE("a bad value names the setting, the value and what is allowed") {
  auto flag = resolve_settings({{"rotate-bytes", "lots"}}, {}, {});
  REQUIRE_FALSE(flag);
  CHECK(flag.error().message ==
        "--rotate-bytes=\"lots\" is not valid: expected 64KiB to 1TiB, e.g. 100MiB, 1G");
  auto env = resolve_settings({}, {}, {{"SHMLOG_ROTATE_EVERY", "weekly"}});
  REQUIRE_FALSE(env);
  CHECK(env.error().message ==
        "SHMLOG_ROTATE_EVERY=\"weekly\" is not valid: expected never, hourly or daily");
  auto file = resolve_settings({}, {{"compress", "yes"}}, {});
  REQUIRE_FALSE(file);
  CHECK(file.error().message == "compress (config file)=\"yes\" is not valid: expected true or false");
  CHECK_FALSE(resolve_settings({{"rotate-keep", "-1"}}, {}, {}));
  CHECK_FALSE(resolve_settings({{"shutdown-deadline", "0"}}, {}, {}));
  CHECK_FALSE(resolve_settings({{"dir", ""}}, {}, {}));
}

TEST_CASE("the config file is YAML; unknown keys and bad YAML are errors") {
  test::TempDir dir("shmlog-settings");
  const std::string good = dir.file("good.yaml");
  test::write_file(good, "# sidecar\nout: /logs\nrotate-keep: 3\nredact-keys:\n  - ssn\n  - pin\n");
  auto map = read_config_file(good);
  REQUIRE(map);
  CHECK(map->at("out") == "/logs");
  CHECK(map->at("rotate-keep") == "3");
  CHECK(map->at("redact-keys") == "ssn,pin");
  const std::string unknown = dir.file("unknown.yaml");
  test::write_file(unknown, "outt: /logs\n");
  auto u = read_config_file(unknown);
  REQUIRE_FALSE(u);
  CHECK(u.error().message.find("unknown setting \"outt\"") != std::string::npos);
  const std::string broken = dir.file("broken.yaml");
  test::write_file(broken, "out: [unclosed\n");
  auto b = read_config_file(broken);
  REQUIRE_FALSE(b);
  CHECK(b.error().message.find("not valid YAML") != std::string::npos);
  CHECK_FALSE(read_config_file(dir.file("missing.yaml")));
  const std::string empty = dir.file("empty.yaml");
  test::write_file(empty, "");
  CHECK(read_config_file(empty)->empty());
}

TEST_CASE("every setting has a flag, an SHMLOG_ twin, a default and help") {
  std::set<std::string_view> flags, envs;
  for (const auto& s : sidecar_settings()) {
    CHECK(s.env.starts_with("SHMLOG_"));
    CHECK_FALSE(s.help.empty());
    CHECK_FALSE(s.allowed.empty());
    CHECK(flags.insert(s.flag).second);
    CHECK(envs.insert(s.env).second);
  }
}

TEST_CASE("Loki settings: off without a URL, labels checked, ids never labels") {
  auto s = resolve_settings({}, {}, {});
  REQUIRE(s);
  CHECK(s->loki.url.empty());
  CHECK(s->loki.batch_bytes == 1u << 20);
  CHECK(s->loki.batch_wait == std::chrono::seconds(1));
  CHECK(s->loki.backoff_max == std::chrono::minutes(5));
  auto t = resolve_settings({{"loki-url", "https://loki:3100"},
                             {"loki-labels", "job=api, cluster=eu-1"},
                             {"loki-label-fields", "level,service"},
                             {"loki-backoff-max", "2m"},
                             {"loki-line-format", "message"}},
                            {}, {{"SHMLOG_LOKI_TENANT", "team-a"}});
  REQUIRE(t);
  CHECK(t->loki.url == "https://loki:3100");
  CHECK(t->loki.tenant == "team-a");
  REQUIRE(t->loki.static_labels.size() == 2);
  CHECK(t->loki.static_labels[1] == std::pair<std::string, std::string>{"cluster", "eu-1"});
  CHECK(t->loki.label_fields == std::vector<std::string>{"level", "service"});
  CHECK(t->loki.backoff_max == std::chrono::minutes(2));
  CHECK(t->loki.line_format == loki::LineFormat::message);
  for (const auto& [flag, value] :
       std::vector<std::pair<std::string, std::string>>{{"loki-url", "loki:3100"},
                                                        {"loki-labels", "__name__=x"},
                                                        {"loki-labels", "9job=x"},
                                                        {"loki-labels", "job="},
                                                        {"loki-label-fields", "service,trace_id"},
                                                        {"loki-label-fields", "id"},
                                                        {"loki-batch-bytes", "100"},
                                                        {"loki-line-format", "text"}}) {
    auto bad = resolve_settings({{flag, value}}, {}, {});
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message.find("--" + flag) != std::string::npos);
    CHECK(bad.error().message.find(value) != std::string::npos);
  }
  auto none = resolve_settings({{"loki-label-fields", "none"}}, {}, {});
  REQUIRE(none);
  CHECK(none->loki.label_fields.empty());
}

TEST_CASE("the status endpoint: loopback by default, the pod network only with an opt-in and a token") {
  auto s = resolve_settings({}, {}, {});
  REQUIRE(s);
  CHECK(s->http.enabled);
  CHECK(s->http.host == "127.0.0.1");
  CHECK(s->http.port == 9880);
  auto v6 = resolve_settings({{"http-addr", "[::1]:0"}}, {}, {});
  REQUIRE(v6);
  CHECK(v6->http.host == "::1");
  CHECK(v6->http.port == 0);
  auto off = resolve_settings({}, {}, {{"SHMLOG_HTTP_ADDR", "off"}});
  REQUIRE(off);
  CHECK_FALSE(off->http.enabled);
  for (const char* bad : {"9880", "127.0.0.1", "127.0.0.1:99999", "127.0.0.1:x", ":80", "[::1]80", "a:b:c"}) {
    auto r = resolve_settings({{"http-addr", bad}}, {}, {});
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("--http-addr") != std::string::npos);
  }
  auto remote = resolve_settings({{"http-addr", "0.0.0.0:9880"}}, {}, {});
  REQUIRE_FALSE(remote);
  CHECK(remote.error().message.find("--http-allow-remote") != std::string::npos);
  auto no_token = resolve_settings({{"http-addr", "0.0.0.0:9880"}, {"http-allow-remote", "true"}}, {}, {});
  REQUIRE_FALSE(no_token);
  CHECK(no_token.error().message.find("--http-token-file") != std::string::npos);
  auto pod = resolve_settings({{"http-addr", "0.0.0.0:9880"},
                               {"http-allow-remote", "true"},
                               {"http-token-file", "/etc/shmlog/token"}},
                              {}, {});
  REQUIRE(pod);
  CHECK(pod->http.allow_remote);
}

TEST_CASE("the effective settings are listed for /status, a URL's password masked") {
  auto s = resolve_settings({{"loki-url", "https://user:pw@loki:3100/x"}}, {}, {});
  REQUIRE(s);
  std::map<std::string, std::string> eff(s->effective.begin(), s->effective.end());
  CHECK(eff.size() == sidecar_settings().size());
  CHECK(eff["loki-url"] == "https://user:***@loki:3100/x");
  CHECK(eff["dir"] == "/var/run/shmlog");
  CHECK(eff["http-addr"] == "127.0.0.1:9880");
}
