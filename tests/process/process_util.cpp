#include "process_util.hpp"

#include "record_pattern.hpp"
#include "support/test_dir.hpp"

#include <shmlog/json_line.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <stdexcept>
#include <thread>
#include <unordered_set>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace shmlog::test {

using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// Child

namespace {
// In a new child: if the test process dies (a crash skips ~Child), the child gets SIGKILL, so
// no producer is ever left spinning. Async-signal-safe.
void die_with(pid_t parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) _exit(98);  // the parent died before prctl
}
}  // namespace

Child Child::spawn(const std::vector<std::string>& argv, const std::string& stderr_path) {
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  int err = -1;
  if (!stderr_path.empty()) {
    err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (err < 0) throw std::runtime_error("cannot open " + stderr_path);
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    die_with(parent);
    // Until exec this is a copy of the test, with doctest's crash handlers: a signal sent to
    // the child early would have it report a crash of the test. Back to the defaults.
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL})
      ::signal(sig, SIG_DFL);
    ::dup2(out[1], STDOUT_FILENO);
    if (err >= 0) ::dup2(err, STDERR_FILENO);
    ::execv(args[0], args.data());
    _exit(127);
  }
  ::close(out[1]);
  if (err >= 0) ::close(err);
  Child c;
  c.pid_ = pid;
  c.out_fd_ = out[0];
  return c;
}

Child Child::fork_call(const std::function<int()>& fn) {
  std::fflush(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    die_with(parent);
    int rc = 99;
    try {
      rc = fn();
    } catch (...) {
    }
    _exit(rc);
  }
  Child c;
  c.pid_ = pid;
  return c;
}

Child Child::adopt(pid_t pid) {
  Child c;
  c.pid_ = pid;
  return c;
}

Child::Child(Child&& other) noexcept
    : pid_(other.pid_),
      out_fd_(other.out_fd_),
      buffer_(std::move(other.buffer_)),
      transcript_(std::move(other.transcript_)) {
  other.pid_ = -1;
  other.out_fd_ = -1;
}

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    this->~Child();
    new (this) Child(std::move(other));
  }
  return *this;
}

Child::~Child() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (out_fd_ >= 0) ::close(out_fd_);
}

std::optional<std::string> Child::read_line(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      transcript_ += line + "\n";
      return line;
    }
    if (out_fd_ < 0) return std::nullopt;
    // Rounded up, and polled even when nothing is left: a zero timeout still takes what is there.
    const auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now()).count();
    pollfd p{out_fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::max<long long>(left, 0)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return std::nullopt;
    char chunk[4096];
    const ssize_t n = ::read(out_fd_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {  // EOF: every writer of the pipe is gone
      ::close(out_fd_);
      out_fd_ = -1;
      continue;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

std::optional<std::string> Child::expect_line(std::string_view prefix, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    auto line =
        read_line(std::chrono::ceil<milliseconds>(std::max(deadline - Clock::now(), Clock::duration{0})));
    if (!line) return std::nullopt;
    if (line->starts_with(prefix)) return line;
  }
}

void Child::kill(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

std::optional<int> Child::wait(milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return status;
    }
    if (r < 0 && errno != EINTR) {
      pid_ = -1;
      return std::nullopt;
    }
    if (Clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      pid_ = -1;
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  return "wait status " + std::to_string(status);
}

bool become_subreaper() {
  return ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
}

std::string producer_path() {
  return SHMLOG_TEST_PRODUCER;
}

std::vector<std::string> producer_argv(const std::string& dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv{producer_path(), "--dir", dir};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::string expect_ring(Child& producer, std::string& why, milliseconds timeout) {
  auto line = producer.expect_line("ring", timeout);
  if (!line) {
    why = "the producer never announced its ring; it said:\n" + producer.transcript();
    return {};
  }
  std::string path = line->size() > 5 ? line->substr(5) : std::string{};
  if (path.empty()) why = "the producer has no ring (fallback); it said:\n" + producer.transcript();
  return path;
}

// ---------------------------------------------------------------------------------------------
// Records

namespace {

const ContextEntry* find_context(const RecordView& v, std::string_view key) {
  const ContextEntry* found = nullptr;
  for (const auto& c : v.context)
    if (c.key == key) found = &c;
  return found;
}

bool pad_matches(std::string_view pad, std::uint64_t id) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(id));
  for (std::size_t i = 0; i < pad.size(); ++i)
    if (pad[i] != hex[i % 16]) return false;
  return true;
}

std::string where(const RecordView& v) {
  return "lane " + std::to_string(v.lane) + " seq " + std::to_string(v.seq) + " position " +
         std::to_string(v.position) + ": ";
}

}  // namespace

std::string check_record(const RecordView& v, const Expect& expect, Taken& out) {
  out.lane = v.lane;
  out.seq = v.seq;
  out.position = v.position;
  out.tid = v.tid;
  if (v.site == nullptr) return where(v) + "unknown call site " + std::to_string(v.site_id);
  if (v.site->format != kRecordFormat) return where(v) + "unexpected template '" + v.site->format + "'";
  if (v.logger == nullptr || *v.logger != kLoggerName) return where(v) + "not from the producer's logger";
  if (v.args.size() != 3 || v.args[0].type != ring::ArgType::u64 || v.args[1].type != ring::ArgType::u32 ||
      v.args[2].type != ring::ArgType::string)
    return where(v) + "arguments are not (u64, u32, string)";
  const ContextEntry* id = find_context(v, "id");
  const ContextEntry* thread = find_context(v, "thread");
  const ContextEntry* who = find_context(v, "who");
  if (id == nullptr || thread == nullptr || who == nullptr || id->value.type != ring::ArgType::u64 ||
      thread->value.type != ring::ArgType::u32 || who->value.type != ring::ArgType::string)
    return where(v) + "context lacks id, thread or who";
  out.n = v.args[0].u;
  out.thread = static_cast<std::uint32_t>(v.args[1].u);
  out.id = id->value.u;
  out.who = std::string(who->value.s);
  if (thread->value.u != out.thread) return where(v) + "argument and context thread differ";
  if (out.thread >= expect.threads)
    return where(v) + "thread " + std::to_string(out.thread) + " out of range";
  if (out.id != record_id(out.n, out.thread, expect.threads))
    return where(v) + "id " + std::to_string(out.id) + " does not match record " + std::to_string(out.n) +
           " of thread " + std::to_string(out.thread);
  const std::string_view pad = v.args[2].s;
  if (pad.size() != expect.payload)
    return where(v) + "pad of " + std::to_string(pad.size()) + " bytes, expected " +
           std::to_string(expect.payload);
  if (!pad_matches(pad, out.id)) return where(v) + "pad bytes of id " + std::to_string(out.id) + " are wrong";
  if (expect.rich) {
    const std::string_view level = level_name(v.level);
    if (level != kRichLevels[out.n % 4])
      return where(v) + "level " + std::string(level) + " for record " + std::to_string(out.n);
    if (v.has_exception != (out.n % 4 == 2))
      return where(v) + "exception where none was logged or vice versa";
    if (v.has_exception && (v.exception_what != rich_exception_what(out.id) ||
                            demangle(v.exception_type) != "std::runtime_error"))
      return where(v) + "wrong exception";
    const ContextEntry* tenant = find_context(v, "tenant");
    if ((tenant != nullptr) != (out.n % 4 == 3) || (tenant != nullptr && tenant->value.s != kRichTenant))
      return where(v) + "wrong child-logger context";
  } else if (v.level != Level::info) {
    return where(v) + "level is not INFO";
  }
  return {};
}

std::string take_pass(RingReader& r, const Expect& expect, std::vector<Taken>& out, std::size_t& found,
                      std::size_t json_every) {
  thread_local std::size_t seen = 0;
  thread_local std::string line, message;
  std::string problem;
  found = 0;
  for (std::uint32_t lane = 0; lane < r.info().lane_count; ++lane) {
    auto n = r.drain(lane, 256, [&](const RecordView& v) {
      Taken t;
      std::string bad = check_record(v, expect, t);
      if (bad.empty() && json_every != 0 && seen++ % json_every == 0) {
        message.clear();
        render_message(v, message);
        if (message != expected_message(t.n, t.thread, make_pad(t.id, expect.payload)))
          bad = where(v) + "message renders as '" + message.substr(0, 200) + "'";
        line.clear();
        append_json_line(v, r.info(), JsonOptions{}, line);
        line.pop_back();
        if (bad.empty()) bad = schema_error(line);
      }
      if (!bad.empty() && problem.empty()) problem = bad;
      out.push_back(std::move(t));
    });
    if (!n) return n.error().message;
    if (!problem.empty()) return problem;
    found += *n;
  }
  return {};
}

std::string take_all(RingReader& r, const Expect& expect, std::vector<Taken>& out, std::size_t json_every) {
  for (int pass = 0; pass < 1000000; ++pass) {
    std::size_t found = 0;
    if (auto problem = take_pass(r, expect, out, found, json_every); !problem.empty()) return problem;
    if (found == 0) return {};
  }
  return "the ring never ran dry";
}

bool uncommitted_record_at(const std::string& path, std::uint32_t lane, std::uint64_t pos, std::uint64_t seq,
                           std::uint32_t tid) {
  auto r = RingReader::open(path, OpenMode::observer);
  if (!r) return false;
  const RingInfo& info = r.value()->info();
  const ring::Layout layout{info.lane_count, info.lane_bytes, info.sites_bytes};
  const std::uint64_t at = layout.data_offset() + lane * info.lane_bytes + (pos & (info.lane_bytes - 1));
  unsigned char header[ring::kRecordHeaderBytes];
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const ssize_t got = ::pread(fd, header, sizeof header, static_cast<off_t>(at));
  ::close(fd);
  if (got != static_cast<ssize_t>(sizeof header)) return false;
  std::uint64_t commit = 0, record_seq = 0;
  std::uint32_t record_tid = 0;
  std::memcpy(&commit, header + offsetof(ring::RecordHeader, commit), 8);
  std::memcpy(&record_tid, header + offsetof(ring::RecordHeader, tid), 4);
  std::memcpy(&record_seq, header + offsetof(ring::RecordHeader, seq), 8);
  return commit == 0 && record_seq == seq && record_tid == tid;
}

std::string check_lanes_from_start(const std::vector<Taken>& taken) {
  std::map<std::uint32_t, std::uint64_t> next_seq;
  std::map<std::uint32_t, std::uint32_t> lane_tid;
  std::map<std::uint32_t, std::uint64_t> last_id;
  for (const auto& t : taken) {
    auto [it, fresh] = next_seq.try_emplace(t.lane, 0);
    if (t.seq != it->second)
      return "lane " + std::to_string(t.lane) + ": seq " + std::to_string(t.seq) + " where " +
             std::to_string(it->second) + " was due (gap or repeat)";
    ++it->second;
    auto [tid, first] = lane_tid.try_emplace(t.lane, t.tid);
    if (tid->second != t.tid)
      return "lane " + std::to_string(t.lane) + ": records of threads " + std::to_string(tid->second) +
             " and " + std::to_string(t.tid);
    auto [last, none] = last_id.try_emplace(t.thread, t.id);
    if (!none && t.id <= last->second)
      return "thread " + std::to_string(t.thread) + ": id " + std::to_string(t.id) + " after " +
             std::to_string(last->second);
    last->second = t.id;
  }
  return check_unique_ids(taken);
}

std::string check_unique_ids(const std::vector<Taken>& taken) {
  std::unordered_set<std::uint64_t> ids;
  ids.reserve(taken.size());
  for (const auto& t : taken)
    if (!ids.insert(t.id).second) return "id " + std::to_string(t.id) + " taken twice";
  return {};
}

namespace {
struct TakenRow {
  std::uint64_t seq, position, n, id;
  std::uint32_t lane, tid, thread, pad;
};
}  // namespace

bool save_taken(const std::string& path, const std::vector<Taken>& taken) {
  std::vector<TakenRow> rows;
  rows.reserve(taken.size());
  for (const auto& t : taken) rows.push_back({t.seq, t.position, t.n, t.id, t.lane, t.tid, t.thread, 0});
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(rows.data()),
          static_cast<std::streamsize>(rows.size() * sizeof(TakenRow)));
  return static_cast<bool>(f);
}

std::vector<Taken> load_taken(const std::string& path) {
  const std::string bytes = read_file(path);
  std::vector<Taken> out;
  for (std::size_t off = 0; off + sizeof(TakenRow) <= bytes.size(); off += sizeof(TakenRow)) {
    TakenRow row;
    std::memcpy(&row, bytes.data() + off, sizeof row);
    Taken t;
    t.lane = row.lane;
    t.seq = row.seq;
    t.position = row.position;
    t.tid = row.tid;
    t.n = row.n;
    t.thread = row.thread;
    t.id = row.id;
    out.push_back(t);
  }
  return out;
}

std::uint64_t random_between(std::uint64_t lo, std::uint64_t hi) {
  static std::mt19937_64 rng = [] {
    std::uint64_t seed = static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
    if (const char* s = std::getenv("SHMLOG_TEST_SEED"); s && *s) seed = std::strtoull(s, nullptr, 10);
    std::fprintf(stderr, "random seed %llu (set SHMLOG_TEST_SEED to repeat)\n",
                 static_cast<unsigned long long>(seed));
    return std::mt19937_64(seed);
  }();
  return lo + rng() % (hi - lo + 1);
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace shmlog::test
