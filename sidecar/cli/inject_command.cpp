#include "cli/inject_command.hpp"

#include "cli/inject_options.hpp"
#include "inject/manifest_io.hpp"

#include <cstdio>
#include <memory>

namespace shmlog::cli {
namespace {

using inject::Plan;

// Plans and applies the injection of every object in `value` (a List's items, a JSON array's
// elements, or the object itself) and reports each on stderr; false when one had an error.
bool inject_all(rapidjson::Value& value, rapidjson::Document::AllocatorType& allocator,
                const inject::InjectOptions& options, const std::string& where) {
  if (value.IsArray() || inject::is_list(value)) {
    rapidjson::Value& items = value.IsArray() ? value : value["items"];
    bool ok = true;
    for (rapidjson::SizeType i = 0; i < items.Size(); ++i)
      ok = inject_all(items[i], allocator, options, where + " item " + std::to_string(i + 1)) && ok;
    return ok;
  }
  Plan plan = inject::plan_injection(value, options);
  const std::string object = plan.kind.empty() ? where : plan.kind + "/" + plan.name;
  switch (plan.verdict) {
    case Plan::Verdict::skip:
      std::fprintf(stderr, "skipped %s: %s\n", object.c_str(), plan.reason.c_str());
      return true;
    case Plan::Verdict::error:
      std::fprintf(stderr, "error %s: %s\n", object.c_str(), plan.reason.c_str());
      return false;
    case Plan::Verdict::inject:
      break;
  }
  if (auto applied = inject::apply_patch(value, plan.ops, allocator); !applied) {
    std::fprintf(stderr, "error %s: %s\n", object.c_str(), applied.error().message.c_str());
    return false;
  }
  std::string apps;
  for (const std::string& app : plan.apps) apps += (apps.empty() ? "" : ", ") + app;
  std::fprintf(stderr, "injected %s (%s; apps: %s)\n", object.c_str(), plan.mode.c_str(), apps.c_str());
  return true;
}

}  // namespace

int run_inject(const InjectCommandOptions& options) {
  auto files = inject::expand_paths(options.files, options.recursive);
  if (!files) {
    std::fprintf(stderr, "shmlog inject: %s\n", files.error().message.c_str());
    return kExitUsage;
  }
  // Everything is read and parsed first: a syntax error anywhere stops before any report.
  std::vector<inject::Manifest> manifests;
  for (const std::string& file : *files) {
    auto manifest = inject::read_manifest(file);
    if (!manifest) {
      std::fprintf(stderr, "shmlog inject: %s\n", manifest.error().message.c_str());
      return kExitUsage;
    }
    manifests.push_back(std::move(*manifest));
  }

  bool ok = true;
  bool all_json = !manifests.empty();
  std::vector<const rapidjson::Value*> documents;
  for (inject::Manifest& manifest : manifests) {
    all_json = all_json && manifest.format == inject::Format::json;
    for (std::size_t i = 0; i < manifest.documents.size(); ++i) {
      rapidjson::Document& doc = manifest.documents[i];
      ok = inject_all(doc, doc.GetAllocator(), options.inject,
                      manifest.source + " document " + std::to_string(i + 1)) &&
           ok;
      documents.push_back(&doc);
    }
  }
  if (!ok) {
    std::fprintf(stderr,
                 "shmlog inject: nothing written: fix the errors above (or opt those objects out with "
                 "shmlog.io/inject: \"false\")\n");
    return kExitFailed;
  }
  const auto format = options.output == "json"   ? inject::Format::json
                      : options.output == "yaml" ? inject::Format::yaml
                      : all_json                 ? inject::Format::json
                                                 : inject::Format::yaml;
  const auto written = inject::write_documents(documents, format);
  if (!written) {
    std::fprintf(stderr, "shmlog inject: %s\n", written.error().message.c_str());
    return kExitFailed;
  }
  const std::string& text = *written;
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
    std::fprintf(stderr, "shmlog inject: cannot write stdout\n");
    return kExitFailed;
  }
  return kExitOk;
}

void add_inject_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<InjectCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "inject", "Add the shmlog sidecar to the Pods and workloads of Kubernetes manifests (YAML or JSON)");
  cmd->add_option("files", options->files,
                  "Manifest files or directories (*.yaml, *.yml, *.json); - or none: stdin")
      ->type_name("FILE");
  cmd->add_flag("-R,--recursive", options->recursive, "Also read the subdirectories of a directory");
  cmd->add_option("-o,--output", options->output, "yaml or json (default: the input's format)")
      ->type_name("FORMAT")
      ->check(CLI::IsMember({"yaml", "json"}));
  add_inject_options(*cmd, options->inject);
  cmd->footer(
      "Injected: Pod (v1); Deployment, StatefulSet, DaemonSet, ReplicaSet (apps/v1); Job, CronJob\n"
      "(batch/v1), also as the items of a List. Other kinds pass through unchanged. Per workload, on\n"
      "the pod template's annotations: shmlog.io/inject: \"false\" (opt out), shmlog.io/mode,\n"
      "shmlog.io/image, shmlog.io/ring-bytes, shmlog.io/cpu-request, shmlog.io/memory-request,\n"
      "shmlog.io/memory-limit, shmlog.io/cpu-limit, shmlog.io/loki-url, shmlog.io/containers (a,b).\n"
      "Injected objects carry shmlog.io/status and are left alone the next time.\n"
      "YAML comments are not kept (yaml-cpp has no comment model); key order is.\n"
      "Exit status: 0 no object had an error, 1 an object had one (nothing written), 2 unreadable or\n"
      "invalid input.\n");
  cmd->callback([&action, options] { action = [options] { return run_inject(*options); }; });
}

}  // namespace shmlog::cli
