// `shmlog webhook`'s answers, in-process: every AdmissionReview gets its uid back and is allowed;
// a pod's patch, decoded and applied as the API server would, gives what `shmlog inject` gives;
// whatever goes wrong lets the pod through unchanged with a warning (fail-open); only a body that
// is no AdmissionReview v1 is refused.
#include "cli/inject_options.hpp"
#include "inject/injector.hpp"
#include "inject/manifest_io.hpp"
#include "support/test_dir.hpp"
#include "webhook/admission_review.hpp"
#include "webhook/json_patch_check.hpp"

#include <filesystem>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <rapidjson/document.h>

using namespace shmlog;

namespace {

constexpr const char* kPod = R"({"apiVersion":"v1","kind":"Pod",
  "metadata":{"name":"web-0","labels":{"app":"web"}},
  "spec":{"containers":[{"name":"app","image":"registry.example/app:1.2"}]}})";

std::string review_of(const std::string& object,
                      const std::string& uid = "705ab4f5-6393-11e8-b7cc-42010a800002",
                      const std::string& kind = R"({"group":"","version":"v1","kind":"Pod"})",
                      const std::string& extra = R"(,"operation":"CREATE","namespace":"shop")") {
  return R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":")" + uid +
         R"(","kind":)" + kind + extra + (object.empty() ? "" : ",\"object\":" + object) + "}}";
}

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  REQUIRE_MESSAGE(!d.HasParseError(), "not JSON: " << text);
  return d;
}

struct Answered {
  webhook::AdmissionAnswer answer;
  rapidjson::Document body;
  const rapidjson::Value& response() const { return body["response"]; }
  bool has_patch() const { return response().HasMember("patch") || response().HasMember("patchType"); }
  // No assertion in here: it is called inside the messages of CHECK_MESSAGE, and doctest's
  // reporter does not take an assertion while it writes one.
  std::string warning() const {
    if (!response().HasMember("warnings")) return {};
    const auto& w = response()["warnings"];
    if (!w.IsArray() || w.Size() != 1 || !w[0].IsString())
      return "(warnings is not one string: " + test::json_text(w) + ")";
    return w[0].GetString();
  }
};

Answered answer(const std::string& review, const inject::InjectOptions& options = {}) {
  auto a = webhook::answer_admission_review(review, options);
  REQUIRE_MESSAGE(a.ok(), (a ? std::string() : a.error().message));
  Answered out{a.value(), parse(a->body)};
  CHECK(std::string(out.body["apiVersion"].GetString()) == "admission.k8s.io/v1");
  CHECK(std::string(out.body["kind"].GetString()) == "AdmissionReview");
  CHECK(out.response()["allowed"].IsTrue());  // whatever happens
  return out;
}

// The pod as the API server has it after applying the webhook's patch.
rapidjson::Document patched_by_webhook(const std::string& pod, const Answered& a) {
  REQUIRE(std::string(a.response()["patchType"].GetString()) == "JSONPatch");
  bool ok = false;
  const std::string patch_text = test::base64_decode(a.response()["patch"].GetString(), ok);
  REQUIRE_MESSAGE(ok, "the patch is not base64");
  rapidjson::Document patch = parse(patch_text);
  rapidjson::Document doc = parse(pod);
  const std::string problem = test::apply_json_patch(doc, patch);
  REQUIRE_MESSAGE(problem.empty(), problem);
  return doc;
}

// The pod as `shmlog inject` makes it: the same engine, its own apply.
rapidjson::Document injected_by_engine(const std::string& pod, const inject::InjectOptions& options = {}) {
  rapidjson::Document doc = parse(pod);
  const inject::Plan plan = inject::plan_injection(doc, options);
  REQUIRE_MESSAGE(plan.verdict == inject::Plan::Verdict::inject, plan.reason);
  const Status st = inject::apply_patch(doc, plan.ops, doc.GetAllocator());
  REQUIRE_MESSAGE(st.ok(), (st ? std::string() : st.error().message));
  return doc;
}

rapidjson::Document check_same_as_inject(const std::string& pod, const inject::InjectOptions& options = {}) {
  const Answered a = answer(review_of(pod), options);
  CHECK_MESSAGE(a.answer.verdict.starts_with("injected"), a.answer.verdict);
  rapidjson::Document by_webhook = patched_by_webhook(pod, a);
  const rapidjson::Document by_engine = injected_by_engine(pod, options);
  CHECK_MESSAGE(by_webhook == by_engine,
                "webhook: " << test::json_text(by_webhook) << "\ninject:  " << test::json_text(by_engine));
  // Sent again (a retried request, a re-created pod object): nothing more is added.
  const Answered again = answer(review_of(test::json_text(by_webhook)), options);
  CHECK_FALSE(again.has_patch());
  rapidjson::Document out;
  out.CopyFrom(by_webhook, out.GetAllocator());
  return out;
}

// The objects of a manifest in order, a List's items in its place.
std::vector<const rapidjson::Value*> objects_of(const inject::Manifest& manifest) {
  std::vector<const rapidjson::Value*> out;
  for (const auto& doc : manifest.documents) {
    if (inject::is_list(doc)) {
      for (const auto& item : doc["items"].GetArray()) out.push_back(&item);
    } else {
      out.push_back(&doc);
    }
  }
  return out;
}

// `object` as the pod the API server sees: a Pod as it is; a workload's pod template wrapped as
// the Pod its controller creates (owned by a Job for a Job or CronJob). Empty for other kinds.
std::string pod_of(const rapidjson::Value& object) {
  if (!object.IsObject() || !object.HasMember("kind") || !object["kind"].IsString()) return {};
  const std::string kind = object["kind"].GetString();
  if (kind == "Pod") return test::json_text(object);
  const rapidjson::Value* spec = object.HasMember("spec") ? &object["spec"] : nullptr;
  if (kind == "CronJob" && spec != nullptr && spec->IsObject() && spec->HasMember("jobTemplate"))
    spec = (*spec)["jobTemplate"].HasMember("spec") ? &(*spec)["jobTemplate"]["spec"] : nullptr;
  if (spec == nullptr || !spec->IsObject() || !spec->HasMember("template")) return {};
  const rapidjson::Value& tmpl = (*spec)["template"];
  rapidjson::Document pod(rapidjson::kObjectType);
  auto& alloc = pod.GetAllocator();
  pod.AddMember("apiVersion", "v1", alloc);
  pod.AddMember("kind", "Pod", alloc);
  rapidjson::Value meta(rapidjson::kObjectType);
  if (tmpl.HasMember("metadata")) meta.CopyFrom(tmpl["metadata"], alloc);
  if (!meta.HasMember("generateName")) meta.AddMember("generateName", "golden-", alloc);
  if ((kind == "Job" || kind == "CronJob") && !meta.HasMember("ownerReferences")) {
    rapidjson::Document owner;
    owner.Parse(R"([{"apiVersion":"batch/v1","kind":"Job","name":"golden","uid":"1","controller":true}])");
    meta.AddMember("ownerReferences", rapidjson::Value(owner, alloc), alloc);
  }
  pod.AddMember("metadata", meta, alloc);
  if (tmpl.HasMember("spec")) pod.AddMember("spec", rapidjson::Value(tmpl["spec"], alloc), alloc);
  return test::json_text(pod);
}

}  // namespace

TEST_CASE("a pod's review is answered with its uid and a JSONPatch that gives what inject gives") {
  const Answered a = answer(review_of(kPod, "uid-of-this-review"));
  CHECK(std::string(a.response()["uid"].GetString()) == "uid-of-this-review");
  CHECK(a.answer.uid == "uid-of-this-review");
  CHECK(a.answer.pod == "shop/web-0");  // the namespace from the request: the pod has none yet
  CHECK_FALSE(a.response().HasMember("warnings"));
  bool ok = false;
  const std::string patch_text = test::base64_decode(a.response()["patch"].GetString(), ok);
  REQUIRE(ok);
  // Exactly the engine's operations, and only "add" ones.
  const inject::Plan plan = inject::plan_injection(parse(kPod), {});
  CHECK(patch_text == inject::json_patch_text(plan.ops));
  const rapidjson::Document patch = parse(patch_text);
  for (const auto& op : patch.GetArray()) CHECK(std::string(op["op"].GetString()) == "add");
  check_same_as_inject(kPod);
}

TEST_CASE("the injection options reach the patch (legacy mode, another image)") {
  inject::InjectOptions options;
  options.native = false;
  options.image = "registry.example/shmlog:9.9";
  check_same_as_inject(kPod, options);
  const Answered a = answer(review_of(kPod), options);
  bool ok = false;
  CHECK(test::base64_decode(a.response()["patch"].GetString(), ok).find("registry.example/shmlog:9.9") !=
        std::string::npos);
}

TEST_CASE("a pod with only a generateName, in the request's namespace, is injected") {
  const std::string pod = R"({"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"web-7d4b9-"},
    "spec":{"containers":[{"name":"app","image":"app:1"},{"name":"proxy","image":"proxy:1"}]}})";
  const Answered a = answer(review_of(pod));
  CHECK(a.answer.pod == "shop/web-7d4b9-*");
  check_same_as_inject(pod);
}

TEST_CASE("the golden inputs of shmlog inject give the golden outputs through the webhook") {
  // For every <name>.in.* of `shmlog inject`'s golden tests (with the flags of <name>.args): each
  // Pod, and each workload's pod template as the pod its controller creates, patched by the
  // webhook, is what `shmlog inject` made of it in <name>.out.*; what inject skips, the webhook
  // lets through unchanged with a warning.
  const std::filesystem::path dir = SHMLOG_INJECT_GOLDEN_DIR;
  REQUIRE_MESSAGE(std::filesystem::is_directory(dir), "no golden directory " << dir.string());
  int pods = 0, injected = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string file = entry.path().filename().string();
    const auto in_at = file.find(".in.");
    if (in_at == std::string::npos) continue;
    const std::string name = file.substr(0, in_at);
    CAPTURE(file);
    inject::InjectOptions options;
    if (const auto args = dir / (name + ".args"); std::filesystem::exists(args)) {
      CLI::App flags;
      cli::add_inject_options(flags, options);
      std::string line = test::read_file(args.string());
      while (!line.empty() && line.back() == '\n') line.pop_back();
      REQUIRE_NOTHROW(flags.parse(line));
    }
    auto in = inject::read_manifest(entry.path().string());
    auto out = inject::read_manifest((dir / (name + ".out" + file.substr(in_at + 3))).string());
    REQUIRE_MESSAGE(in.ok(), (in ? std::string() : in.error().message));
    REQUIRE_MESSAGE(out.ok(), (out ? std::string() : out.error().message));
    const auto in_objects = objects_of(*in), out_objects = objects_of(*out);
    REQUIRE(in_objects.size() == out_objects.size());
    for (std::size_t i = 0; i < in_objects.size(); ++i) {
      const std::string pod = pod_of(*in_objects[i]);
      if (pod.empty()) continue;
      ++pods;
      CAPTURE(pod);
      const rapidjson::Document golden = parse(pod_of(*out_objects[i]));
      const inject::Plan plan = inject::plan_injection(parse(pod), options);
      if (plan.verdict == inject::Plan::Verdict::inject) {
        ++injected;
        const rapidjson::Document by_webhook = check_same_as_inject(pod, options);
        CHECK_MESSAGE(by_webhook == golden,
                      "webhook: " << test::json_text(by_webhook) << "\ngolden:  " << test::json_text(golden));
      } else {
        const Answered a = answer(review_of(pod), options);
        CHECK_FALSE(a.has_patch());
        if (plan.verdict == inject::Plan::Verdict::error) {
          CHECK_MESSAGE(a.warning().starts_with("shmlog: not injected: "), a.warning());
          CHECK_MESSAGE(a.warning().find(plan.reason) != std::string::npos, a.warning());
        } else {  // opted out, already injected: asked for, nothing to warn about
          CHECK_MESSAGE(a.warning().empty(), a.warning());
        }
        CHECK(parse(pod) == golden);
      }
    }
  }
  MESSAGE(pods << " golden pods, " << injected << " injected");
  CHECK(injected > 10);
}

TEST_CASE("a pod the engine cannot inject is let through unchanged, with a warning saying why") {
  SUBCASE("hostNetwork") {
    const Answered a = answer(review_of(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"h"},
      "spec":{"hostNetwork":true,"containers":[{"name":"app","image":"app:1"}]}})"));
    CHECK_FALSE(a.has_patch());
    CHECK_MESSAGE(a.warning().starts_with("shmlog: not injected: "), a.warning());
    CHECK_MESSAGE(a.warning().find("hostNetwork") != std::string::npos, a.warning());
    CHECK(a.answer.verdict.starts_with("not injected: "));
  }
  SUBCASE("no containers") {
    const Answered a =
        answer(review_of(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"e"},"spec":{}})"));
    CHECK_FALSE(a.has_patch());
    CHECK_MESSAGE(a.warning().starts_with("shmlog: not injected: "), a.warning());
  }
  SUBCASE("the object is not a pod at all") {
    const Answered a = answer(review_of(R"({"spec":"not an object"})"));
    CHECK_FALSE(a.has_patch());
    CHECK(a.warning().starts_with("shmlog: not injected: "));
  }
  SUBCASE("no object in the request") {
    const Answered a = answer(review_of(""));
    CHECK_FALSE(a.has_patch());
    CHECK_MESSAGE(a.warning().find("request.object") != std::string::npos, a.warning());
  }
}

TEST_CASE("an opted-out or already injected pod is let through untouched, the log saying why") {
  // No warning: the user asked for this (opt-out), or it is every pod of an injected workload.
  const Answered out = answer(review_of(R"({"apiVersion":"v1","kind":"Pod",
    "metadata":{"name":"o","annotations":{"shmlog.io/inject":"false"}},
    "spec":{"containers":[{"name":"app","image":"app:1"}]}})"));
  CHECK_FALSE(out.has_patch());
  CHECK_MESSAGE(out.warning().empty(), out.warning());
  CHECK_MESSAGE(out.answer.verdict.find("shmlog.io/inject") != std::string::npos, out.answer.verdict);
  CHECK(out.answer.verdict.starts_with("skipped: "));

  const std::string injected = test::json_text(injected_by_engine(kPod));
  const Answered twice = answer(review_of(injected));
  CHECK_FALSE(twice.has_patch());
  CHECK_MESSAGE(twice.warning().empty(), twice.warning());
  CHECK_MESSAGE(twice.answer.verdict.find("already injected") != std::string::npos, twice.answer.verdict);
}

TEST_CASE("other kinds, operations and subresources are allowed untouched, without a warning") {
  const std::string deployment = R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},
    "spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:1"}]}}}})";
  for (const auto& review :
       {review_of(deployment, "u1", R"({"group":"apps","version":"v1","kind":"Deployment"})"),
        review_of(R"({"kind":"Service"})", "u2", R"({"group":"","version":"v1","kind":"Service"})"),
        review_of(kPod, "u3", R"({"group":"","version":"v1","kind":"Pod"})", R"(,"operation":"UPDATE")"),
        review_of(kPod, "u4", R"({"group":"","version":"v1","kind":"Pod"})",
                  R"(,"operation":"CREATE","subResource":"ephemeralcontainers")"),
        review_of(kPod, "u5", R"({"group":"example.com","version":"v1","kind":"Pod"})")}) {
    const Answered a = answer(review);
    CAPTURE(review);
    CHECK_FALSE(a.has_patch());
    CHECK_FALSE(a.response().HasMember("warnings"));
    CHECK(a.answer.verdict.starts_with("ignored: "));
    CHECK(std::string(a.response()["uid"].GetString()) == a.answer.uid);
  }
}

TEST_CASE("a body that is no AdmissionReview v1 with a uid is an error, not an answer") {
  const inject::InjectOptions options;
  for (const std::string& body : {
           std::string("not json"),
           std::string(""),
           std::string("[1,2]"),
           std::string(
               R"({"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u"}})"),
           std::string(R"({"apiVersion":"admission.k8s.io/v1","kind":"Pod","request":{"uid":"u"}})"),
           std::string(R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})"),
           std::string(R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}})"),
           std::string(
               R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":""}})"),
           std::string(
               R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}})"),
       }) {
    CAPTURE(body);
    const auto a = webhook::answer_admission_review(body, options);
    CHECK_FALSE(a.ok());
    if (!a) CHECK_FALSE(a.error().message.empty());
  }
}

TEST_CASE("a body nested a million levels deep is refused without blowing the stack") {
  const std::string deep = std::string(1'000'000, '[') + std::string(1'000'000, ']');
  const auto a = webhook::answer_admission_review(deep, {});
  REQUIRE_FALSE(a.ok());
  CHECK(a.error().message.find("deeper") != std::string::npos);
  // A string full of brackets is no nesting.
  const std::string brackets = review_of(R"({"kind":"Service","x":")" + std::string(1000, '[') + "\"}", "u",
                                         R"({"group":"","version":"v1","kind":"Service"})");
  CHECK(webhook::answer_admission_review(brackets, {}).ok());
}

TEST_CASE("base64 is standard and padded, as the API server decodes it") {
  CHECK(webhook::base64_encode("") == "");
  CHECK(webhook::base64_encode("f") == "Zg==");
  CHECK(webhook::base64_encode("fo") == "Zm8=");
  CHECK(webhook::base64_encode("foo") == "Zm9v");
  CHECK(webhook::base64_encode("foobar") == "Zm9vYmFy");
  const std::string binary("\xfb\xff\x00~?>", 6);
  CHECK(webhook::base64_encode(binary) == "+/8Afj8+");
  bool ok = false;
  CHECK(test::base64_decode(webhook::base64_encode(binary), ok) == binary);
  CHECK(ok);
}
