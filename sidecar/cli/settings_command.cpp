#include "cli/settings_command.hpp"

#include "settings/sidecar_settings.hpp"

#include <shmlog/config.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>

namespace shmlog::cli {
namespace {

void print_markdown() {
  std::string out = "| Variable | Default | Allowed | What it does |\n|---|---|---|---|\n";
  for (const auto& s : library_settings())
    out += fmt::format("| `{}` | `{}` | {} | {} |\n", s.env, s.default_value, s.allowed, s.help);
  std::fputs(out.c_str(), stdout);
}

void print_sidecar_markdown() {
  std::string out = "| Flag | Variable | Default | Allowed | What it does |\n|---|---|---|---|---|\n";
  for (const auto& s : sidecar::sidecar_settings())
    out += fmt::format("| `--{}` | `{}` | `{}` | {} | {} |\n", s.flag, s.env,
                       s.default_value.empty() ? std::string_view("(none)") : s.default_value, s.allowed,
                       s.help);
  std::fputs(out.c_str(), stdout);
}

void print_text() {
  std::size_t width = 0;
  for (const auto& s : library_settings()) width = std::max(width, s.env.size());
  for (const auto& s : sidecar::sidecar_settings()) width = std::max(width, s.env.size());
  std::string out = "The app-side library (libshm) reads these when it starts:\n\n";
  for (const auto& s : library_settings())
    out += fmt::format("  {:<{}}  {}\n  {:<{}}  default {}; allowed: {}\n", s.env, width, s.help, "", width,
                       s.default_value, s.allowed);
  out += "\n`shmlog sidecar` reads these (each also a flag, and a key of its --config file):\n\n";
  for (const auto& s : sidecar::sidecar_settings())
    out += fmt::format("  {:<{}}  {} (--{})\n  {:<{}}  default {}; allowed: {}\n", s.env, width, s.help,
                       s.flag, "", width,
                       s.default_value.empty() ? std::string_view("(none)") : s.default_value, s.allowed);
  std::fputs(out.c_str(), stdout);
}

}  // namespace

void add_settings_command(CLI::App& app, Action& action) {
  auto markdown = std::make_shared<bool>(false);
  auto sidecar_only = std::make_shared<bool>(false);
  CLI::App* cmd =
      app.add_subcommand("settings", "List the SHMLOG_* settings, their defaults and allowed values");
  cmd->add_flag("--markdown", *markdown, "Print a Markdown table (the README's is made with this)");
  cmd->add_flag("--sidecar", *sidecar_only,
                "With --markdown: the sidecar's settings instead of the library's");
  cmd->callback([&action, markdown, sidecar_only] {
    action = [markdown, sidecar_only] {
      if (*markdown && *sidecar_only)
        print_sidecar_markdown();
      else if (*markdown)
        print_markdown();
      else
        print_text();
      return kExitOk;
    };
  });
}

}  // namespace shmlog::cli
