// fuzz_ring_reader: libFuzzer target for everything that reads a ring file (RingReader in both
// modes, the decoder, the site registry, the JSON formatter).
//
// Two kinds of input share one corpus:
//   - raw: the input is the whole ring file (real rings from libshm are seeds);
//   - structured (first byte kStructuredTag): the input fills a valid small layout, see
//     structured.hpp, so mutations land in records and registry entries, not in the header.
//
// A read outside the file's mapping must crash, not go unnoticed: every file mapping made by the
// reader (Boost maps with mmap) gets PROT_NONE guard pages on both sides (-Wl,--wrap=mmap).
#include "exercise.hpp"
#include "structured.hpp"

#include <shmlog/ring_format.hpp>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

// ---- guard pages around file mappings ----

extern "C" void* __real_mmap(void* addr, std::size_t len, int prot, int flags, int fd, off_t off);
extern "C" int __real_munmap(void* addr, std::size_t len);

namespace {

struct Guarded {
  void* mapping;
  void* base;
  std::size_t total;
};
Guarded g_guarded[64];  // the reader holds one mapping at a time; a few spare

std::size_t page_size() {
  static const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

}  // namespace

extern "C" void* __wrap_mmap(void* addr, std::size_t len, int prot, int flags, int fd, off_t off) {
  if (fd < 0 || addr != nullptr || (flags & MAP_FIXED) != 0 || len == 0)
    return __real_mmap(addr, len, prot, flags, fd, off);
  const std::size_t page = page_size();
  const std::size_t total = (len + page - 1) / page * page + 2 * page;
  void* base = __real_mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) return base;
  void* p = __real_mmap(static_cast<char*>(base) + page, len, prot, flags | MAP_FIXED, fd, off);
  if (p == MAP_FAILED) {
    __real_munmap(base, total);
    return p;
  }
  for (auto& g : g_guarded) {
    if (g.mapping == nullptr) {
      g = {p, base, total};
      return p;
    }
  }
  std::fprintf(stderr, "fuzz_ring_reader: more than 64 live file mappings\n");
  std::abort();
}

extern "C" int __wrap_munmap(void* addr, std::size_t len) {
  for (auto& g : g_guarded) {
    if (g.mapping == addr && addr != nullptr) {
      const int rc = __real_munmap(g.base, g.total);
      g = {};
      return rc;
    }
  }
  return __real_munmap(addr, len);
}

// ---- the target ----

namespace {

std::string g_dir;
std::string g_path;

void remove_dir() {
  std::error_code ec;
  std::filesystem::remove_all(g_dir, ec);
}

// Directories of fuzzer processes that died without cleaning up (a crash, or libFuzzer's -fork
// children) are named after their pid: remove those whose process is gone.
void remove_stale_dirs(const std::string& base) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(base, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("shmlog-fuzz.")) continue;
    char* end = nullptr;
    const long pid = std::strtol(name.c_str() + 12, &end, 10);  // "shmlog-fuzz.<pid>.XXXXXX"
    if (pid > 0 && *end == '.' && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
      std::filesystem::remove_all(entry.path(), ec);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* tmp = std::getenv("TMPDIR");
  const std::string base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (tmp && *tmp ? tmp : "/tmp");
  remove_stale_dirs(base);
  std::string pattern = base + "/shmlog-fuzz." + std::to_string(::getpid()) + ".XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  g_dir = pattern;
  g_path = g_dir + "/input" + shmlog::ring::kFileSuffix;
  std::atexit(remove_dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string image;
  bool hold_lock = false;
  if (size > 0 && data[0] == shmlog::fuzz::kStructuredTag) {
    const auto spec = shmlog::fuzz::decode(data + 1, size - 1);
    image = shmlog::fuzz::ring_image(spec);
    hold_lock = (spec.control.flags & shmlog::fuzz::kHoldWriterLock) != 0;
  } else {
    image.assign(reinterpret_cast<const char*>(data), size);
  }
  const int fd = ::open(g_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0660);
  if (fd < 0 || ::write(fd, image.data(), image.size()) != static_cast<ssize_t>(image.size())) {
    std::perror("fuzz_ring_reader: writing the input file");
    std::abort();
  }
  if (hold_lock) {  // as a live writer does: the reader must see it alive
    flock lock{};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    lock.l_start = shmlog::ring::kWriterLockByte;
    lock.l_len = 1;
    (void)::fcntl(fd, F_OFD_SETLK, &lock);
  }
  shmlog::fuzz::Findings findings;
  shmlog::fuzz::exercise_ring(g_path, findings);
  ::close(fd);
  ::unlink(g_path.c_str());
  if (!findings.problems.empty()) {
    for (const auto& p : findings.problems) std::fprintf(stderr, "fuzz_ring_reader: %s\n", p.c_str());
    std::abort();
  }
  return 0;
}
