#include "cli/ring_paths.hpp"

#include <shmlog/reader.hpp>

#include <cerrno>
#include <cstring>
#include <unordered_set>

#include <sys/stat.h>

namespace shmlog::cli {

Result<std::vector<RingSource>> resolve_sources(const std::vector<std::string>& paths) {
  std::vector<RingSource> sources;
  std::string problems;
  for (const std::string& arg : paths) {
    struct stat st {};
    if (::stat(arg.c_str(), &st) != 0) {
      problems += (problems.empty() ? "" : "\n") + arg + ": " + std::strerror(errno);
      continue;
    }
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
      problems += (problems.empty() ? "" : "\n") + arg + ": neither a ring file nor a directory";
      continue;
    }
    std::string path = arg;
    // list_rings joins with '/': "dir/" would give "dir//x.ring".
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    sources.push_back({std::move(path), S_ISDIR(st.st_mode)});
  }
  if (!problems.empty()) return Error{problems};
  return sources;
}

std::vector<RingFile> ring_files(const std::vector<RingSource>& sources, std::vector<Error>& errors) {
  std::vector<RingFile> files;
  std::unordered_set<std::string> seen;
  auto add = [&](std::string path, bool listed) {
    if (seen.insert(path).second) files.push_back({std::move(path), listed});
  };
  for (const RingSource& source : sources) {
    if (!source.directory) {
      add(source.path, false);
      continue;
    }
    auto listed = list_rings(source.path);
    if (!listed) {
      errors.push_back(listed.error());
      continue;
    }
    for (std::string& path : listed.value()) add(std::move(path), true);
  }
  return files;
}

}  // namespace shmlog::cli
