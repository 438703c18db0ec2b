// Label sets as Loki reads and prints them: Prometheus' name syntax, the Go-quoted canonical
// form, the per-stream limits, and the text form a protobuf push carries.
#include "decode_parts.hpp"
#include "go_text.hpp"

#include <algorithm>

namespace shmlog::loki::detail {

namespace {

bool fail_with(std::string& error, std::string message) {
  error = std::move(message);
  return false;
}

// ASCII only, whatever the locale.
bool name_start_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool name_char(char c) {
  return name_start_char(c) || (c >= '0' && c <= '9');
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, char32_t r) {
  if (r < 0x80) {
    out.push_back(static_cast<char>(r));
  } else if (r < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (r >> 6)));
    out.push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else if (r < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (r >> 12)));
    out.push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (r >> 18)));
    out.push_back(static_cast<char>(0x80 | ((r >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (r & 0x3F)));
  }
}

// `digits` hex digits at text[i]; advances past them.
bool read_hex(std::string_view text, std::size_t& i, int digits, char32_t& value) {
  value = 0;
  for (int k = 0; k < digits; ++k, ++i) {
    const int h = i < text.size() ? hex_value(text[i]) : -1;
    if (h < 0) return false;
    value = (value << 4) | static_cast<char32_t>(h);
  }
  return true;
}

// One escape of a Go string literal quoted with `quote` (strconv.Unquote's rules); text[i] is
// the character after the backslash.
bool unescape_one(std::string_view text, std::size_t& i, char quote, std::string& out) {
  if (i >= text.size()) return false;
  const char e = text[i++];
  char32_t v = 0;
  switch (e) {
    case 'a':
      out += '\a';
      return true;
    case 'b':
      out += '\b';
      return true;
    case 'f':
      out += '\f';
      return true;
    case 'n':
      out += '\n';
      return true;
    case 'r':
      out += '\r';
      return true;
    case 't':
      out += '\t';
      return true;
    case 'v':
      out += '\v';
      return true;
    case '\\':
      out += '\\';
      return true;
    case '"':
    case '\'':
      if (e != quote) return false;
      out += e;
      return true;
    case 'x':
      if (!read_hex(text, i, 2, v)) return false;
      out.push_back(static_cast<char>(v));
      return true;
    case 'u':
    case 'U':
      if (!read_hex(text, i, e == 'u' ? 4 : 8, v) || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return false;
      append_utf8(out, v);
      return true;
    default:
      break;
  }
  if (e < '0' || e > '7' || i + 2 > text.size()) return false;  // \NNN: three octal digits
  v = static_cast<char32_t>(e - '0');
  for (int k = 0; k < 2; ++k, ++i) {
    if (text[i] < '0' || text[i] > '7') return false;
    v = v * 8 + static_cast<char32_t>(text[i] - '0');
  }
  if (v > 255) return false;
  out.push_back(static_cast<char>(v));
  return true;
}

// A Go string literal at text[i] ("...", '...' or `...`), as PromQL's lexer takes label values.
// Without escapes the value is a view into `text`; with them it is unescaped into `storage`.
bool read_quoted(std::string_view text, std::size_t& i, std::string_view& value,
                 std::deque<std::string>& storage, std::string& error) {
  const char quote = text[i++];
  const std::size_t start = i;
  if (quote == '`') {  // raw: no escapes
    const std::size_t end = text.find('`', i);
    if (end == std::string_view::npos) return fail_with(error, "unterminated raw string");
    value = text.substr(start, end - start);
    i = end + 1;
    return true;
  }
  std::string* unescaped = nullptr;
  for (;;) {
    if (i >= text.size() || text[i] == '\n') return fail_with(error, "unterminated quoted string");
    const char c = text[i];
    if (c == quote) break;
    if (c != '\\') {
      if (unescaped != nullptr) unescaped->push_back(c);
      ++i;
      continue;
    }
    if (unescaped == nullptr) unescaped = &storage.emplace_back(text.substr(start, i - start));
    ++i;
    if (!unescape_one(text, i, quote, *unescaped)) return fail_with(error, "invalid escape in quoted string");
  }
  value = unescaped != nullptr ? std::string_view(*unescaped) : text.substr(start, i - start);
  ++i;
  return true;
}

void skip_spaces(std::string_view text, std::size_t& i) {
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
}

}  // namespace

bool check_label_pairs(std::vector<LabelPair>& pairs, DecodedPush& out) {
  for (const auto& [name, value] : pairs) {
    if (name.empty() || name.starts_with("__") || !name_start_char(name.front()) ||
        !std::all_of(name.begin(), name.end(), name_char)) {
      const char* why =
          name.starts_with("__") ? " is reserved (starts with __)" : " does not match [a-zA-Z_][a-zA-Z0-9_]*";
      return fail_request(out, 400, "couldn't parse labels: label name " + go_quote(name) + why);
    }
    if (!valid_utf8(value)) {
      return fail_request(out, 400,
                          "couldn't parse labels: the value of label " + go_quote(name) + " is not UTF-8");
    }
  }
  // Byte order, as Go's sort.Strings and Prometheus' labels sort names.
  std::stable_sort(pairs.begin(), pairs.end(),
                   [](const LabelPair& a, const LabelPair& b) { return a.first < b.first; });
  return true;
}

std::string canonical_labels(const std::vector<LabelPair>& sorted) {
  std::string s = "{";
  for (const auto& [name, value] : sorted) {
    if (value.empty()) continue;  // Loki's label builder drops them: empty is the same as absent
    if (s.size() > 1) s += ", ";
    s.append(name);
    s.push_back('=');
    append_go_quote(s, value);
  }
  s.push_back('}');
  return s;
}

std::string label_limit_failure(const std::vector<LabelPair>& sorted, const std::string& labels,
                                const PushLimits& limits) {
  std::size_t names = 0;
  bool has_service_name = false;
  for (const auto& [name, value] : sorted) {
    if (value.empty()) continue;
    ++names;
    has_service_name |= name == "service_name";
  }
  if (names == 0) return "error at least one label pair is required per stream";
  if (has_service_name) --names;  // Loki 3.x does not count it: it may have added it itself
  if (names > limits.max_label_names_per_series) {
    return "entry for stream '" + labels + "' has " + std::to_string(names) + " label names; limit " +
           std::to_string(limits.max_label_names_per_series);
  }
  std::string_view previous;
  for (const auto& [name, value] : sorted) {
    if (name.size() > limits.max_label_name_length) {
      return "stream '" + labels + "' has label name too long: '" + std::string(name) + "'";
    }
    if (value.size() > limits.max_label_value_length) {
      return "stream '" + labels + "' has label value too long: '" + std::string(value) + "'";
    }
    if (name == previous)
      return "stream '" + labels + "' has duplicate label name: '" + std::string(name) + "'";
    previous = name;
  }
  return {};
}

bool parse_label_set(std::string_view text, std::vector<LabelPair>& pairs, std::deque<std::string>& storage,
                     std::string& error) {
  pairs.clear();
  std::size_t i = 0;
  skip_spaces(text, i);
  if (i >= text.size() || text[i] != '{')
    return fail_with(error, "expected a label set {name=\"value\", ...}");
  ++i;
  for (;;) {
    skip_spaces(text, i);
    if (i < text.size() && text[i] == '}') break;  // also after a trailing comma, as PromQL allows
    const std::size_t name_start = i;
    while (i < text.size() && name_char(text[i])) ++i;
    if (i == name_start) return fail_with(error, "expected a label name at offset " + std::to_string(i));
    const std::string_view name = text.substr(name_start, i - name_start);
    skip_spaces(text, i);
    if (i >= text.size() || text[i] != '=')
      return fail_with(error, "expected '=' after label " + go_quote(name));
    ++i;
    skip_spaces(text, i);
    if (i >= text.size() || (text[i] != '"' && text[i] != '\'' && text[i] != '`')) {
      return fail_with(error, "expected a quoted value for label " + go_quote(name));
    }
    std::string_view value;
    if (!read_quoted(text, i, value, storage, error)) return false;
    pairs.emplace_back(name, value);
    skip_spaces(text, i);
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    if (i >= text.size() || text[i] != '}')
      return fail_with(error, "expected ',' or '}' at offset " + std::to_string(i));
    break;
  }
  ++i;
  skip_spaces(text, i);
  if (i != text.size()) return fail_with(error, "unexpected text after the label set");
  return true;
}

}  // namespace shmlog::loki::detail
