#include "inject/manifest_io.hpp"

#include "inject/yaml_json.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <system_error>

namespace shmlog::inject {
namespace {

namespace fs = std::filesystem;

bool is_manifest_name(const fs::path& path) {
  const std::string ext = path.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

Status add_directory(const fs::path& dir, bool recursive, std::vector<std::string>& out) {
  std::error_code ec;
  std::vector<fs::directory_entry> entries;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) entries.push_back(*it);
  if (ec) return Error{"cannot list " + dir.string() + ": " + ec.message()};
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.path().filename() < b.path().filename(); });
  for (const auto& entry : entries) {
    if (entry.is_directory(ec)) {
      if (recursive)
        if (auto s = add_directory(entry.path(), recursive, out); !s) return s;
    } else if (is_manifest_name(entry.path())) {
      out.push_back(entry.path().string());
    }
  }
  return Ok{};
}

}  // namespace

Result<std::vector<std::string>> expand_paths(const std::vector<std::string>& paths, bool recursive) {
  if (paths.empty()) return std::vector<std::string>{"-"};
  std::vector<std::string> files;
  for (const std::string& path : paths) {
    std::error_code ec;
    if (path == "-") {
      files.push_back(path);
    } else if (fs::is_directory(path, ec)) {
      if (auto s = add_directory(path, recursive, files); !s) return s.error();
    } else if (fs::exists(path, ec)) {
      files.push_back(path);
    } else {
      return Error{"cannot read " + path + ": " + (ec ? ec.message() : std::strerror(ENOENT))};
    }
  }
  return files;
}

Result<Manifest> parse_manifest(std::string_view text, std::string source) {
  Manifest manifest;
  manifest.source = std::move(source);
  const auto first = text.find_first_not_of(" \t\r\n");
  const bool json = first != std::string_view::npos && (text[first] == '{' || text[first] == '[');
  manifest.format = json ? Format::json : Format::yaml;
  auto documents = json ? json_stream(text, manifest.source) : yaml_to_json(text, manifest.source);
  if (!documents) return documents.error();
  manifest.documents = std::move(*documents);
  return manifest;
}

Result<Manifest> read_manifest(const std::string& path) {
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    if (std::cin.bad()) return Error{"cannot read stdin"};
    return parse_manifest(text, "<stdin>");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{"cannot read " + path + ": " + std::strerror(errno)};
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) return Error{"cannot read " + path + ": " + std::strerror(errno)};
  return parse_manifest(content.str(), path);
}

bool is_list(const rapidjson::Value& object) {
  if (!object.IsObject()) return false;
  auto kind = object.FindMember("kind");
  auto items = object.FindMember("items");
  if (kind == object.MemberEnd() || !kind->value.IsString() || items == object.MemberEnd() ||
      !items->value.IsArray())
    return false;
  const std::string_view k(kind->value.GetString(), kind->value.GetStringLength());
  return k.ends_with("List");
}

Result<std::string> write_documents(const std::vector<const rapidjson::Value*>& documents, Format format) {
  std::string out;
  for (std::size_t i = 0; i < documents.size(); ++i) {
    if (format == Format::yaml) {
      if (i > 0) out += "---\n";
      out += to_yaml(*documents[i]);
    } else {
      auto json = to_pretty_json(*documents[i]);
      if (!json) return json.error();
      out += *json;
    }
  }
  return out;
}

}  // namespace shmlog::inject
