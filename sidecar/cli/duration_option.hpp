// A DURATION option of a subcommand ("25s", "500ms", "2m"; a bare number is ms, as
// shmlog::parse_duration reads it): checked when the command line is parsed, so a bad value is a
// usage error naming the option, and stored straight into `target`, whose value stays the default.
#pragma once

#include <shmlog/config.hpp>

#include <CLI/CLI.hpp>
#include <chrono>
#include <string>

namespace shmlog::cli {

enum class DurationMin { zero, positive };

inline CLI::Option* add_duration_option(CLI::App& cmd, const std::string& name,
                                        std::chrono::milliseconds& target, const std::string& help,
                                        DurationMin min = DurationMin::positive) {
  return cmd
      .add_option_function<std::string>(
          name,
          [&target](const std::string& text) {
            target = std::chrono::duration_cast<std::chrono::milliseconds>(*parse_duration(text));
          },
          help)
      ->type_name("DURATION")
      ->check(CLI::Validator(
          [name, min](const std::string& text) {
            auto d = parse_duration(text);
            if (!d) return d.error().message;
            return min == DurationMin::positive && d->count() <= 0 ? name + " must be more than 0"
                                                                   : std::string{};
          },
          ""));
}

}  // namespace shmlog::cli
