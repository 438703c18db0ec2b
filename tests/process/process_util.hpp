// Helpers of the multi-process tests: real child processes (fork+exec of shmlog-test-producer,
// or a plain fork running a function) with deadlines on everything, and readers that check each
// record they get against what the producer wrote (record_pattern.hpp).
#pragma once

#include <shmlog/reader.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

namespace shmlog::test {

using std::chrono::milliseconds;

// The error text of a failed result, empty for a good one: safe in a *_MESSAGE, which doctest
// also evaluates for passing checks when run with -s.
template <typename T>
std::string error_of(const Result<T>& r) {
  return r ? std::string{} : r.error().message;
}

// A child process, killed (SIGKILL) and reaped on destruction if it is still there: a failed
// check never leaves a producer spinning behind the test.
class Child {
 public:
  // fork + exec of `argv`; its stdout comes back through a pipe (read_line), its stderr goes to
  // `stderr_path` (or stays the test's when empty).
  static Child spawn(const std::vector<std::string>& argv, const std::string& stderr_path = {});
  // fork only: the child runs `fn` and _exits with its result (an exception exits with 99).
  static Child fork_call(const std::function<int()>& fn);
  // Takes charge of a descendant re-parented to this process (see become_subreaper).
  static Child adopt(pid_t pid);

  Child() = default;
  Child(Child&& other) noexcept;
  Child& operator=(Child&& other) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  pid_t pid() const { return pid_; }
  bool reaped() const { return pid_ <= 0; }

  // The next line of the child's stdout without its '\n'; nullopt at EOF or after `timeout`.
  std::optional<std::string> read_line(milliseconds timeout);
  // Reads lines until one starts with `prefix` and returns it; nullopt at EOF or timeout. The
  // lines skipped are kept in `transcript()` for failure messages.
  std::optional<std::string> expect_line(std::string_view prefix, milliseconds timeout);
  const std::string& transcript() const { return transcript_; }

  void kill(int sig);
  // Waits for the child to end and returns its wait status. On timeout it is killed (SIGKILL),
  // reaped, and the result is nullopt.
  std::optional<int> wait(milliseconds timeout);

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string buffer_;
  std::string transcript_;
};

std::string describe_status(int status);

// Makes orphaned descendants of this process its children, so a test can reap a grandchild
// whose parent exited.
bool become_subreaper();

// The path of shmlog-test-producer (compiled in by CMake).
std::string producer_path();
// argv for the producer: its path, then --dir `dir`, then `args`.
std::vector<std::string> producer_argv(const std::string& dir, const std::vector<std::string>& args);

// The ring path a producer announced ("ring <path>"), or empty on timeout (`why` says more).
std::string expect_ring(Child& producer, std::string& why, milliseconds timeout = milliseconds(10000));

// One record as the test producer wrote it, decoded and checked.
struct Taken {
  std::uint32_t lane = 0;
  std::uint64_t seq = 0;
  std::uint64_t position = 0;
  std::uint32_t tid = 0;
  std::uint64_t n = 0;
  std::uint32_t thread = 0;
  std::uint64_t id = 0;
  std::string who;
};

// What a reader of test records expects: the producer's thread count and pad size.
struct Expect {
  std::uint32_t threads = 1;
  std::size_t payload = 0;
  bool rich = false;
};

// Checks that `v` is a complete record of the test producer (message, arguments, context, pad
// bytes); fills `out`. Returns what is wrong, empty when all is right.
std::string check_record(const RecordView& v, const Expect& expect, Taken& out);

// Drains (consumer) or peeks (observer) every lane of `r` until a pass finds nothing new,
// checking each record; appends them to `out`. Every `json_every`-th record is also formatted and
// held against the JSON schema (0: none). Returns the first problem, empty if none.
std::string take_all(RingReader& r, const Expect& expect, std::vector<Taken>& out,
                     std::size_t json_every = 0);
// One pass of the same: at most one drain() call per lane. `found` counts the records.
std::string take_pass(RingReader& r, const Expect& expect, std::vector<Taken>& out, std::size_t& found,
                      std::size_t json_every = 0);

// True if `lane` holds, at position `pos`, a record its producer began but never committed: a
// zero commit word, and behind it a header already written for `seq` by thread `tid`. Read from
// the file with pread, not through the reader.
bool uncommitted_record_at(const std::string& path, std::uint32_t lane, std::uint64_t pos, std::uint64_t seq,
                           std::uint32_t tid);

// Per-lane checks of records taken from a fresh ring by one consumer, in the order taken: seq
// numbers run 0, 1, 2, ... with no gap or repeat, ids of each thread increase, every id appears
// once. Returns the first problem, empty if none.
std::string check_lanes_from_start(const std::vector<Taken>& taken);
// Every id appears at most once. Returns the first duplicate as a message, empty if none.
std::string check_unique_ids(const std::vector<Taken>& taken);

// Binary dump of Taken records (fixed fields only), for results handed back by forked children.
bool save_taken(const std::string& path, const std::vector<Taken>& taken);
std::vector<Taken> load_taken(const std::string& path);

// A random number in [lo, hi], seeded from the clock once per process (and printed once).
std::uint64_t random_between(std::uint64_t lo, std::uint64_t hi);

bool file_exists(const std::string& path);

}  // namespace shmlog::test
