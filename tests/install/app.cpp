// Built against an installed shmlog by tests/install/run.sh, once through find_package and once
// through pkg-config: if it compiles, links and logs to a ring, the package is complete.
#include <shmlog/logger.hpp>

#include <chrono>
#include <cstdio>
#include <string_view>

int main() {
  shmlog::Logger log{"install-test"};
  log.info("hello {} from {}", 42, "installed package");
  shmlog::flush(std::chrono::milliseconds(10));  // no sidecar here: returns after the timeout

  const std::string_view sink = shmlog::sink_name();
  if (sink == "ring") return 0;
  std::fprintf(stderr, "install-test: records went to \"%.*s\", expected \"ring\"\n",
               static_cast<int>(sink.size()), sink.data());
  return 1;
}
