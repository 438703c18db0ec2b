// shmlog-fuzz-make-corpus <dir> [--full] [--no-raw]: writes fuzzer seeds made by libshm (see
// corpus_gen.hpp). tests/fuzz/corpus/ is its output without --full.
#include "corpus_gen.hpp"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <dir> [--full] [--no-raw]\n", argv[0]);
    return 2;
  }
  shmlog::fuzz::SeedOptions options;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--full") == 0) {
      options.full_rings = true;
    } else if (std::strcmp(argv[i], "--no-raw") == 0) {
      options.raw_images = false;
    } else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(argv[1], ec);
  std::string error;
  const long n = shmlog::fuzz::make_seeds(argv[1], options, error);
  if (n < 0) {
    std::fprintf(stderr, "shmlog-fuzz-make-corpus: %s\n", error.c_str());
    return 1;
  }
  std::printf("%ld seeds in %s\n", n, argv[1]);
  return 0;
}
