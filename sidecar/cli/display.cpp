#include "cli/display.hpp"

#include <shmlog/json_line.hpp>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include <fmt/format.h>

namespace shmlog::cli {
namespace {

// Terminal columns of UTF-8 text, counting one per code point (good enough for names and numbers).
std::size_t text_width(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

}  // namespace

Table::Table(std::vector<Column> columns, bool show_header)
    : columns_(std::move(columns)), show_header_(show_header) {}

void Table::add_row(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
  spanning_.push_back(false);
}

void Table::add_spanning_row(std::string first, std::string rest) {
  std::vector<std::string> cells(columns_.size());
  if (!cells.empty()) cells[0] = std::move(first);
  if (cells.size() > 1) cells[1] = std::move(rest);
  rows_.push_back(std::move(cells));
  spanning_.push_back(columns_.size() > 1);
}

std::string Table::render(std::string_view indent) const {
  std::vector<std::size_t> widths(columns_.size(), 0);
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    if (show_header_) widths[c] = text_width(columns_[c].header);
    for (std::size_t r = 0; r < rows_.size(); ++r)
      if (c == 0 || !spanning_[r]) widths[c] = std::max(widths[c], text_width(rows_[r][c]));
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells, bool spanning = false) {
    std::string text(indent);
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      if (spanning && c == 1) {
        text += "  " + cells[1];
        break;
      }
      const std::string pad(widths[c] - text_width(cells[c]), ' ');
      if (c > 0) text += "  ";
      text += columns_[c].align == Align::right ? pad + cells[c] : cells[c] + pad;
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + '\n';
  };
  if (show_header_) {
    std::vector<std::string> headers;
    for (const auto& column : columns_) headers.push_back(column.header);
    line(headers);
  }
  for (std::size_t r = 0; r < rows_.size(); ++r) line(rows_[r], spanning_[r]);
  return out;
}

std::string human_bytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  std::size_t unit = 0;
  std::uint64_t whole = bytes;
  while (whole >= 1024 && unit + 1 < std::size(kUnits)) {
    whole /= 1024;
    ++unit;
  }
  const std::uint64_t scale = std::uint64_t{1} << (10 * unit);
  if (bytes % scale == 0) return fmt::format("{} {}", bytes / scale, kUnits[unit]);
  return fmt::format("{:.1f} {}", static_cast<double>(bytes) / static_cast<double>(scale), kUnits[unit]);
}

double fill_percent(std::uint64_t used, std::uint64_t capacity) {
  return capacity == 0 ? 0.0 : 100.0 * static_cast<double>(used) / static_cast<double>(capacity);
}

std::string fill_text(std::uint64_t used, std::uint64_t capacity) {
  if (used == 0) return "0%";
  const double percent = fill_percent(used, capacity);
  if (percent < 0.1) return "<0.1%";
  return fmt::format("{:.1f}%", percent);
}

std::string iso8601_utc(std::uint64_t unix_ns) {
  const auto seconds = static_cast<std::time_t>(unix_ns / 1'000'000'000u);
  std::tm tm{};
  if (::gmtime_r(&seconds, &tm) == nullptr) return fmt::format("{} ns", unix_ns);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, unix_ns % 1'000'000'000u);
}

std::string human_duration(double seconds) {
  if (seconds < 0) return "-" + human_duration(-seconds);
  if (seconds < 10) return fmt::format("{:.1f} s", seconds);
  if (seconds < 60) return fmt::format("{:.0f} s", seconds);
  if (seconds < 3600) return fmt::format("{:.1f} min", seconds / 60);
  if (seconds < 86400) return fmt::format("{:.1f} h", seconds / 3600);
  return fmt::format("{:.1f} d", seconds / 86400);
}

std::string printable(std::string_view text) {
  std::string utf8;
  if (!sanitize_utf8(text, utf8)) utf8.assign(text);  // `utf8` is only written when something was replaced
  std::string out;
  out.reserve(utf8.size());
  for (std::size_t i = 0; i < utf8.size(); ++i) {
    const auto c = static_cast<unsigned char>(utf8[i]);
    if (c < 0x20 || c == 0x7F) {
      out += fmt::format("\\x{:02x}", c);
    } else if (c == 0xC2 && i + 1 < utf8.size() && static_cast<unsigned char>(utf8[i + 1]) < 0xA0) {
      // U+0080..U+009F, the C1 controls (0x9B starts a terminal escape on its own).
      out += fmt::format("\\u{:04x}", static_cast<unsigned char>(utf8[++i]));
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

void print_problem(std::string_view message) {
  std::string out;
  for (std::size_t start = 0; start <= message.size();) {
    std::size_t end = message.find('\n', start);
    if (end == std::string_view::npos) end = message.size();
    out += "shmlog: " + printable(message.substr(start, end - start)) + '\n';
    start = end + 1;
  }
  std::fputs(out.c_str(), stderr);
}

}  // namespace shmlog::cli
