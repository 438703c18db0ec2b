#include "support/test_dir.hpp"

#include <shmlog/logger.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <rapidjson/document.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/wait.h>

namespace shmlog::test {

TempDir::TempDir(const std::string& tag) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/" + tag + ".XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {
std::vector<std::string> read_all(const std::string& path, OpenMode mode) {
  auto reader = RingReader::open(path, mode);
  if (!reader) throw std::runtime_error(reader.error().message);
  std::vector<std::string> lines;
  auto& r = *reader.value();
  for (std::uint32_t lane = 0; lane < r.info().lane_count; ++lane) {
    for (;;) {
      auto n = r.drain(lane, 256, [&](const RecordView& v) {
        std::string line;
        append_json_line(v, r.info(), JsonOptions{}, line);
        line.pop_back();
        lines.push_back(std::move(line));
      });
      if (!n) throw std::runtime_error(n.error().message);
      if (*n == 0) break;
    }
  }
  return lines;
}
}  // namespace

std::vector<std::string> drain_lines(const std::string& path) {
  return read_all(path, OpenMode::consumer);
}
std::vector<std::string> peek_lines(const std::string& path) {
  return read_all(path, OpenMode::observer);
}

std::string schema_error(const std::string& line) {
  static rapidjson::SchemaDocument* schema = [] {
    rapidjson::Document d;
    d.Parse(read_file(SHMLOG_SCHEMA_PATH).c_str());
    if (d.HasParseError()) throw std::runtime_error("docs/log-record.schema.json does not parse");
    return new rapidjson::SchemaDocument(d);
  }();
  rapidjson::Document doc;
  doc.Parse(line.c_str());
  if (doc.HasParseError()) return "not JSON: " + line;
  rapidjson::SchemaValidator validator(*schema);
  if (doc.Accept(validator)) return {};
  rapidjson::StringBuffer schema_at, doc_at;
  validator.GetInvalidSchemaPointer().StringifyUriFragment(schema_at);
  validator.GetInvalidDocumentPointer().StringifyUriFragment(doc_at);
  return std::string("schema violation: keyword '") + validator.GetInvalidSchemaKeyword() + "' at schema " +
         schema_at.GetString() + ", document " + doc_at.GetString() + " in " + line;
}

Config test_config() {
  Config c;
  c.level = Level::trace;
  c.lanes = 4;
  c.ring_bytes = 4 * 65536;
  c.service = "unit-test";
  return c;
}

std::string start_ring(const TempDir& dir, Config config) {
  config.dir = dir.path();
  if (auto ok = init(config); !ok) throw std::runtime_error(ok.error().message);
  std::string path = ring_path();
  if (path.empty()) throw std::runtime_error("init gave no ring in " + dir.path());
  return path;
}

std::string field(const std::string& line, const char* key) {
  rapidjson::Document d;
  d.Parse(line.c_str());
  if (d.HasParseError() || !d.IsObject()) throw std::runtime_error("not a JSON object: " + line);
  // Nested keys as "a.b".
  const rapidjson::Value* v = &d;
  std::string path = key;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!v->IsObject() || !v->HasMember(part.c_str())) return {};
    v = &(*v)[part.c_str()];
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (v->IsString()) return v->GetString();
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v->Accept(w);
  return sb.GetString();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::string quoted(const std::string& s) {
  return "'" + s + "'";
}

CommandRun run_command(const std::string& command_line, const TempDir& scratch) {
  const std::string err_path = scratch.file("command-stderr.txt");
  const std::string command = command_line + " 2>" + quoted(err_path);
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed for: " + command);
  CommandRun run;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) run.out.append(buf, n);
  const int status = ::pclose(pipe);
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.err = read_file(err_path);
  return run;
}

}  // namespace shmlog::test
