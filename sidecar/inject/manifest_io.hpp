// Manifests in and out: which files a command line names (files, directories, stdin), each read
// as YAML or JSON, and the documents written back in one format.
#pragma once

#include <shmlog/result.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

namespace shmlog::inject {

enum class Format { yaml, json };

// One input: its documents in order (empty documents are not kept).
struct Manifest {
  std::string source;  // the path, or "<stdin>"
  Format format = Format::yaml;
  std::vector<rapidjson::Document> documents;
};

// The files `paths` stand for, in order: a file as given, "-" for stdin, a directory's *.yaml,
// *.yml and *.json sorted by name (its subdirectories' too, depth first, when `recursive`). No
// paths: stdin. An error names a path that does not exist or cannot be listed.
Result<std::vector<std::string>> expand_paths(const std::vector<std::string>& paths, bool recursive);

// Reads and parses one input ("-": stdin). JSON when the first non-space byte is '{' or '[',
// else YAML. An error names the file (and line and column for a syntax error).
Result<Manifest> read_manifest(const std::string& path);
Result<Manifest> parse_manifest(std::string_view text, std::string source);

// A List (kind "List" or "<Kind>List") with an items array: the objects to look at are its items.
bool is_list(const rapidjson::Value& object);

// The documents as one stream in `format`: YAML documents separated by "---", JSON values one
// after another (both are what kubectl apply -f - reads). Fails only for JSON that cannot hold
// a float (to_pretty_json).
Result<std::string> write_documents(const std::vector<const rapidjson::Value*>& documents, Format format);

}  // namespace shmlog::inject
