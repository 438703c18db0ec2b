// `shmlog probe PATH`: asks the sidecar's own status endpoint for PATH (/livez, /readyz) and exits
// 0 on HTTP 200. Kubernetes' httpGet probes go to the pod's IP, but the endpoint listens on
// 127.0.0.1 by default (only the pod's containers may change levels), so the sidecar's probes
// are exec probes that run this inside its container, where the image has no curl.
#pragma once

#include "cli/command.hpp"

#include <CLI/CLI.hpp>
#include <chrono>
#include <string>

namespace shmlog::cli {

struct ProbeOptions {
  std::string path = "/readyz";
  std::string url;  // empty: the sidecar's --http-addr as SHMLOG_HTTP_ADDR gives it
  std::chrono::milliseconds timeout{2000};
};

// kExitOk on 200 (the body on stdout), or when the endpoint is off (SHMLOG_HTTP_ADDR=off);
// kExitFailed on any other answer or none (said on stderr, which the kubelet keeps in the probe's
// event); kExitUsage for settings the sidecar would refuse.
int run_probe(const ProbeOptions& options);

void add_probe_command(CLI::App& app, Action& action);

}  // namespace shmlog::cli
