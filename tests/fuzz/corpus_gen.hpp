// Seeds for the ring reader fuzzer, made by libshm itself: each scenario runs in a forked child
// that logs into a real ring; its records and registry are then laid into the fuzzer's small
// structured layout (structured.hpp), once from lane offset 0 and once wrapping round the lane
// end. tests/fuzz/corpus/ holds what `shmlog-fuzz-make-corpus <dir>` writes; the fuzz run and
// test_reader_corpus also make fresh ones, with the full real ring files, at test time.
#pragma once

#include <cstddef>
#include <string>

namespace shmlog::fuzz {

struct SeedOptions {
  bool raw_images = true;   // also each scenario's ring image as a raw-mode seed
  bool full_rings = false;  // also the untouched ring files libshm wrote (~72 KiB each)
};

// Writes the seeds into `dir` (which must exist). Returns how many, or -1 with `error` set.
long make_seeds(const std::string& dir, const SeedOptions& options, std::string& error);

}  // namespace shmlog::fuzz
