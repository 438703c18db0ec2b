#include "webhook/admission_review.hpp"

#include <exception>
#include <string>

#include <openssl/evp.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace shmlog::webhook {
namespace {

// What the API server sends nests a dozen levels; RapidJSON's values are freed recursively, so a
// body of four million '[' would overflow the stack however it was parsed. Refused before parsing.
constexpr int kMaxDepth = 128;

bool nested_too_deep(std::string_view text) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxDepth) return true;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return false;
}

std::string_view string_member(const rapidjson::Value& object, const char* key) {
  if (!object.IsObject()) return {};
  const auto it = object.FindMember(key);
  if (it == object.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

const rapidjson::Value* object_member(const rapidjson::Value& object, const char* key) {
  if (!object.IsObject()) return nullptr;
  const auto it = object.FindMember(key);
  return it != object.MemberEnd() && it->value.IsObject() ? &it->value : nullptr;
}

// "namespace/name" of the pod for the log line. The pod's own namespace is often empty (the API
// server fills it in after the webhooks) and its name too when it has a generateName.
std::string pod_label(const rapidjson::Value& request, const rapidjson::Value* pod) {
  static const rapidjson::Value kNone(rapidjson::kObjectType);
  const rapidjson::Value* meta = pod != nullptr ? object_member(*pod, "metadata") : nullptr;
  const rapidjson::Value& m = meta != nullptr ? *meta : kNone;
  std::string ns(string_member(m, "namespace"));
  if (ns.empty()) ns = string_member(request, "namespace");
  std::string name(string_member(m, "name"));
  if (name.empty()) name = string_member(request, "name");
  if (name.empty() && !string_member(m, "generateName").empty())
    name = std::string(string_member(m, "generateName")) + "*";
  return (ns.empty() ? "-" : ns) + "/" + (name.empty() ? "-" : name);
}

struct Response {
  std::string patch;    // the JSONPatch text; empty: none
  std::string warning;  // empty: none
};

std::string render(std::string_view uid, const Response& r) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  auto str = [&w](std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); };
  w.StartObject();
  w.Key("apiVersion");
  str(kAdmissionApiVersion);
  w.Key("kind");
  str("AdmissionReview");
  w.Key("response");
  w.StartObject();
  w.Key("uid");
  str(uid);
  w.Key("allowed");  // always: fail-open (see the header)
  w.Bool(true);
  if (!r.patch.empty()) {
    w.Key("patchType");
    str("JSONPatch");
    w.Key("patch");
    str(base64_encode(r.patch));
  }
  if (!r.warning.empty()) {
    w.Key("warnings");
    w.StartArray();
    str(r.warning);
    w.EndArray();
  }
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

// Not injected, and why: said to the user (kubectl prints the warning) and in the log.
Response not_injected(const std::string& why, AdmissionAnswer& answer) {
  answer.verdict = "not injected: " + why;
  return Response{{}, "shmlog: not injected: " + why};
}

Response decide(const rapidjson::Value& request, const inject::InjectOptions& options,
                AdmissionAnswer& answer) {
  const rapidjson::Value* kind = object_member(request, "kind");
  const std::string_view kind_name = kind != nullptr ? string_member(*kind, "kind") : std::string_view();
  const std::string_view group = kind != nullptr ? string_member(*kind, "group") : std::string_view();
  const rapidjson::Value* pod = object_member(request, "object");
  answer.pod = pod_label(request, pod);
  // Only pods being created: the webhook's rules ask for nothing else, but a configuration that
  // sends more must not get a pod's patch applied to something else (an update of a running
  // pod's spec would be refused by the API server).
  if (kind_name != "Pod" || !group.empty()) {
    answer.verdict = "ignored: kind " + (kind_name.empty() ? std::string("(none)") : std::string(kind_name));
    return {};
  }
  if (const auto sub = string_member(request, "subResource"); !sub.empty()) {
    answer.verdict = "ignored: subresource " + std::string(sub);
    return {};
  }
  if (const auto op = string_member(request, "operation"); !op.empty() && op != "CREATE") {
    answer.verdict = "ignored: operation " + std::string(op);
    return {};
  }
  if (pod == nullptr) return not_injected("the review holds no pod (request.object)", answer);
  try {
    const inject::Plan plan = inject::plan_injection(*pod, options);
    switch (plan.verdict) {
      case inject::Plan::Verdict::inject:
        if (plan.ops.empty()) return not_injected("nothing to add", answer);
        answer.verdict = "injected (" + std::to_string(plan.ops.size()) + " operations)";
        return Response{inject::json_patch_text(plan.ops), {}};
      case inject::Plan::Verdict::skip:
        // Opted out or already injected: what was asked for, so the log says it and no warning
        // does (every pod of an injected Deployment would carry one).
        answer.verdict = "skipped: " + plan.reason;
        return {};
      case inject::Plan::Verdict::error:
        return not_injected("the pod cannot be injected: " + plan.reason, answer);
    }
  } catch (const std::exception& e) {  // out of memory and the like: still no rejected pod
    return not_injected(std::string("internal error: ") + e.what(), answer);
  }
  return not_injected("internal error: unknown verdict", answer);
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');  // + the NUL EVP_EncodeBlock writes
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

Result<AdmissionAnswer> answer_admission_review(std::string_view request_body,
                                                const inject::InjectOptions& options) {
  if (nested_too_deep(request_body))
    return Error{"the body nests deeper than " + std::to_string(kMaxDepth) + " levels"};
  rapidjson::Document doc;
  doc.Parse(request_body.data(), request_body.size());
  if (doc.HasParseError() || !doc.IsObject())
    return Error{"the body is not a JSON object (an AdmissionReview is expected)"};
  if (string_member(doc, "apiVersion") != kAdmissionApiVersion ||
      string_member(doc, "kind") != "AdmissionReview")
    return Error{"expected apiVersion admission.k8s.io/v1 and kind AdmissionReview, got \"" +
                 std::string(string_member(doc, "apiVersion")) + "\" and \"" +
                 std::string(string_member(doc, "kind")) + "\""};
  const rapidjson::Value* request = object_member(doc, "request");
  if (request == nullptr) return Error{"the AdmissionReview has no request"};
  const std::string_view uid = string_member(*request, "uid");
  if (uid.empty()) return Error{"the AdmissionReview's request has no uid"};
  AdmissionAnswer answer;
  answer.uid = uid;
  const Response response = decide(*request, options, answer);
  answer.body = render(uid, response);
  return answer;
}

}  // namespace shmlog::webhook
