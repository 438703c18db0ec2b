// shmlog-loadgen: a known set of records, written through libshm by several processes and
// threads, for the tests that check what the sidecar delivers (every id once, in order).
//
//   SHMLOG_DIR=/tmp/rings shmlog-loadgen --processes 2 --threads 4 --records 1000000 --rate 50000
//
// The parent forks P children before any logging, so each child starts libshm itself and gets
// a ring file of its own; each child runs T threads. Which thread writes which record, and the
// id it carries in context.id, is the rule in loadgen_ids.hpp. Every record is the benchmark's
// call: info("Logging int: {}, int: {}, double: {}", i, j, d) plus kv("id", ...). When all
// children are done the parent prints one JSON line:
//   {"records":N,"processes":P,"threads":T,"seconds":S,"records_per_s":R,"dropped":D}
// `seconds` runs from the moment the children are released to the last record written (ring
// set-up and the final flush are outside it); `dropped` is what the children's rings counted.
#include "loadgen_ids.hpp"

#include <shmlog/config.hpp>
#include <shmlog/logger.hpp>
#include <shmlog/reader.hpp>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace {

using Clock = std::chrono::steady_clock;  // CLOCK_MONOTONIC: comparable across the processes

struct Options {
  unsigned processes = 1;
  unsigned threads = 1;
  std::uint64_t records = 0;
  double rate = 0;  // records per second over all threads; 0: as fast as possible
  std::string service = "shmlog-loadgen";
  std::string overflow;  // empty: what SHMLOG_OVERFLOW says
  std::uint32_t payload_bytes = 0;
  std::uint64_t seed = 1;
  std::uint32_t flush_ms = 1000;
};

// What a child sends its parent through a pipe when it is done (one write, under PIPE_BUF).
struct ChildReport {
  std::uint64_t dropped = 0;
  std::int64_t start_ns = 0;  // steady_clock, when released
  std::int64_t end_ns = 0;    // after its last record
  bool drained = false;       // a consumer took everything before the flush timed out
};

std::int64_t steady_ns(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// Random letters and digits, so a payload compresses like text rather than like a run of 'x'.
std::string make_payload(std::size_t bytes, std::mt19937_64& rng) {
  static constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s(bytes, ' ');
  for (char& c : s) c = kAlphabet[rng() % kAlphabet.size()];
  return s;
}

// One thread's share: the records of (p, t) in counter order, each at its absolute deadline
// when paced, so a late wake-up is caught up rather than carried forward.
void write_records(const Options& options, const shmlog::loadgen::Split& split, unsigned p, unsigned t,
                   Clock::time_point start) {
  const shmlog::Logger log{"loadgen"};
  std::seed_seq seeds{static_cast<std::uint32_t>(options.seed),
                      static_cast<std::uint32_t>(options.seed >> 32), p, t};
  std::mt19937_64 rng(seeds);
  std::uniform_real_distribution<double> real(0.0, 1000.0);
  const std::string payload = make_payload(options.payload_bytes, rng);
  const double per_thread_rate = options.rate / (static_cast<double>(split.processes) * split.threads);
  char id_buf[shmlog::loadgen::kMaxIdBytes];
  for (std::uint64_t i = 0, n = split.per_thread(p, t); i < n; ++i) {
    if (per_thread_rate > 0)
      std::this_thread::sleep_until(
          start + std::chrono::duration_cast<Clock::duration>(
                      std::chrono::duration<double>(static_cast<double>(i) / per_thread_rate)));
    const std::string_view id = shmlog::loadgen::format_id(id_buf, p, t, i);
    const std::uint64_t j = rng();
    const double d = real(rng);
    if (payload.empty())
      log.info("Logging int: {}, int: {}, double: {}", i, j, d, shmlog::kv("id", id));
    else
      log.info("Logging int: {}, int: {}, double: {}", i, j, d, shmlog::kv("id", id),
               shmlog::kv("payload", std::string_view(payload)));
  }
}

// Drops of every level in every lane of this process's ring. Read after the threads have
// joined, so each lane owner's last counts are visible.
shmlog::Result<std::uint64_t> count_dropped(const std::string& ring) {
  auto reader = shmlog::RingReader::open(ring, shmlog::OpenMode::observer);
  if (!reader) return reader.error();
  std::uint64_t dropped = 0;
  for (std::uint32_t lane = 0; lane < reader.value()->info().lane_count; ++lane)
    for (const std::uint64_t n : reader.value()->lane_state(lane).dropped) dropped += n;
  return dropped;
}

bool write_all(int fd, const void* data, std::size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// Reads exactly `size` bytes; false at end of file or on an error.
bool read_all(int fd, void* data, std::size_t size) {
  auto* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = ::read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// The child's whole life: its own ring, wait for the go, T threads, count, flush, shut down.
// Returns the exit status.
int run_child(const Options& options, const shmlog::Config& config, unsigned p, int go_fd, int report_fd) {
  if (auto st = shmlog::init(config); !st) {
    std::fprintf(stderr, "shmlog-loadgen: child %u: %s\n", p, st.error().message.c_str());
    return 3;
  }
  const std::string ring = shmlog::ring_path();
  if (ring.empty()) {  // the library fell back (and said why on stderr): the records would not be in a ring
    std::fprintf(stderr, "shmlog-loadgen: child %u: no ring file in %s\n", p, config.dir.c_str());
    return 3;
  }
  char go = 0;
  while (::read(go_fd, &go, 1) < 0 && errno == EINTR) {
  }  // end of file: the parent has forked every child

  const shmlog::loadgen::Split split{options.processes, options.threads, options.records};
  ChildReport report;
  const auto start = Clock::now();
  report.start_ns = steady_ns(start);
  std::vector<std::thread> threads;
  threads.reserve(options.threads);
  for (unsigned t = 0; t < options.threads; ++t)
    threads.emplace_back([&options, &split, p, t, start] { write_records(options, split, p, t, start); });
  for (std::thread& th : threads) th.join();
  report.end_ns = steady_ns(Clock::now());

  auto dropped = count_dropped(ring);
  if (!dropped) {
    std::fprintf(stderr, "shmlog-loadgen: child %u: cannot read drop counts: %s\n", p,
                 dropped.error().message.c_str());
    return 3;
  }
  report.dropped = dropped.value();
  report.drained = shmlog::flush(std::chrono::milliseconds(options.flush_ms));
  shmlog::shutdown();
  if (!write_all(report_fd, &report, sizeof report)) {
    std::fprintf(stderr, "shmlog-loadgen: child %u: cannot report to the parent: %s\n", p,
                 std::strerror(errno));
    return 3;
  }
  return 0;
}

struct Child {
  pid_t pid = -1;
  int report_fd = -1;
};

// Parses the flags into `options` and the library settings (environment, then flags) into
// `config`. Returns an exit status to end with, or -1 to go on.
int parse(int argc, char** argv, Options& options, shmlog::Config& config) {
  CLI::App app{"shmlog-loadgen: writes a known set of records through libshm from P processes x T threads"};
  app.add_option("--processes", options.processes, "Child processes, each with its own ring")
      ->required()
      ->check(CLI::Range(1u, 1024u));
  app.add_option("--threads", options.threads, "Threads per child process")
      ->required()
      ->check(CLI::Range(1u, 1024u));
  app.add_option("--records", options.records, "Records in all, split over every thread")
      ->required()
      ->check(CLI::PositiveNumber);
  app.add_option("--rate", options.rate, "Records per second over all threads (0: as fast as possible)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--service", options.service, "The records' service and the ring files' name")
      ->capture_default_str();
  app.add_option("--overflow", options.overflow,
                 "What a full lane does: drop the record, or block (wait up to SHMLOG_OVERFLOW's bound, "
                 "10ms by default); default: SHMLOG_OVERFLOW")
      ->check(CLI::IsMember({"drop", "block"}));
  app.add_option("--payload-bytes", options.payload_bytes,
                 "Adds a random string of this many bytes to each record's context (as `payload`)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 1u << 20));
  app.add_option("--seed", options.seed, "Seeds the records' random values and payloads")
      ->capture_default_str();
  app.add_option("--flush-ms", options.flush_ms,
                 "How long each child waits for a consumer to take its records before it exits")
      ->capture_default_str()
      ->check(CLI::Range(0u, 600'000u));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  auto from_env = shmlog::Config::from_env();
  if (!from_env) {
    std::fprintf(stderr, "shmlog-loadgen: %s\n", from_env.error().message.c_str());
    return 2;
  }
  config = from_env.value();
  config.service = options.service;
  if (options.overflow == "drop") config.overflow = shmlog::OverflowPolicy::drop;
  if (options.overflow == "block") config.overflow = shmlog::OverflowPolicy::block;
  // The records are INFO: a higher SHMLOG_LEVEL would make the whole run write nothing.
  if (config.level > shmlog::Level::info) config.level = shmlog::Level::info;
  if (auto st = config.validate(); !st) {
    std::fprintf(stderr, "shmlog-loadgen: %s\n", st.error().message.c_str());
    return 2;
  }
  return -1;
}

// Waits for `child`; says why on stderr and returns false if it did not end well.
bool reap(unsigned p, const Child& child, ChildReport& report) {
  const bool reported = read_all(child.report_fd, &report, sizeof report);
  ::close(child.report_fd);
  int status = 0;
  while (::waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) {
    std::fprintf(stderr, "shmlog-loadgen: child %u (pid %d) was killed by signal %d\n", p, child.pid,
                 WTERMSIG(status));
    return false;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "shmlog-loadgen: child %u (pid %d) failed with exit status %d\n", p, child.pid,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return false;
  }
  if (!reported) {
    std::fprintf(stderr, "shmlog-loadgen: child %u (pid %d) exited without reporting\n", p, child.pid);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  shmlog::Config config;
  if (const int status = parse(argc, argv, options, config); status >= 0) return status;

  // Children inherit the go pipe's read end and block on it until the parent closes the write
  // end, so all of them start writing together, after every ring is set up.
  int go[2];
  if (::pipe(go) != 0) {
    std::fprintf(stderr, "shmlog-loadgen: pipe: %s\n", std::strerror(errno));
    return 1;
  }
  std::fflush(nullptr);  // nothing buffered may be written twice by the children
  std::vector<Child> children;
  for (unsigned p = 0; p < options.processes; ++p) {
    int report[2];
    if (::pipe(report) != 0) {
      std::fprintf(stderr, "shmlog-loadgen: pipe: %s\n", std::strerror(errno));
      for (const Child& c : children) ::kill(c.pid, SIGKILL);
      for (const Child& c : children) ::waitpid(c.pid, nullptr, 0);
      return 1;
    }
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(go[1]);
      ::close(report[0]);
      const int status = run_child(options, config, p, go[0], report[1]);
      std::fflush(nullptr);
      ::_exit(status);  // not exit(): the parent's atexit handlers and buffers are not the child's
    }
    ::close(report[1]);
    if (pid < 0) {
      std::fprintf(stderr, "shmlog-loadgen: fork: %s\n", std::strerror(errno));
      ::close(report[0]);
      for (const Child& c : children) ::kill(c.pid, SIGKILL);
      for (const Child& c : children) ::waitpid(c.pid, nullptr, 0);
      return 1;
    }
    children.push_back(Child{pid, report[0]});
  }
  ::close(go[0]);
  ::close(go[1]);  // go

  bool ok = true;
  std::uint64_t dropped = 0;
  unsigned not_drained = 0;
  std::int64_t start_ns = std::numeric_limits<std::int64_t>::max();
  std::int64_t end_ns = std::numeric_limits<std::int64_t>::min();
  for (unsigned p = 0; p < children.size(); ++p) {
    ChildReport report;
    if (!reap(p, children[p], report)) {
      ok = false;
      continue;
    }
    dropped += report.dropped;
    not_drained += report.drained ? 0 : 1;
    start_ns = std::min(start_ns, report.start_ns);
    end_ns = std::max(end_ns, report.end_ns);
  }
  if (!ok) return 1;
  if (not_drained > 0)
    std::fprintf(stderr,
                 "shmlog-loadgen: %u of %u rings not drained within %u ms (is a consumer running?); "
                 "their records stay committed in the ring files\n",
                 not_drained, options.processes, options.flush_ms);

  const double seconds = static_cast<double>(end_ns - start_ns) / 1e9;
  std::printf(
      "{\"records\":%llu,\"processes\":%u,\"threads\":%u,\"seconds\":%.6f,\"records_per_s\":%.1f,"
      "\"dropped\":%llu}\n",
      static_cast<unsigned long long>(options.records), options.processes, options.threads, seconds,
      seconds > 0 ? static_cast<double>(options.records) / seconds : 0.0,
      static_cast<unsigned long long>(dropped));
  return 0;
}
