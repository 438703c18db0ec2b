#include "cli/settings_command.hpp"

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

void print_text() {
  std::size_t width = 0;
  for (const auto& s : library_settings()) width = std::max(width, s.env.size());
  std::string out = "The app-side library (libshm) reads these when it starts:\n\n";
  for (const auto& s : library_settings())
    out += fmt::format("  {:<{}}  {}\n  {:<{}}  default {}; allowed: {}\n", s.env, width, s.help, "", width,
                       s.default_value, s.allowed);
  std::fputs(out.c_str(), stdout);
}

}  // namespace

void add_settings_command(CLI::App& app, Action& action) {
  auto markdown = std::make_shared<bool>(false);
  CLI::App* cmd =
      app.add_subcommand("settings", "List the SHMLOG_* settings, their defaults and allowed values");
  cmd->add_flag("--markdown", *markdown, "Print a Markdown table (the README's is made with this)");
  cmd->callback([&action, markdown] {
    action = [markdown] {
      if (*markdown)
        print_markdown();
      else
        print_text();
      return kExitOk;
    };
  });
}

}  // namespace shmlog::cli
