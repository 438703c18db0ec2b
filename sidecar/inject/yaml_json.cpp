#include "inject/yaml_json.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <regex>

#include <rapidjson/error/en.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <yaml-cpp/yaml.h>

namespace shmlog::inject {
namespace {

using Allocator = rapidjson::Document::AllocatorType;

std::string located(std::string_view source, std::size_t line, std::size_t column, const std::string& what) {
  return std::string(source) + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + what;
}

Error yaml_error(std::string_view source, const YAML::Mark& mark, const std::string& what) {
  return Error{located(source, static_cast<std::size_t>(mark.line) + 1,
                       static_cast<std::size_t>(mark.column) + 1, what)};
}

// ---- YAML -> JSON: plain scalars typed as kubectl types them ----
// kubectl (sigs.k8s.io/yaml, go-yaml v2) reads YAML 1.1: yes/no/on/off/y/n are booleans, 0644 is
// octal (a volume's defaultMode), digits may be separated by '_'. Typing by YAML 1.2 instead would
// turn `defaultMode: 0644` into 644, which the API server refuses, and change what passes through.

bool is_core_null(const std::string& s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

bool is_yaml11_true(const std::string& s) {
  for (const char* t : {"y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE"})
    if (s == t) return true;
  return false;
}

bool is_yaml11_false(const std::string& s) {
  for (const char* f : {"n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE"})
    if (s == f) return true;
  return false;
}

// A plain scalar as go-yaml v2 types it (its resolve(): bool, null, int by strconv.ParseInt with
// base prefixes 0b/0o/0x and a bare leading 0 for octal, float).
void resolve_plain(const std::string& text, rapidjson::Value& out, Allocator& allocator) {
  static const std::regex decimal(R"([-+]?(0|[1-9][0-9]*))");
  static const std::regex octal(R"([-+]?0o?[0-7]+)");
  static const std::regex hex(R"([-+]?0x[0-9a-fA-F]+)");
  static const std::regex binary(R"([-+]?0b[01]+)");
  static const std::regex floating(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  static const std::regex infinity(R"([-+]?\.(inf|Inf|INF))");
  static const std::regex not_a_number(R"(\.(nan|NaN|NAN))");
  if (is_core_null(text)) {
    out.SetNull();
    return;
  }
  if (is_yaml11_true(text) || is_yaml11_false(text)) {
    out.SetBool(is_yaml11_true(text));
    return;
  }
  std::string s = text;  // numbers without the '_' separators 1.1 allows
  if (s.find_first_of("0123456789") != std::string::npos) std::erase(s, '_');
  const bool is_hex = std::regex_match(s, hex), is_binary = std::regex_match(s, binary);
  const bool is_octal = std::regex_match(s, octal);  // a leading 0 and more digits: 0644, 0o644
  if (std::regex_match(s, decimal) || is_octal || is_hex || is_binary) {
    const bool negative = s[0] == '-';
    const std::size_t sign = s[0] == '-' || s[0] == '+' ? 1 : 0;
    const int base = is_hex ? 16 : is_binary ? 2 : is_octal ? 8 : 10;
    const std::size_t prefix = is_hex || is_binary || (is_octal && s[sign + 1] == 'o') ? 2 : 0;
    const char* digits = s.c_str() + sign + prefix;
    errno = 0;
    if (negative) {
      const unsigned long long v = std::strtoull(digits, nullptr, base);
      if (errno == 0 && v <= static_cast<unsigned long long>(std::numeric_limits<std::int64_t>::max())) {
        out.SetInt64(-static_cast<std::int64_t>(v));
        return;
      }
    } else {
      const unsigned long long v = std::strtoull(digits, nullptr, base);
      if (errno == 0) {
        if (v <= static_cast<unsigned long long>(std::numeric_limits<std::int64_t>::max()))
          out.SetInt64(static_cast<std::int64_t>(v));
        else
          out.SetUint64(v);
        return;
      }
    }
    out.SetDouble(std::strtod(s.c_str(), nullptr));  // too big for 64 bits: a float, as JSON would
  } else if (std::regex_match(s, floating)) {
    out.SetDouble(std::strtod(s.c_str(), nullptr));
  } else if (std::regex_match(s, infinity)) {
    out.SetDouble(s[0] == '-' ? -std::numeric_limits<double>::infinity()
                              : std::numeric_limits<double>::infinity());
  } else if (std::regex_match(s, not_a_number)) {
    out.SetDouble(std::numeric_limits<double>::quiet_NaN());
  } else {
    out.SetString(text.c_str(), static_cast<rapidjson::SizeType>(text.size()), allocator);
  }
}

class YamlConverter {
 public:
  YamlConverter(std::string_view source, Allocator& allocator) : source_(source), allocator_(allocator) {}

  Status convert(const YAML::Node& node, rapidjson::Value& out, int depth = 0) {
    if (depth > 200) return yaml_error(source_, node.Mark(), "nested too deeply");
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        out.SetNull();
        return Ok{};
      case YAML::NodeType::Scalar:
        scalar(node, out);
        return Ok{};
      case YAML::NodeType::Sequence:
        out.SetArray();
        for (const auto& item : node) {
          rapidjson::Value v;
          if (auto s = convert(item, v, depth + 1); !s) return s;
          out.PushBack(v, allocator_);
        }
        return Ok{};
      case YAML::NodeType::Map:
        return map(node, out, depth);
    }
    return Ok{};
  }

 private:
  // Quoted and block scalars (tag "!") and explicit !!str stay strings; plain ones ("?") and the
  // other explicit core tags are typed by their text.
  void scalar(const YAML::Node& node, rapidjson::Value& out) {
    const std::string& tag = node.Tag();
    const std::string& text = node.Scalar();
    if (tag == "!" || tag == "tag:yaml.org,2002:str")
      out.SetString(text.c_str(), static_cast<rapidjson::SizeType>(text.size()), allocator_);
    else
      resolve_plain(text, out, allocator_);
  }

  Status map(const YAML::Node& node, rapidjson::Value& out, int depth) {
    out.SetObject();
    std::vector<YAML::Node> merges;
    for (const auto& entry : node) {
      const YAML::Node& key = entry.first;
      if (!key.IsScalar() && !key.IsNull())
        return yaml_error(source_, key.Mark(), "a key that is not a scalar (a list or a map as key)");
      const std::string name = key.IsNull() ? std::string{} : key.Scalar();
      if (name == "<<" && key.Tag() == "?") {  // a merge key: applied after the map's own keys
        merges.push_back(entry.second);
        continue;
      }
      if (out.HasMember(name.c_str()))
        return yaml_error(source_, key.Mark(), "duplicate key \"" + name + "\"");
      rapidjson::Value v;
      if (auto s = convert(entry.second, v, depth + 1); !s) return s;
      out.AddMember(rapidjson::Value(name.c_str(), static_cast<rapidjson::SizeType>(name.size()), allocator_),
                    v, allocator_);
    }
    for (const YAML::Node& merge : merges) {
      std::vector<YAML::Node> sources;
      if (merge.IsMap())
        sources.push_back(merge);
      else if (merge.IsSequence())
        for (const auto& m : merge) sources.push_back(m);
      for (const YAML::Node& m : sources) {
        if (!m.IsMap())
          return yaml_error(source_, m.Mark(), "a merge key (<<) takes a map or a list of maps");
        rapidjson::Value merged;
        if (auto s = convert(m, merged, depth + 1); !s) return s;
        const rapidjson::Value& view = merged;  // const: C++20 finds RapidJSON's mutable iterators ambiguous
        for (const auto& member : view.GetObject())
          if (!out.HasMember(member.name))
            out.AddMember(rapidjson::Value(member.name, allocator_),
                          rapidjson::Value(member.value, allocator_), allocator_);
      }
    }
    return Ok{};
  }

  std::string_view source_;
  Allocator& allocator_;
};

// ---- JSON -> YAML ----

enum class Quoting { plain, double_quoted, single_quoted, literal };

// yaml-cpp writes a literal block correctly only when its clip chomping and indentation
// detection give the string back: exactly one newline at the end, and a first line that does not
// start with a space. Otherwise the string is double-quoted with escapes.
bool literal_round_trips(std::string_view s) {
  if (!s.ends_with('\n') || s.ends_with("\n\n")) return false;
  const auto first = s.find_first_not_of('\n');
  if (first != std::string_view::npos && (s[first] == ' ' || s[first] == '\t')) return false;
  for (char c : s)
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') || c == 0x7f) return false;
  return true;
}

Quoting quoting_for(std::string_view s, bool is_key) {
  if (needs_quotes_for_yaml11(s)) return Quoting::double_quoted;
  if (s.find('\n') != std::string_view::npos)
    return !is_key && literal_round_trips(s) ? Quoting::literal : Quoting::double_quoted;
  // JSON inside a string (kubectl's last-applied-configuration, our status annotation) reads
  // better in single quotes than with every '"' escaped.
  if ((s.starts_with('{') || s.starts_with('[')) && s.find('\'') == std::string_view::npos) {
    for (char c : s)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return Quoting::plain;
    return Quoting::single_quoted;
  }
  return Quoting::plain;
}

void emit_string(YAML::Emitter& out, std::string_view s, bool is_key) {
  switch (quoting_for(s, is_key)) {
    case Quoting::double_quoted:
      out << YAML::DoubleQuoted;
      break;
    case Quoting::single_quoted:
      out << YAML::SingleQuoted;
      break;
    case Quoting::literal:
      out << YAML::Literal;
      break;
    case Quoting::plain:
      break;
  }
  out << std::string(s);
}

std::string number_text(const rapidjson::Value& v) {
  if (v.IsDouble()) {
    const double d = v.GetDouble();
    if (std::isnan(d)) return ".nan";
    if (std::isinf(d)) return d < 0 ? "-.inf" : ".inf";
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);  // RapidJSON's shortest round-trip form: 1.5, 1.0, 1e30
  return buffer.GetString();
}

void emit(YAML::Emitter& out, const rapidjson::Value& v) {
  if (v.IsObject()) {
    if (v.MemberCount() == 0) out << YAML::Flow;  // "{}" on the key's line
    out << YAML::BeginMap;
    for (const auto& member : v.GetObject()) {
      out << YAML::Key;
      emit_string(out, {member.name.GetString(), member.name.GetStringLength()}, true);
      out << YAML::Value;
      emit(out, member.value);
    }
    out << YAML::EndMap;
  } else if (v.IsArray()) {
    if (v.Empty()) out << YAML::Flow;
    out << YAML::BeginSeq;
    for (const auto& item : v.GetArray()) emit(out, item);
    out << YAML::EndSeq;
  } else if (v.IsString()) {
    emit_string(out, {v.GetString(), v.GetStringLength()}, false);
  } else if (v.IsBool()) {
    out << (v.GetBool() ? "true" : "false");
  } else if (v.IsNull()) {
    out << YAML::Null;
  } else {
    out << number_text(v);
  }
}

bool all_of(std::string_view s, std::string_view allowed) {
  return s.find_first_not_of(allowed) == std::string_view::npos;
}

}  // namespace

bool needs_quotes_for_yaml11(std::string_view s) {
  // YAML 1.1's null, bool and special float words (go-yaml v2's resolve table), and "<<".
  static constexpr std::string_view words[] = {
      "",    "~",   "null", "Null", "NULL", "y",    "Y",     "yes",   "Yes",   "YES", "n",  "N",
      "no",  "No",  "NO",   "true", "True", "TRUE", "false", "False", "FALSE", "on",  "On", "ON",
      "off", "Off", "OFF",  "<<",   "=",    ".inf", ".Inf",  ".INF",  ".nan",  ".NaN"};
  for (std::string_view w : words)
    if (s == w) return true;
  std::string_view rest = s;
  if (rest.starts_with('+') || rest.starts_with('-')) rest.remove_prefix(1);
  if (rest == ".inf" || rest == ".Inf" || rest == ".INF" || rest == ".NAN") return true;
  // Numbers in any 1.1 spelling (0b, 0o, 0x, octal 0755, 1_000, 1e3, sexagesimal 1:30) and dates
  // (2024-01-01, read as a timestamp): text that starts like a number and holds nothing but
  // number characters. "50m" and "128Mi" stay plain, as kubectl writes them.
  if (!rest.empty() && (std::isdigit(static_cast<unsigned char>(rest[0])) != 0 || rest[0] == '.'))
    if (all_of(rest, "0123456789abcdefABCDEFxXoO_.:+-")) return true;
  static const std::regex timestamp(R"(^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?$)");
  return std::regex_match(s.begin(), s.end(), timestamp);
}

Result<std::vector<rapidjson::Document>> yaml_to_json(std::string_view text, std::string_view source) {
  std::vector<YAML::Node> nodes;
  try {
    nodes = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    return yaml_error(source, e.mark, "invalid YAML: " + e.msg);
  }
  std::vector<rapidjson::Document> documents;
  for (const YAML::Node& node : nodes) {
    if (node.IsNull() || !node.IsDefined()) continue;  // an empty document ("---" twice, comments only)
    rapidjson::Document doc;
    YamlConverter converter(source, doc.GetAllocator());
    try {
      if (auto s = converter.convert(node, doc); !s) return s.error();
    } catch (const YAML::Exception& e) {
      return yaml_error(source, e.mark, "invalid YAML: " + e.msg);
    }
    documents.push_back(std::move(doc));
  }
  return documents;
}

Result<std::vector<rapidjson::Document>> json_stream(std::string_view text, std::string_view source) {
  const std::string owned(text);  // StringStream reads up to a NUL
  std::vector<rapidjson::Document> documents;
  std::size_t offset = 0;
  for (;;) {
    offset = owned.find_first_not_of(" \t\r\n", offset);
    if (offset == std::string::npos) break;
    rapidjson::StringStream stream(owned.c_str() + offset);
    rapidjson::Document doc;
    doc.ParseStream<rapidjson::kParseStopWhenDoneFlag | rapidjson::kParseFullPrecisionFlag>(stream);
    if (doc.HasParseError()) {
      const std::size_t at = offset + doc.GetErrorOffset();
      const std::size_t line_start = owned.rfind('\n', at == 0 ? 0 : at - 1);
      const std::size_t line = static_cast<std::size_t>(std::count(
                                   owned.begin(), owned.begin() + static_cast<std::ptrdiff_t>(at), '\n')) +
                               1;
      const std::size_t column = line_start == std::string::npos ? at + 1 : at - line_start;
      return Error{located(source, line, column,
                           std::string("invalid JSON: ") + rapidjson::GetParseError_En(doc.GetParseError()))};
    }
    offset += stream.Tell();
    documents.push_back(std::move(doc));
  }
  return documents;
}

std::string to_yaml(const rapidjson::Value& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  emit(out, value);
  std::string text = out.c_str();
  if (!text.ends_with('\n')) text += '\n';
  return text;
}

Result<std::string> to_pretty_json(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
  writer.SetIndent(' ', 2);
  if (!value.Accept(writer)) return Error{"a YAML .inf or .nan has no JSON form (write it as YAML)"};
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

}  // namespace shmlog::inject
