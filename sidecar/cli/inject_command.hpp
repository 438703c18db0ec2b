// `shmlog inject [FILES...]`: adds the sidecar to the Pods and workloads of manifests, the way
// `istioctl kube-inject` does, for clusters without the webhook or for review before applying.
#pragma once

#include "cli/command.hpp"
#include "inject/injector.hpp"

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace shmlog::cli {

struct InjectCommandOptions {
  inject::InjectOptions inject;
  std::string output;  // "yaml", "json"; empty: the input's format
  bool recursive = false;
  std::vector<std::string> files;  // none: stdin
};

// The injected manifests on stdout, one report line per object on stderr. kExitOk when no object
// had an error; kExitFailed when one had (then nothing on stdout: half an output piped to
// kubectl apply is worse than none); kExitUsage for an input that cannot be read or parsed.
int run_inject(const InjectCommandOptions& options);

void add_inject_command(CLI::App& app, Action& action);

}  // namespace shmlog::cli
