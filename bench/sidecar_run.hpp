// What the benchmarks of the real `shmlog sidecar` binary share (`shmlog-bench drain`, `shmlog-bench
// loki`): starting processes (the sidecar, shmlog-loadgen) and killing them whatever happens, temp
// directories, the sidecar's stderr, CPU time and peak private memory, and one JSON line per case.
//
// Every process a bench starts leads a process group of its own and dies with the bench
// (PR_SET_PDEATHSIG); whatever path a case leaves by, the Child and TempDir destructors kill
// the group, reap it and remove the directories.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sched.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>

namespace shmlog_bench {

using Clock = std::chrono::steady_clock;

inline constexpr const char* kService = "bench";  // the loadgen records' service: <out>/bench.log

// SIGINT/SIGTERM while a bench runs: the case ends, cleans up, and the bench exits.
inline volatile std::sig_atomic_t g_interrupted = 0;

// What every sidecar bench takes on its command line.
struct SidecarBenchOptions {
  bool json = false;
  std::vector<std::string> cases;  // empty: all
  std::string sidecar;             // the `shmlog` binary; default: the one built with the bench
  std::string loadgen;             // the `shmlog-loadgen` binary; likewise
  bool keep = false;               // keep the temporary directories
};

// Adds --json, --cases (one of `case_names`), --sidecar, --loadgen and --keep to `cmd`; the binaries
// default to the ones built next to the bench.
void add_sidecar_bench_options(CLI::App* cmd, SidecarBenchOptions& o,
                               const std::vector<std::string>& case_names);

double seconds_between(Clock::time_point a, Clock::time_point b);
std::string fixed(double v, int decimals);
std::string read_text(const std::string& path);
std::string tail_of(const std::string& text, std::size_t n = 400);  // the last n bytes, for errors
std::string fs_type(const std::string& path);                       // "tmpfs", "ext4", ...

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    reset(std::exchange(o.fd_, -1));
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// A mkdtemp directory, removed with everything in it when it goes (unless --keep).
class TempDir {
 public:
  static std::optional<TempDir> make(const std::string& base, bool keep, std::string& error);
  TempDir(TempDir&& o) noexcept : path_(std::exchange(o.path_, {})), keep_(o.keep_) {}
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  TempDir(std::string path, bool keep) : path_(std::move(path)), keep_(keep) {}
  std::string path_;
  bool keep_ = false;
};

// Pins `pid` (0: the caller) to one CPU; false if that CPU does not exist or the call fails.
bool pin(pid_t pid, int cpu);

struct Spawn {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // NAME=value, over the bench's environment without its SHMLOG_*
  int cpu = -1;                  // pinned to it before exec
  bool pipe_stderr = false;      // stderr into a pipe the bench reads (Child::stderr_fd)
  std::string output_file;       // stdout (and stderr unless piped); empty: /dev/null
};

// A process the bench started. Until reaped it is killed with its whole process group (loadgen's
// children too) when the object goes, so no path out of a case leaves a process behind.
class Child {
 public:
  Child() = default;
  Child(Child&& o) noexcept
      : pid_(std::exchange(o.pid_, -1)), stderr_(std::move(o.stderr_)), pinned_(o.pinned_) {}
  Child& operator=(Child&& o) noexcept;
  ~Child() { kill_and_reap(); }

  static Child exec(const Spawn& spec, std::string& error);
  // Forks a child that runs `body` (not exec'd) and exits with what it returns.
  static Child fork_run(const std::function<int()>& body, std::string& error);

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  bool pinned() const { return pinned_; }
  int stderr_fd() const { return stderr_.get(); }
  void close_stderr() { stderr_.reset(); }

  // Reaps the child if it has ended: its wait status, and its resource usage in `usage`.
  std::optional<int> try_reap(rusage* usage = nullptr) { return reap_with(WNOHANG, usage); }
  std::optional<int> reap(rusage* usage = nullptr) { return reap_with(0, usage); }
  void kill_and_reap();

 private:
  static Child start(const std::function<int()>& body, int cpu, Fd err_read, std::string& error);
  std::optional<int> reap_with(int flags, rusage* usage);

  pid_t pid_ = -1;
  Fd stderr_;
  bool pinned_ = false;
};

std::string describe_status(int status);  // "exit status 1", "killed by signal 9"

// Waits up to `timeout` for `child` to end; its wait status.
std::optional<int> wait_for(Child& child, Clock::duration timeout);

// The CPU time of the process's main thread, from /proc/PID/schedstat (nanoseconds).
std::optional<std::uint64_t> cpu_ns(pid_t pid);
// The same summed over the threads it has now (/proc/PID/task/*/schedstat).
std::optional<std::uint64_t> cpu_ns_all_threads(pid_t pid);

// The sidecar's peak private memory: Private_Clean + Private_Dirty of smaps_rollup, sampled
// every 50 ms. A drained ring whose writer is gone is mapped by the sidecar alone, so its pages
// count as the sidecar's private pages; the second figure leaves the ring files' mappings out.
class MemoryPeak {
 public:
  MemoryPeak(pid_t pid, std::string ring_dir, Clock::time_point start);

  void sample_if_due();
  int ms_to_next_sample() const;
  double private_mib() const { return static_cast<double>(peak_kib_) / 1024.0; }
  double private_mib_without_rings() const { return static_cast<double>(peak_without_rings_kib_) / 1024.0; }
  unsigned samples() const { return samples_; }
  void sample();

 private:
  pid_t pid_;
  std::string ring_dir_;
  Clock::time_point next_;
  std::uint64_t peak_kib_ = 0;
  std::uint64_t peak_without_rings_kib_ = 0;
  unsigned samples_ = 0;
};

// The running sidecar, what it has said on stderr, and its memory samples.
struct Sidecar {
  Child child;
  std::string said;
  std::optional<MemoryPeak> memory;
  Clock::time_point started;
  // When it said "all records written" (before its shutdown fsync), and its CPU time then.
  std::optional<Clock::time_point> written_at;
  std::optional<std::uint64_t> written_cpu_ns;

  bool draining() const { return said.find(": draining ") != std::string::npos; }
  bool talking() const { return child.stderr_fd() >= 0; }

  // Waits up to `timeout` for the sidecar's stderr or `fd` (if >= 0), reading what the sidecar
  // says and sampling its memory on the way; true if `fd` is readable.
  bool wait(int fd, Clock::duration timeout);
};

// `shmlog sidecar --dir RINGS --out OUT --shutdown-deadline 1h`, pinned to core 1, stderr read
// by the bench; add flags to its argv before launch_sidecar.
Spawn sidecar_spawn(const std::string& binary, const std::string& ring_dir, const std::string& out);
// Starts the sidecar (its memory sampled from then on, `ring_dir`'s mappings told apart).
bool launch_sidecar(const Spawn& spec, const std::string& ring_dir, Sidecar& s, std::string& error);
// Waits up to 10 s for its "draining" line: from then on SIGTERM means "drain, then exit 0".
bool wait_until_draining(Sidecar& s, std::string& error);
// SIGTERM, then waits for the sidecar to drain and exit; its exit status, or an error.
bool stop_sidecar(Sidecar& s, Clock::duration timeout, std::string& error);
// For a sidecar draining rings whose writers are gone: SIGTERM as soon as it says "draining",
// then waits (until `deadline`) for it to take everything and exit 0. Its usage in `usage`.
// `each` (if set) runs whenever the sidecar has said something and at least every 100 ms until
// it exits: `shmlog-bench http` starts and stops its clients there.
bool drain_and_exit(Sidecar& s, Clock::time_point deadline, rusage& usage, std::string& error,
                    const std::function<void()>& each = {});

// A case's two directories: the rings on tmpfs, as a pod's `medium: Memory` emptyDir is, and the
// output under /tmp, on the disk a real deployment would write to.
struct CaseDirs {
  std::optional<TempDir> rings, work;
  std::string out;  // work/out
};
// `prefix`: of the directories' names, e.g. "shmlog-drain".
bool make_dirs(const std::string& prefix, bool keep, CaseDirs& d, std::string& error);

// One loadgen run: P processes of one thread, the benchmark record, a full lane waits.
std::vector<std::string> loadgen_argv(const std::string& loadgen, unsigned producers, std::uint64_t records);
// Checks how loadgen ended: exit 0, and its summary line says nothing was dropped.
bool loadgen_ok(std::optional<int> status, const std::string& output_file, std::string& error);
// P loadgen processes write `records` in all into rings of 2 lanes sized to hold everything
// (`--overflow block --flush-ms 0`), with no sidecar, and exit. Returns the ring size of each
// producer, 0 on error.
std::uint64_t prefill_rings(const std::string& loadgen, const CaseDirs& d, unsigned producers,
                            std::uint64_t records, std::string& error);

struct OutputSize {
  std::uint64_t bytes = 0, lines = 0;
};
OutputSize measure_output(const std::string& dir);  // the regular files of `dir`

// One case's result: its fields in order, values already JSON.
struct CaseOut {
  explicit CaseOut(std::string case_name) : name(std::move(case_name)) {}

  std::string name;
  std::vector<std::pair<std::string, std::string>> fields;  // values already JSON
  std::map<std::string, double> numbers;                    // for the summary
  std::string error;

  void put(const std::string& key, double v, int decimals);
  void put_count(const std::string& key, std::uint64_t v);
  void put_text(const std::string& key, const std::string& v);
  void put_bool(const std::string& key, bool v);
  void put_json(const std::string& key, std::string json) { fields.emplace_back(key, std::move(json)); }
  std::optional<double> number(const std::string& key) const;
  CaseOut& fail(const std::string& why) {
    if (error.empty()) error = why;
    return *this;
  }
};

// A summary field: "null" when there is no value; for a target "true"/"false"/"null".
std::string number_or_null(std::optional<double> v, int decimals);
std::string target_or_null(std::optional<double> v, const std::function<bool(double)>& ok);
// The summary line (JSON) or block (text) of these name/value pairs, values already JSON.
void print_summary_fields(const std::vector<std::pair<std::string, std::string>>& fields, bool json);

// Runs a sidecar bench: checks the binaries, pins the bench to core 0, takes SIGINT/SIGTERM, runs
// the cases of `case_names` that `o.cases` selects in that order, printing each, then the summary.
// `bench` names it in messages ("drain"). The exit status: non-zero if a case failed.
int run_sidecar_bench(const char* bench, const SidecarBenchOptions& o,
                      const std::vector<std::string>& case_names,
                      const std::function<CaseOut(std::string_view)>& run_case,
                      const std::function<void(const std::vector<CaseOut>&)>& print_summary);

}  // namespace shmlog_bench
