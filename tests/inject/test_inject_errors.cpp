// `shmlog inject` on input it must refuse: the message says what and where, the exit status says
// how bad (1: an object is wrong, 2: the input cannot be read or parsed), and stdout stays empty
// so `shmlog inject ... | kubectl apply -f -` applies nothing rather than half.
// Also the ways input arrives: stdin, directories (-R), --output.
#include "support/test_dir.hpp"

#include <filesystem>
#include <string>

#include <doctest/doctest.h>
#include <rapidjson/document.h>

using namespace shmlog;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

struct Inject {
  test::TempDir dir{"shmlog-inject-errors"};

  std::string file(const std::string& name, const std::string& content) const {
    const std::string path = dir.file(name);
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    test::write_file(path, content);
    return path;
  }
  test::CommandRun run(const std::string& args) const {
    return test::run_command(test::quoted(SHMLOG_CLI_PATH) + " inject " + args, dir);
  }
  // A single-document file `name` with `content`, injected.
  test::CommandRun on(const std::string& name, const std::string& content) const {
    return run(test::quoted(file(name, content)));
  }
};

const std::string kPod =
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: ok\nspec:\n  containers:\n  - name: app\n    image: x\n";

std::string deployment(const std::string& name, const std::string& api,
                       const std::string& template_annotations, const std::string& pod_spec) {
  return "apiVersion: " + api + "\nkind: Deployment\nmetadata:\n  name: " + name +
         "\nspec:\n  selector:\n    matchLabels:\n      app: x\n  template:\n    metadata:\n      labels:\n"
         "        app: x\n" +
         (template_annotations.empty() ? "" : "      annotations:\n" + template_annotations) + "    spec:\n" +
         pod_spec;
}

const std::string kOneContainer = "      containers:\n      - name: app\n        image: x\n";

}  // namespace

TEST_CASE("invalid YAML or JSON: exit 2, the file, line and column, nothing on stdout") {
  Inject inject;
  auto yaml = inject.on("broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [a, b\n  labels: {}\n");
  CHECK(yaml.status == 2);
  CHECK(yaml.out.empty());
  CHECK(contains(yaml.err, "broken.yaml:"));
  CHECK(contains(yaml.err, "invalid YAML"));
  auto json = inject.on("broken.json", "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Pod\",\n}\n");
  CHECK(json.status == 2);
  CHECK(json.out.empty());
  CHECK(contains(json.err, "broken.json:4:1: invalid JSON"));
}

TEST_CASE("a file that does not exist: exit 2, nothing read, nothing written") {
  Inject inject;
  auto run = inject.run(test::quoted(inject.file("good.yaml", kPod)) + " " +
                        test::quoted(inject.dir.file("missing.yaml")));
  CHECK(run.status == 2);
  CHECK(run.out.empty());
  CHECK(contains(run.err, "cannot read " + inject.dir.file("missing.yaml") + ": No such file or directory"));
  CHECK_FALSE(contains(run.err, "injected"));
}

TEST_CASE("objects that cannot be injected: exit 1, the object and the reason, nothing on stdout") {
  Inject inject;
  struct Bad {
    const char* what;
    std::string yaml;
    std::string message;
  };
  const Bad cases[] = {
      {"no containers", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: empty\nspec:\n  containers: []\n",
       "error Pod/empty: no containers (spec.containers)"},
      {"no spec", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bare\n", "error Pod/bare: spec is missing"},
      {"unknown apiVersion", deployment("old", "apps/v1beta2", "", kOneContainer),
       "error Deployment/old: unknown apiVersion apps/v1beta2 for Deployment; known: apps/v1"},
      {"hostNetwork", deployment("net", "apps/v1", "", "      hostNetwork: true\n" + kOneContainer),
       "error Deployment/net: spec.template.spec.hostNetwork is true: the sidecar's 127.0.0.1:9880 would be "
       "the "
       "node's port"},
      {"containers not a list", deployment("shape", "apps/v1", "", "      containers:\n        app: {}\n"),
       "error Deployment/shape: spec.template.spec.containers is not a list (it is a map)"},
      {"a bad ring size",
       deployment("ring", "apps/v1", "        shmlog.io/ring-bytes: lots\n", kOneContainer),
       "error Deployment/ring: annotation shmlog.io/ring-bytes: \"lots\" is not a ring size"},
      {"a bad quantity",
       deployment("cpu", "apps/v1", "        shmlog.io/cpu-request: a lot\n", kOneContainer),
       "error Deployment/cpu: annotation shmlog.io/cpu-request: \"a lot\" is not a Kubernetes quantity"},
      {"a bad mode", deployment("mode", "apps/v1", "        shmlog.io/mode: sidecar\n", kOneContainer),
       "error Deployment/mode: annotation shmlog.io/mode: \"sidecar\" is not a mode (native or legacy)"},
      {"an unknown app container",
       deployment("pick", "apps/v1", "        shmlog.io/containers: app, db\n", kOneContainer),
       "error Deployment/pick: annotation shmlog.io/containers: no container named \"db\" (containers: app)"},
      {"an unquoted opt-out",
       deployment("unquoted", "apps/v1", "        shmlog.io/inject: false\n", kOneContainer),
       "error Deployment/unquoted: annotation shmlog.io/inject is a boolean, not a string"},
      {"our container name taken",
       deployment("taken", "apps/v1", "", kOneContainer + "      - name: shmlog\n        image: y\n"),
       "error Deployment/taken: a container named shmlog is already there, without the shmlog.io/status "
       "annotation"},
      {"our volume name taken",
       deployment("vol", "apps/v1", "",
                  kOneContainer + "      volumes:\n      - name: shmlog-rings\n        emptyDir: {}\n"),
       "error Deployment/vol: a volume named shmlog-rings is already there"},
      {"a request above the limit",
       deployment("big", "apps/v1", "        shmlog.io/memory-request: 256Mi\n", kOneContainer),
       "error Deployment/big: the sidecar's memory request 256Mi is more than its limit 128Mi"},
      {"a CPU limit below the request",
       deployment("slow", "apps/v1", "        shmlog.io/cpu-limit: 10m\n", kOneContainer),
       "error Deployment/slow: the sidecar's cpu request 50m is more than its limit 10m"},
      {"the rings' path taken",
       deployment("path", "apps/v1", "",
                  "      containers:\n      - name: app\n        image: x\n        volumeMounts:\n        - "
                  "name: v\n"
                  "          mountPath: /var/run/shmlog\n"),
       "error Deployment/path: container app already mounts something at /var/run/shmlog"},
      {"not an object", "just a string\n", "error "},
  };
  for (const Bad& bad : cases) {
    INFO(bad.what);
    auto run = inject.on("bad.yaml", bad.yaml);
    INFO("stderr: " << run.err);
    CHECK(run.status == 1);
    CHECK(run.out.empty());
    CHECK(contains(run.err, bad.message));
  }
}

TEST_CASE("one bad object among good ones: the good ones are reported, nothing is written") {
  Inject inject;
  auto run = inject.on("mixed.yaml", deployment("good", "apps/v1", "", kOneContainer) +
                                         "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n"
                                         "  hostNetwork: true\n  containers:\n  - name: app\n    image: x\n");
  CHECK(run.status == 1);
  CHECK(run.out.empty());
  CHECK(contains(run.err, "injected Deployment/good (native; apps: app)\n"));
  CHECK(contains(run.err, "error Pod/bad: spec.hostNetwork is true"));
  CHECK(contains(run.err, "nothing written"));
}

TEST_CASE("a bad flag value is a usage error naming the flag") {
  Inject inject;
  const std::string pod = test::quoted(inject.file("pod.yaml", kPod));
  for (const std::string flags :
       {"--ring-bytes lots", "--cpu-request much", "--loki-url loki:3100", "--output xml"}) {
    INFO(flags);
    auto run = inject.run(flags + " " + pod);
    CHECK(run.status != 0);
    CHECK(run.out.empty());
    CHECK(contains(run.err, flags.substr(0, flags.find(' '))));
  }
}

TEST_CASE("stdin, '-', directories with and without -R, and --output") {
  Inject inject;
  const std::string pod = inject.file("in/a-pod.yaml", kPod);
  inject.file("in/b-pod.json", R"({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "json"},
                                  "spec": {"containers": [{"name": "app", "image": "x"}]}})");
  inject.file("in/notes.txt", "not a manifest");
  inject.file("in/sub/c-pod.yml",
              "apiVersion: v1\nkind: Pod\nmetadata:\n  name: deep\nspec:\n  containers:\n"
              "  - name: app\n    image: x\n");
  const auto from_file = inject.run(test::quoted(pod));
  REQUIRE(from_file.status == 0);
  CHECK(inject.run("< " + test::quoted(pod)).out == from_file.out);
  CHECK(inject.run("- < " + test::quoted(pod)).out == from_file.out);

  const auto flat = inject.run(test::quoted(inject.dir.file("in")));
  CHECK(flat.status == 0);
  CHECK(flat.err == "injected Pod/ok (native; apps: app)\ninjected Pod/json (native; apps: app)\n");
  CHECK(contains(flat.out, "\n---\n"));  // mixed YAML and JSON input: one YAML stream

  const auto deep = inject.run("-R " + test::quoted(inject.dir.file("in")));
  CHECK(deep.status == 0);
  CHECK(deep.err ==
        "injected Pod/ok (native; apps: app)\ninjected Pod/json (native; apps: app)\ninjected Pod/deep "
        "(native; apps: app)\n");

  const auto json = inject.run("--output json " + test::quoted(pod));
  CHECK(json.status == 0);
  rapidjson::Document doc;
  doc.Parse(json.out.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  CHECK(doc["spec"]["initContainers"][0]["name"] == "shmlog");
}

TEST_CASE("--help says what is injected, that comments are not kept, and the exit statuses") {
  Inject inject;
  const auto help = inject.run("--help");
  CHECK(help.status == 0);
  CHECK(contains(help.out, "comments are not kept"));
  CHECK(contains(help.out, "--legacy"));
  CHECK(contains(help.out, "Exit status: 0"));
}
