// Runs every read path of the ring reader over one file, as consumer and as observer, and checks
// what it can about the results: what the fuzz target runs on every input, and what
// test_reader_corpus runs on every corpus file. Whatever the file holds, the reader must answer
// with values and errors, never a crash, a hang or a read outside the mapping.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace shmlog::fuzz {

struct Findings {
  std::vector<std::string> problems;      // broken invariants: a bug in the reader or formatter
  std::vector<std::string> open_errors;   // why the file did not open (one per mode)
  std::vector<std::string> read_errors;   // read_batch / decode / drain errors from the cursors
  std::vector<std::string> probe_errors;  // the same from other positions (need not be records)
  std::string registry_error;
  std::size_t opened = 0;   // modes in which the file opened
  std::size_t records = 0;  // records decoded
  std::size_t lines = 0;    // JSON lines formatted
};

struct ExerciseOptions {
  // Hold the first this many JSON lines against docs/log-record.schema.json (slow).
  std::size_t schema_lines = 16;
};

void exercise_ring(const std::string& path, Findings& findings, const ExerciseOptions& options = {});

}  // namespace shmlog::fuzz
