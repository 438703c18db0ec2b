// One AdmissionReview v1 (a mutating webhook's request from the API server) answered: the pod in
// it planned by the injection engine (inject/injector.hpp, the same code as `shmlog inject`) and
// the operations sent back as a base64 JSONPatch. A pure function of the body, so the tests and
// the server see the same answers.
//
// Fail-open: the webhook never rejects a pod because of its own trouble. A pod it cannot or will
// not inject is allowed unchanged, with a warning that kubectl shows the user. Only a body that
// is no AdmissionReview at all (nothing to echo a uid to) is an error.
#pragma once

#include "inject/injector.hpp"

#include <shmlog/result.hpp>

#include <string>
#include <string_view>

namespace shmlog::webhook {

inline constexpr std::string_view kAdmissionApiVersion = "admission.k8s.io/v1";

struct AdmissionAnswer {
  std::string body;  // the AdmissionReview response (JSON), always allowed: true
  // For the server's one log line; never the pod's contents.
  std::string uid;
  std::string pod;      // "namespace/name", "namespace/generateName*" before the name is made
  std::string verdict;  // "injected (7 operations)", "not injected: <why>", "skipped: <why>",
                        // "ignored: kind Service"
};

// The answer to `request_body`, or an Error when it is not an AdmissionReview v1 with a
// request.uid (the server answers 400 with the message).
Result<AdmissionAnswer> answer_admission_review(std::string_view request_body,
                                                const inject::InjectOptions& options);

// Standard base64 (RFC 4648, padded) of `bytes`, as the API server wants a patch.
std::string base64_encode(std::string_view bytes);

}  // namespace shmlog::webhook
