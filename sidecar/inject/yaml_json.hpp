// Manifests as text <-> RapidJSON documents, so the injector sees one object model whatever the
// user wrote. YAML goes through yaml-cpp, which keeps the key order of the input but drops its
// comments (it has no comment model); JSON through RapidJSON.
#pragma once

#include <shmlog/result.hpp>

#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

namespace shmlog::inject {

// Every document of a YAML stream ('---'), empty ones skipped. Plain scalars are typed by the
// YAML 1.1 as kubectl reads it (null/~/empty; true/false/yes/no/on/off/y/n; ints incl.
// 0x, 0b, 0o and octal 0644, with _ separators; floats incl. .inf/.nan);
// quoted and block scalars stay strings; "<<" merge keys are applied. An error names `source`,
// the line and the column.
Result<std::vector<rapidjson::Document>> yaml_to_json(std::string_view text, std::string_view source);

// Every value of a JSON stream (kubectl reads concatenated values too); errors as above.
Result<std::vector<rapidjson::Document>> json_stream(std::string_view text, std::string_view source);

// One document as block YAML, ending in a newline (no '---'). Strings that a YAML 1.1 reader
// (kubectl's sigs.k8s.io/yaml) would take for another type are double-quoted, multi-line ones
// written as literal blocks where that round-trips.
std::string to_yaml(const rapidjson::Value& value);

// One value as kubectl -o json writes it: 2-space indent, a newline at the end. The one error: a
// float that JSON cannot hold (YAML's .inf, .nan).
Result<std::string> to_pretty_json(const rapidjson::Value& value);

// True when a YAML 1.1 reader would not read `text`, written plain, as this string ("yes", "on",
// "1.5", "0x10", "2024-01-01", "~", "", ...). Quoting more than needed is harmless; less is not.
bool needs_quotes_for_yaml11(std::string_view text);

}  // namespace shmlog::inject
