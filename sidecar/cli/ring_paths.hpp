// Turning the PATH arguments of `shmlog ring ...` into ring files: a PATH is a ring file (any
// name) or a directory, whose *.ring files are read (shmlog::list_rings).
#pragma once

#include <shmlog/result.hpp>

#include <string>
#include <vector>

namespace shmlog::cli {

struct RingSource {
  std::string path;
  bool directory = false;
};

// Checks that every PATH exists and is a file or a directory. The error names every PATH that
// is not, one per line; the commands treat it as a usage error (kExitUsage).
Result<std::vector<RingSource>> resolve_sources(const std::vector<std::string>& paths);

struct RingFile {
  std::string path;
  // Found by listing a directory: such a file may vanish at any moment (the sidecar removes a
  // ring once it is drained), which is not an error.
  bool listed = false;
};

// The ring files the sources name now: in argument order, each directory's sorted, no
// duplicates. A directory that cannot be listed adds an error and contributes nothing.
std::vector<RingFile> ring_files(const std::vector<RingSource>& sources, std::vector<Error>& errors);

}  // namespace shmlog::cli
