#include "cli/ring_command.hpp"

#include "cli/ring_inspect.hpp"
#include "cli/ring_tail.hpp"

#include <shmlog/level.hpp>

#include <memory>
#include <string>

namespace shmlog::cli {
namespace {

constexpr const char* kPathHelp =
    "Ring files, or directories whose *.ring files are read (SHMLOG_DIR, e.g. /var/run/shmlog)";

void add_inspect(CLI::App& ring, Action& action) {
  auto options = std::make_shared<InspectOptions>();
  CLI::App* cmd = ring.add_subcommand(
      "inspect", "Show a ring's writer, layout, call sites and each lane's fill and drop counters");
  cmd->add_option("PATH", options->paths, kPathHelp)->required()->type_name("");
  cmd->add_flag("--json", options->json, "Print one JSON document {\"rings\": [...], \"errors\": [...]}");
  cmd->footer("Exit status: 0 ok, 1 a ring could not be read (named on stderr), 2 a PATH does not exist.\n");
  cmd->callback([&action, options] { action = [options] { return run_inspect(*options); }; });
}

void add_tail(CLI::App& ring, Action& action) {
  auto options = std::make_shared<TailOptions>();
  auto level = std::make_shared<std::string>();
  CLI::App* cmd = ring.add_subcommand(
      "tail", "Print the records not yet taken by a consumer as JSON lines, without taking them");
  cmd->add_option("PATH", options->paths, kPathHelp)->required()->type_name("");
  cmd->add_flag("-f,--follow", options->follow,
                "Keep printing new records, and those of rings that appear, until SIGINT or SIGTERM");
  cmd->add_option(
         "--level", *level,
         "Print only records of this level and above: TRACE, DEBUG, INFO, WARNING, ERROR or CRITICAL")
      ->type_name("LEVEL")
      ->check(CLI::Validator(
          [](const std::string& text) {
            return parse_level(text) ? std::string{}
                                     : "unknown level '" + text +
                                           "': use TRACE, DEBUG, INFO, WARNING, ERROR or CRITICAL (any case; "
                                           "warn, err and fatal also work)";
          },
          ""));
  cmd->add_option("--lanes", options->lanes, "Read only these lanes (comma-separated lane numbers)")
      ->type_name("LANE")
      ->delimiter(',');
  cmd->footer(
      "One-shot output is each ring's records in time order (lanes are merged by timestamp).\n"
      "Exit status: 0 ok, 1 a ring, lane or record could not be read (named on stderr; the rest\n"
      "is still printed), 2 a PATH does not exist.\n");
  cmd->callback([&action, options, level] {
    if (!level->empty()) options->min_level = *parse_level(*level);
    action = [options] { return run_tail(*options); };
  });
}

}  // namespace

void add_ring_command(CLI::App& app, Action& action) {
  CLI::App* ring = app.add_subcommand("ring", "Look at ring files: what they hold and what their writer did");
  ring->require_subcommand(1);
  add_inspect(*ring, action);
  add_tail(*ring, action);
}

}  // namespace shmlog::cli
