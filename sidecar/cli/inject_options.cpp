#include "cli/inject_options.hpp"

#include "inject/values.hpp"

#include <string>

namespace shmlog::cli {
namespace {

// A CLI11 check from one of inject/values.hpp's, so flags and annotations accept the same text.
template <typename Check>
CLI::Validator value_check(Check check) {
  return CLI::Validator(
      [check](const std::string& text) {
        auto ok = check(text);
        return ok ? std::string{} : ok.error().message;
      },
      "");  // the option's type_name already says what it takes
}

}  // namespace

void add_inject_options(CLI::App& cmd, inject::InjectOptions& options) {
  const std::string group = "Injection (per workload: the shmlog.io/* annotations)";
  auto* native = cmd.add_flag_callback(
      "--native", [&options] { options.native = true; },
      "The sidecar as a native sidecar: the first init container, restartPolicy: Always (the "
      "default; Kubernetes 1.29+; shmlog.io/mode)");
  auto* legacy = cmd.add_flag_callback(
      "--legacy", [&options] { options.native = false; },
      "The sidecar as the last container, with a preStop that waits for the apps (older clusters)");
  native->group(group)->excludes(legacy);
  legacy->group(group);
  cmd.add_option("--image", options.image,
                 "The sidecar's image (default: shmlog:" SHMLOG_VERSION "; shmlog.io/image)")
      ->type_name("IMAGE")
      ->group(group)
      ->check(value_check(inject::check_image));
  cmd.add_option("--ring-bytes", options.ring_bytes,
                 "SHMLOG_RING_BYTES for the apps; sizes the memory volume (shmlog.io/ring-bytes)")
      ->type_name("BYTES")
      ->capture_default_str()
      ->group(group)
      ->check(value_check(inject::check_ring_bytes));
  const auto quantity = value_check(inject::check_quantity);
  cmd.add_option("--cpu-request", options.cpu_request, "The sidecar's CPU request (shmlog.io/cpu-request)")
      ->type_name("QUANTITY")
      ->capture_default_str()
      ->group(group)
      ->check(quantity);
  cmd.add_option("--memory-request", options.memory_request,
                 "The sidecar's memory request (shmlog.io/memory-request)")
      ->type_name("QUANTITY")
      ->capture_default_str()
      ->group(group)
      ->check(quantity);
  cmd.add_option("--memory-limit", options.memory_limit,
                 "The sidecar's memory limit (shmlog.io/memory-limit)")
      ->type_name("QUANTITY")
      ->capture_default_str()
      ->group(group)
      ->check(quantity);
  cmd.add_option("--cpu-limit", options.cpu_limit,
                 "The sidecar's CPU limit (default: none, so a burst never throttles the drain; "
                 "shmlog.io/cpu-limit)")
      ->type_name("QUANTITY")
      ->group(group)
      ->check(quantity);
  cmd.add_option("--loki-url", options.loki_url,
                 "SHMLOG_LOKI_URL of the sidecar (default: none, files only; shmlog.io/loki-url)")
      ->type_name("URL")
      ->group(group)
      ->check(value_check(inject::check_url));
  cmd.add_option("--config-map", options.config_map,
                 "The ConfigMap the sidecar takes SHMLOG_* settings from (envFrom, optional)")
      ->type_name("NAME")
      ->capture_default_str()
      ->group(group)
      ->check(CLI::Validator(
          [](const std::string& name) {
            return name.empty() ? "the ConfigMap name is empty" : std::string{};
          },
          ""));
  cmd.add_flag_callback(
         "--disk-rings", [&options] { options.memory_medium = false; },
         "The rings' emptyDir on the node's disk instead of medium: Memory")
      ->group(group);
}

}  // namespace shmlog::cli
