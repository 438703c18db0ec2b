// shmlog-test-producer: a real app process for the multi-process tests. It initialises libshm
// from its arguments (never from SHMLOG_* variables, unless --export-env), logs the records of
// record_pattern.hpp from several threads, and tells its parent how far it got on stdout, one
// line per event:
//
//   ring <path>        the ring file, right after init
//   ready              every thread has logged --ready-after records
//   done               every thread has logged --count records
//   stalled            thread 0 is stuck in the middle of a record (--fault-after)
//   child <pid> ring <path>, parent-done     --fork
//
// It exits after "done" (or hangs with --then hang, to be killed) and never exits when --count
// is 0. Lines are written with one write(2) each, so lines from several threads never mix.
#include "record_pattern.hpp"

#include <shmlog/config.hpp>
#include <shmlog/logger.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

namespace {

using shmlog::kv;
using shmlog::test::kRecordFormat;

enum class Then { exit, shutdown, hang };

struct Options {
  std::string dir;
  std::string service = "producer";
  std::uint64_t ring_bytes = 1 << 20;
  std::uint32_t lanes = 8;
  shmlog::OverflowPolicy overflow = shmlog::OverflowPolicy::drop;
  std::chrono::milliseconds block_timeout{1000};
  std::uint32_t threads = 1;
  std::uint64_t count = 0;       // per thread; 0: until killed
  std::size_t payload = 0;       // bytes of the pad string
  std::uint32_t max_string = 0;  // Config::max_string_bytes; 0: the default
  std::uint64_t ready_after = 1;
  std::uint64_t fault_after = ~std::uint64_t{0};  // thread 0 stalls inside record n (SIGSEGV)
  std::uint64_t flush_every = 0;                  // flush() every n records (a consumer must run)
  bool slow_copy = false;                         // strings are copied one page fault at a time
  std::uint32_t interval_us = 0;                  // pause between records
  bool rich = false;
  bool debug_too = false;  // also a DEBUG record after each one (the level control test)
  Then then = Then::exit;
  bool fork = false;        // log, fork, log in both (see run_fork)
  bool child_logs = true;   // --fork: the child logs too
  bool fork_busy = false;   // --fork: a second parent thread logs while the process forks
  bool export_env = false;  // also put the settings in SHMLOG_* variables
};

void say(const std::string& line) {
  std::string s = line + "\n";
  // One write per line; a full pipe only delays us.
  const char* p = s.data();
  std::size_t left = s.size();
  while (left > 0) {
    ssize_t n = ::write(STDOUT_FILENO, p, left);
    if (n <= 0) return;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(stderr, "shmlog-test-producer: %s\n", problem.c_str());
  std::exit(2);
}

std::uint64_t number(std::string_view flag, const char* text) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0') usage(std::string(flag) + ": not a number: " + text);
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(std::string(a) + " needs a value");
      return argv[++i];
    };
    if (a == "--dir") {
      o.dir = value();
    } else if (a == "--service") {
      o.service = value();
    } else if (a == "--ring-bytes") {
      auto n = shmlog::parse_bytes(value());
      if (!n) usage("--ring-bytes: " + n.error().message);
      o.ring_bytes = *n;
    } else if (a == "--lanes") {
      o.lanes = static_cast<std::uint32_t>(number(a, value()));
    } else if (a == "--overflow") {
      std::string_view v = value();
      if (v == "drop")
        o.overflow = shmlog::OverflowPolicy::drop;
      else if (v == "block")
        o.overflow = shmlog::OverflowPolicy::block;
      else
        usage("--overflow: drop or block");
    } else if (a == "--block-timeout-ms") {
      o.block_timeout = std::chrono::milliseconds(number(a, value()));
    } else if (a == "--threads") {
      o.threads = static_cast<std::uint32_t>(number(a, value()));
    } else if (a == "--count") {
      o.count = number(a, value());
    } else if (a == "--payload") {
      o.payload = number(a, value());
    } else if (a == "--max-string") {
      o.max_string = static_cast<std::uint32_t>(number(a, value()));
    } else if (a == "--ready-after") {
      o.ready_after = number(a, value());
    } else if (a == "--fault-after") {
      o.fault_after = number(a, value());
    } else if (a == "--flush-every") {
      o.flush_every = number(a, value());
    } else if (a == "--interval-us") {
      o.interval_us = static_cast<std::uint32_t>(number(a, value()));
    } else if (a == "--slow-copy") {
      o.slow_copy = true;
    } else if (a == "--rich") {
      o.rich = true;
    } else if (a == "--debug-too") {
      o.debug_too = true;
    } else if (a == "--then") {
      std::string_view v = value();
      if (v == "exit")
        o.then = Then::exit;
      else if (v == "shutdown")
        o.then = Then::shutdown;
      else if (v == "hang")
        o.then = Then::hang;
      else
        usage("--then: exit, shutdown or hang");
    } else if (a == "--fork") {
      o.fork = true;
    } else if (a == "--child-silent") {
      o.child_logs = false;
    } else if (a == "--fork-busy") {
      o.fork_busy = true;
    } else if (a == "--export-env") {
      o.export_env = true;
    } else {
      usage("unknown argument " + std::string(a));
    }
  }
  if (o.dir.empty()) usage("--dir is required");
  if (o.threads == 0) usage("--threads must be at least 1");
  return o;
}

[[noreturn]] void hang() {
  for (;;) ::pause();
}

// --fault-after: the record's string argument runs into a PROT_NONE page, so the producer's copy
// faults in the middle of the record, after its header and first arguments are in the lane and
// before its commit. The handler reports it and parks the thread there until the test kills
// the process: a deterministic "killed mid-record".
//
// --slow-copy: each record's string argument is PROT_NONE when the record is logged, and the
// handler opens one page per fault and lets the copy go on. A record then takes some
// microseconds per page, nearly all of it inside the record, so a kill at a random moment lands
// in the middle of one far more often than with a plain memcpy.
std::atomic<bool> g_slow_copy{false};

extern "C" void on_fault(int, siginfo_t* info, void*) {
  if (g_slow_copy.load(std::memory_order_relaxed)) {
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    auto* at = reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(info->si_addr) & ~(page - 1));
    if (::mprotect(at, page, PROT_READ | PROT_WRITE) == 0) return;  // the copy resumes
  }
  static const char kMsg[] = "stalled\n";
  (void)!::write(STDOUT_FILENO, kMsg, sizeof kMsg - 1);
  hang();
}

void install_fault_handler() {
  struct sigaction sa {};
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGSEGV, &sa, nullptr);
  ::sigaction(SIGBUS, &sa, nullptr);
}

std::size_t page_size() {
  return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

char* map_pages(std::size_t bytes) {
  void* m = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) usage("mmap failed");
  return static_cast<char*>(m);
}

std::string_view faulting_pad(std::uint64_t id, std::size_t bytes) {
  const std::size_t page = page_size();
  const std::size_t readable = (bytes / 2 + page - 1) / page * page;
  const std::size_t total = readable + (bytes - bytes / 2 + page - 1) / page * page;
  char* base = map_pages(total);
  char* start = base + readable - bytes / 2;
  shmlog::test::fill_pad(start, id, bytes / 2);
  if (::mprotect(base + readable, total - readable, PROT_NONE) != 0) usage("mprotect failed");
  install_fault_handler();
  return {start, bytes};
}

// A pad whose pages are closed again before every record (--slow-copy).
class SlowPad {
 public:
  explicit SlowPad(std::size_t bytes)
      : bytes_(bytes),
        mapped_((bytes + page_size() - 1) / page_size() * page_size()),
        base_(bytes != 0 ? map_pages(mapped_) : nullptr) {}
  std::string_view fill(std::uint64_t id) {
    if (::mprotect(base_, mapped_, PROT_READ | PROT_WRITE) != 0) usage("mprotect failed");
    shmlog::test::fill_pad(base_, id, bytes_);
    if (::mprotect(base_, mapped_, PROT_NONE) != 0) usage("mprotect failed");
    return {base_, bytes_};
  }

 private:
  std::size_t bytes_, mapped_;
  char* base_;
};

void log_record(const shmlog::Logger& log, const Options& o, std::uint64_t n, std::uint32_t t,
                std::uint32_t threads, std::string_view pad, std::string_view who) {
  const std::uint64_t id = shmlog::test::record_id(n, t, threads);
  if (!o.rich) {
    log.info(kRecordFormat, n, t, pad, kv("id", id), kv("thread", t), kv("who", who));
    return;
  }
  switch (n % 4) {
    case 0:
      log.info(kRecordFormat, n, t, pad, kv("id", id), kv("thread", t), kv("who", who));
      break;
    case 1:
      log.warning(kRecordFormat, n, t, pad, kv("id", id), kv("thread", t), kv("who", who));
      break;
    case 2: {
      const std::runtime_error e(shmlog::test::rich_exception_what(id));
      log.error(kRecordFormat, n, t, pad, kv("id", id), kv("thread", t), kv("who", who),
                shmlog::exception(e));
      break;
    }
    default:
      log.with_context(kv("tenant", shmlog::test::kRichTenant))
          .critical(kRecordFormat, n, t, pad, kv("id", id), kv("thread", t), kv("who", who));
      break;
  }
}

std::atomic<std::uint32_t> g_ready{0};

void worker(const Options& o, std::uint32_t t) {
  const shmlog::Logger log{shmlog::test::kLoggerName};
  std::string pad(o.payload, '\0');
  SlowPad slow(o.slow_copy ? o.payload : 0);
  for (std::uint64_t n = 0; o.count == 0 || n < o.count; ++n) {
    const std::uint64_t id = shmlog::test::record_id(n, t, o.threads);
    if (t == 0 && n == o.fault_after)
      log_record(log, o, n, t, o.threads, faulting_pad(id, o.payload), "main");
    if (o.slow_copy) {
      log_record(log, o, n, t, o.threads, slow.fill(id), "main");
    } else {
      shmlog::test::fill_pad(pad.data(), id, pad.size());
      log_record(log, o, n, t, o.threads, pad, "main");
    }
    if (o.debug_too) log.debug("debug {} of thread {}", n, t);
    if (n + 1 == o.ready_after && g_ready.fetch_add(1) + 1 == o.threads) say("ready");
    if (o.flush_every != 0 && (n + 1) % o.flush_every == 0) shmlog::flush(std::chrono::seconds(10));
    if (o.interval_us != 0) std::this_thread::sleep_for(std::chrono::microseconds(o.interval_us));
  }
}

// Waits for one byte on `fd`; false after `ms` without one.
bool wait_byte(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, ms) != 1) return false;
  char c = 0;
  return ::read(fd, &c, 1) == 1;
}

// --fork: logs --count records, forks, and both processes log --count more. The child says
// where its ring is and then waits to be killed; the parent waits for that, logs, says
// "parent-done" and exits, leaving the child running.
int run_fork(const Options& o) {
  const shmlog::Logger log{shmlog::test::kLoggerName};
  std::string pad(o.payload, '\0');
  auto log_range = [&](std::uint64_t from, std::uint64_t to, std::uint32_t t, std::string_view who) {
    for (std::uint64_t n = from; n < to; ++n) {
      shmlog::test::fill_pad(pad.data(), shmlog::test::record_id(n, t, 2), pad.size());
      log_record(log, o, n, t, 2, pad, who);
    }
  };
  log_range(0, o.count, 0, "parent");
  std::atomic<bool> stop{false};
  std::thread busy;
  if (o.fork_busy)
    busy = std::thread([&] {
      std::string busy_pad(o.payload, '\0');
      for (std::uint64_t n = 0; !stop.load(); ++n) {
        shmlog::test::fill_pad(busy_pad.data(), shmlog::test::record_id(n, 1, 2), busy_pad.size());
        log_record(log, o, n, 1, 2, busy_pad, "parent");
        if (n % 64 == 0) std::this_thread::yield();
      }
    });
  int sync[2];
  if (::pipe(sync) != 0) usage("pipe failed");
  const pid_t child = ::fork();
  if (child < 0) usage("fork failed");
  if (child == 0) {
    ::close(sync[0]);
    if (o.child_logs) log_range(0, o.count, 0, "child");
    say("child " + std::to_string(::getpid()) + " ring " + shmlog::ring_path());
    (void)!::write(sync[1], "x", 1);
    ::close(sync[1]);
    hang();
  }
  ::close(sync[1]);
  const bool child_ready = wait_byte(sync[0], 20000);
  log_range(o.count, 2 * o.count, 0, "parent");
  stop.store(true);
  if (busy.joinable()) busy.join();
  say(child_ready ? "parent-done" : "parent-done (the child never got ready)");
  return child_ready ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  shmlog::Config config;
  config.dir = o.dir;
  config.service = o.service;
  config.ring_bytes = o.ring_bytes;
  config.lanes = o.lanes;
  config.overflow = o.overflow;
  config.block_timeout = std::chrono::duration_cast<std::chrono::microseconds>(o.block_timeout);
  config.level = shmlog::Level::trace;
  if (o.max_string != 0) config.max_string_bytes = o.max_string;
  if (o.export_env) {
    ::setenv("SHMLOG_DIR", o.dir.c_str(), 1);
    ::setenv("SHMLOG_SERVICE", o.service.c_str(), 1);
    ::setenv("SHMLOG_RING_BYTES", std::to_string(o.ring_bytes).c_str(), 1);
    ::setenv("SHMLOG_LANES", std::to_string(o.lanes).c_str(), 1);
  }
  if (auto st = shmlog::init(config); !st) usage("init: " + st.error().message);
  say("ring " + shmlog::ring_path());
  if (o.fork) return run_fork(o);
  if (o.slow_copy) {
    if (o.payload == 0) usage("--slow-copy needs --payload");
    g_slow_copy.store(true);
    install_fault_handler();
  }

  std::vector<std::thread> threads;
  for (std::uint32_t t = 0; t < o.threads; ++t) threads.emplace_back(worker, std::cref(o), t);
  for (auto& th : threads) th.join();
  say("done");
  switch (o.then) {
    case Then::hang:
      hang();
    case Then::shutdown:
      shmlog::shutdown();
      return 0;
    case Then::exit:
      return 0;
  }
  return 0;
}
