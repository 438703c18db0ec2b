// `shmlog inject` against the golden files, which are the specification of what an injection
// adds: for each golden/<case>.in.{yaml,json} (flags in <case>.args)
//   - the real program's stdout is byte for byte <case>.out.{yaml,json}, its stderr <case>.err;
//   - injecting that output again changes nothing (every object says "already injected");
//   - the JSONPatch plan_injection gives the webhook, applied to the input by the small RFC 6902
//     "add" below (not the engine's apply_patch), gives the golden object.
// SHMLOG_UPDATE_GOLDEN=1 rewrites the .out and .err files from the program's output instead of
// comparing; read the diff before committing it: these files are the spec.
#include "cli/inject_options.hpp"
#include "inject/injector.hpp"
#include "inject/manifest_io.hpp"
#include "support/test_dir.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

using namespace shmlog;
namespace fs = std::filesystem;

namespace {

struct GoldenCase {
  std::string name;   // "deployment"
  std::string input;  // the .in file's path
  std::string output;
  std::string report;  // the .err file
  std::string args;    // extra flags, "" for none
};

std::vector<GoldenCase> golden_cases() {
  std::vector<GoldenCase> cases;
  for (const auto& entry : fs::directory_iterator(SHMLOG_GOLDEN_DIR)) {
    const std::string file = entry.path().filename().string();
    for (const std::string ext : {".yaml", ".json"}) {
      const std::string suffix = ".in" + ext;
      if (!file.ends_with(suffix)) continue;
      GoldenCase c;
      c.name = file.substr(0, file.size() - suffix.size());
      const std::string base = std::string(SHMLOG_GOLDEN_DIR) + "/" + c.name;
      c.input = entry.path().string();
      c.output = base + ".out" + ext;
      c.report = base + ".err";
      if (fs::exists(base + ".args")) {
        c.args = test::read_file(base + ".args");
        while (!c.args.empty() && c.args.back() == '\n') c.args.pop_back();
      }
      cases.push_back(c);
    }
  }
  std::sort(cases.begin(), cases.end(), [](const auto& a, const auto& b) { return a.input < b.input; });
  return cases;
}

bool updating() {
  const char* update = std::getenv("SHMLOG_UPDATE_GOLDEN");
  return update != nullptr && std::string(update) == "1";
}

test::CommandRun run_inject(const std::string& args, const std::string& file, const test::TempDir& scratch) {
  return test::run_command(test::quoted(SHMLOG_CLI_PATH) + " inject " + args + " " + test::quoted(file),
                           scratch);
}

std::string json_text(const rapidjson::Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return buffer.GetString();
}

// RFC 6902 "add", written for this test from the RFC alone: the parent must exist; on a map the
// member is added or replaced, on a list "-" appends and an index up to the size inserts.
void rfc6902_add(rapidjson::Document& doc, const std::string& path, const rapidjson::Value& value) {
  INFO("patch path " << path);
  const auto slash = path.rfind('/');
  REQUIRE(slash != std::string::npos);
  rapidjson::Pointer parent_pointer(path.substr(0, slash).c_str());
  REQUIRE(parent_pointer.IsValid());
  rapidjson::Value* parent = parent_pointer.Get(doc);
  REQUIRE(parent != nullptr);
  std::string token;
  for (std::size_t i = slash + 1; i < path.size(); ++i) {
    if (path[i] == '~' && i + 1 < path.size())
      token += path[++i] == '1' ? '/' : '~';
    else
      token += path[i];
  }
  rapidjson::Value copy(value, doc.GetAllocator());
  if (parent->IsObject()) {
    parent->RemoveMember(token.c_str());
    parent->AddMember(rapidjson::Value(token.c_str(), doc.GetAllocator()), copy, doc.GetAllocator());
  } else {
    REQUIRE(parent->IsArray());
    if (token == "-") {
      parent->PushBack(copy, doc.GetAllocator());
      return;
    }
    const auto index = static_cast<rapidjson::SizeType>(std::stoul(token));
    REQUIRE(index <= parent->Size());
    rapidjson::Value rebuilt(rapidjson::kArrayType);
    for (rapidjson::SizeType k = 0; k < parent->Size(); ++k) {
      if (k == index) rebuilt.PushBack(rapidjson::Value(copy, doc.GetAllocator()), doc.GetAllocator());
      rebuilt.PushBack((*parent)[k], doc.GetAllocator());
    }
    if (index == parent->Size()) rebuilt.PushBack(copy, doc.GetAllocator());
    *parent = std::move(rebuilt);
  }
}

// The webhook's view of one object: plan_injection's JSONPatch text applied to a copy of `in`
// must be `expected` (compared as JSON: member order aside, equal values).
void check_patch(const rapidjson::Value& in, const rapidjson::Value& expected,
                 const inject::InjectOptions& options) {
  if (inject::is_list(in)) {
    REQUIRE(inject::is_list(expected));
    REQUIRE(in["items"].Size() == expected["items"].Size());
    for (rapidjson::SizeType i = 0; i < in["items"].Size(); ++i)
      check_patch(in["items"][i], expected["items"][i], options);
    return;
  }
  const inject::Plan plan = inject::plan_injection(in, options);
  INFO(plan.kind << "/" << plan.name << ": " << plan.reason);
  REQUIRE(plan.verdict != inject::Plan::Verdict::error);
  rapidjson::Document patched;
  patched.CopyFrom(in, patched.GetAllocator());
  rapidjson::Document patch;
  patch.Parse(inject::json_patch_text(plan.ops).c_str());
  REQUIRE_FALSE(patch.HasParseError());
  REQUIRE(patch.IsArray());
  CHECK(patch.Empty() == (plan.verdict != inject::Plan::Verdict::inject));
  for (const auto& op : patch.GetArray()) {
    REQUIRE(std::string(op["op"].GetString()) == "add");
    rfc6902_add(patched, op["path"].GetString(), op["value"]);
  }
  INFO("patched: " << json_text(patched));
  INFO("golden:  " << json_text(expected));
  CHECK(patched == expected);
}

inject::InjectOptions options_from(const std::string& args) {
  inject::InjectOptions options;
  CLI::App app;
  cli::add_inject_options(app, options);
  app.parse(args, false);
  return options;
}

}  // namespace

TEST_CASE("shmlog inject writes each golden input's golden output and report") {
  test::TempDir scratch("shmlog-inject");
  const auto cases = golden_cases();
  REQUIRE(cases.size() >= 15);
  for (const GoldenCase& c : cases) {
    INFO("case " << c.name << " (" << c.input << (c.args.empty() ? "" : ", " + c.args) << ")");
    const auto run = run_inject(c.args, c.input, scratch);
    INFO("stderr: " << run.err);
    REQUIRE(run.status == 0);
    if (updating()) {
      test::write_file(c.output, run.out);
      test::write_file(c.report, run.err);
      continue;
    }
    CHECK(run.out == test::read_file(c.output));
    CHECK(run.err == test::read_file(c.report));
  }
}

TEST_CASE("injecting an injected output changes nothing") {
  test::TempDir scratch("shmlog-inject");
  for (const GoldenCase& c : golden_cases()) {
    INFO("case " << c.name);
    const auto run = run_inject(c.args, c.output, scratch);
    INFO("stderr: " << run.err);
    REQUIRE(run.status == 0);
    CHECK(run.out == test::read_file(c.output));
    CHECK(run.err.find("injected ") == std::string::npos);
    // And without the flags: the status annotation, not the options, decides.
    CHECK(run_inject("", c.output, scratch).out == test::read_file(c.output));
  }
}

TEST_CASE("the webhook's patch applied to each golden input gives the golden output") {
  for (const GoldenCase& c : golden_cases()) {
    INFO("case " << c.name);
    auto in = inject::read_manifest(c.input);
    auto out = inject::read_manifest(c.output);
    REQUIRE(in.ok());
    REQUIRE(out.ok());
    REQUIRE(in->documents.size() == out->documents.size());
    const auto options = options_from(c.args);
    for (std::size_t i = 0; i < in->documents.size(); ++i)
      check_patch(in->documents[i], out->documents[i], options);
  }
}

TEST_CASE("the golden cases cover every injected kind, Lists, streams, JSON and the modes") {
  std::string all_inputs, all_outputs;
  for (const GoldenCase& c : golden_cases()) {
    all_inputs += test::read_file(c.input);
    all_outputs += test::read_file(c.output);
  }
  for (const char* kind :
       {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "List"}) {
    INFO(kind);
    CHECK((all_inputs.find(std::string("kind: ") + kind + "\n") != std::string::npos ||
           all_inputs.find(std::string("\"kind\": \"") + kind + "\"") != std::string::npos));
  }
  CHECK(all_outputs.find("\"mode\":\"legacy\"") != std::string::npos);
  CHECK(all_outputs.find("SHMLOG_EXIT_WITH_APPS") != std::string::npos);
  CHECK(all_outputs.find("\\\"mode\\\":\\\"native\\\"") != std::string::npos);  // a JSON output
}

TEST_CASE("the patch adds whole lists where missing, appends where present, escapes annotation keys") {
  const auto patch_of = [](const std::string& golden_input, const std::string& args = "") {
    auto in = inject::read_manifest(std::string(SHMLOG_GOLDEN_DIR) + "/" + golden_input);
    REQUIRE(in.ok());
    const auto plan = inject::plan_injection(in->documents.at(0), options_from(args));
    REQUIRE(plan.verdict == inject::Plan::Verdict::inject);
    return inject::json_patch_text(plan.ops);
  };
  const auto has = [](const std::string& patch, const std::string& path) {
    INFO(patch);
    return patch.find("\"path\":\"" + path + "\"") != std::string::npos;
  };
  // The Deployment has annotations and no volumes: one key added, one whole list.
  const std::string deployment = patch_of("deployment.in.yaml");
  CHECK(has(deployment, "/spec/template/metadata/annotations/shmlog.io~1status"));
  CHECK(has(deployment, "/spec/template/spec/volumes"));
  CHECK(has(deployment, "/spec/template/spec/initContainers"));
  CHECK(has(deployment, "/spec/template/spec/containers/1/env"));
  // The DaemonSet has an init container: the sidecar goes in front of it.
  CHECK(has(patch_of("daemonset.in.yaml"), "/spec/template/spec/initContainers/0"));
  CHECK(has(patch_of("daemonset.in.yaml"), "/spec/template/spec/securityContext/fsGroup"));
  // The Pod keeps its env and volumes and gets appends.
  const std::string pod = patch_of("existing-env.in.yaml");
  CHECK(has(pod, "/spec/containers/0/env/-"));
  CHECK(has(pod, "/spec/containers/0/volumeMounts/-"));
  CHECK(has(pod, "/spec/volumes/-"));
  // Four of the six variables: POD_NAME and SHMLOG_RING_BYTES are the app's own and kept.
  std::size_t appended = 0;
  for (auto at = pod.find("/spec/containers/0/env/-"); at != std::string::npos;
       at = pod.find("/spec/containers/0/env/-", at + 1))
    ++appended;
  CHECK(appended == 4);
  // Legacy: the sidecar is appended to the containers.
  CHECK(has(patch_of("job-legacy.in.yaml", "--legacy"), "/spec/template/spec/containers/-"));
  CHECK(has(patch_of("cronjob.in.yaml"), "/spec/jobTemplate/spec/template/metadata/annotations"));
}
