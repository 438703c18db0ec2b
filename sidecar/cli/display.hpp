// How values look on a terminal: aligned tables, sizes, percentages, times, and strings from
// untrusted files made safe to print.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shmlog::cli {

class Table {
 public:
  enum class Align { left, right };
  struct Column {
    std::string header;
    Align align = Align::left;
  };

  // With show_header false the headers only count for nothing (a key/value list).
  explicit Table(std::vector<Column> columns, bool show_header = true);
  // Missing cells are empty; extra cells are ignored.
  void add_row(std::vector<std::string> cells);
  // A row whose `rest` runs from the second column to the end of the line, unaligned and not
  // widening any column: a note such as why a file could not be read.
  void add_spanning_row(std::string first, std::string rest);
  // Each column padded to its widest cell, two spaces between columns, `indent` before each line.
  std::string render(std::string_view indent = "") const;

 private:
  std::vector<Column> columns_;
  bool show_header_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<bool> spanning_;  // per row: cell 1 is a spanning note (add_spanning_row)
};

// "512 B", "4 KiB", "8.3 MiB".
std::string human_bytes(std::uint64_t bytes);
// used / capacity as "0%", "<0.1%", "12.5%": a lane with a few records must not read as empty.
std::string fill_text(std::uint64_t used, std::uint64_t capacity);
double fill_percent(std::uint64_t used, std::uint64_t capacity);
// "2024-05-01T12:00:00.123456789Z".
std::string iso8601_utc(std::uint64_t unix_ns);
// An elapsed time, as precise as a glance needs: "0.4 s", "12 s", "5.2 min", "3.1 h", "2.0 d".
// Negative is shown as such ("-3 s"): a clock that stepped back should not read as "just now".
std::string human_duration(double seconds);
// Invalid UTF-8 replaced, control characters (C0, DEL, C1: terminal escapes) shown as \xNN, so
// a name read from a hostile ring file cannot rewrite the terminal.
std::string printable(std::string_view text);
// Writes each line of `message` to stderr as "shmlog: <line>", made printable.
void print_problem(std::string_view message);

}  // namespace shmlog::cli
