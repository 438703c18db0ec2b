// Helpers shared by the tests: fresh directories, reading rings back, schema validation.
#pragma once

#include <shmlog/config.hpp>
#include <shmlog/json_line.hpp>
#include <shmlog/reader.hpp>

#include <string>
#include <vector>

namespace shmlog::test {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "shmlog-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Takes every committed record of every lane of the ring at `path` (consumer mode) and returns
// them as JSON lines.
std::vector<std::string> drain_lines(const std::string& path);
// The same, decoded views copied out as JSON too, but read as an observer (nothing taken).
std::vector<std::string> peek_lines(const std::string& path);

// Validates one JSON line against docs/log-record.schema.json; empty string when valid, else why.
std::string schema_error(const std::string& line);

// Opens a fresh ring for this process in `dir` (shmlog::init) with the defaults of a test: level
// TRACE, 4 lanes of 64 KiB unless `config` says otherwise. Returns the ring's path.
Config test_config();
std::string start_ring(const TempDir& dir, Config config = test_config());

// Parses a JSON line; throws with the line in the message if it is not JSON.
std::string field(const std::string& line, const char* key);  // a string or number as text, "" if absent

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& content);

// A word in single quotes for the shell.
std::string quoted(const std::string& s);
// What a command line run through the shell gave: exit status (-1 when killed by a signal),
// stdout, and stderr (through a file in `scratch`).
struct CommandRun {
  int status = -1;
  std::string out;
  std::string err;
};
CommandRun run_command(const std::string& command_line, const TempDir& scratch);

}  // namespace shmlog::test
