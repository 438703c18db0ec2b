#include "sidecar_run.hpp"

#include "bench_support.hpp"
#include "cases.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <unistd.h>  // environ, too (_GNU_SOURCE)

// The binaries built next to the bench (bench/CMakeLists.txt); --sidecar / --loadgen override.
#ifndef SHMLOG_CLI_PATH
#define SHMLOG_CLI_PATH ""
#endif
#ifndef SHMLOG_LOADGEN_PATH
#define SHMLOG_LOADGEN_PATH ""
#endif

namespace shmlog_bench {
namespace {

using namespace std::chrono_literals;

constexpr auto kSampleEvery = 50ms;  // the sidecar's private memory, peak of these samples
// A loadgen record in the ring: 40-byte header, three 8-byte arguments, the context (4-byte
// size, type, key length, "id", 4-byte length, the id), 8-aligned: 88 bytes while a producer
// writes fewer than 10^8 records. 96 leaves room; a lane too small shows up as drops.
constexpr std::uint64_t kRecordBytes = 96;
constexpr double kInfoShare = 0.88;  // INFO may fill 88% of a lane (SHMLOG_HEADROOM_PERCENT 12)
constexpr std::uint64_t kMaxLaneBytes = 1ull << 30;

// The bench runs on core 0 beside the producers so that core 1 is the sidecar's alone; children
// that are not pinned get back the CPUs the bench was started with.
cpu_set_t g_start_cpus;
bool g_have_start_cpus = false;

extern "C" void on_interrupt(int) {
  g_interrupted = 1;
}

std::uint64_t lane_bytes_for(std::uint64_t records) {
  const auto need = static_cast<std::uint64_t>(static_cast<double>(records * kRecordBytes) / kInfoShare);
  std::uint64_t lane = 64 << 10;
  while (lane < need && lane < (kMaxLaneBytes << 1)) lane <<= 1;
  return lane;
}

// Sums the Private_Clean and Private_Dirty lines, skipping the mappings of files under `skip`
// (a mapping's header line starts with its address in lowercase hex, field lines with a name).
std::uint64_t private_kib(const std::string& text, const std::string& skip) {
  std::uint64_t kib = 0;
  bool skipping = false;
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    if (line.empty()) continue;
    const char c = line.front();
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) {
      skipping = !skip.empty() && line.find(skip) != std::string_view::npos;
    } else if (!skipping && (line.starts_with("Private_Clean:") || line.starts_with("Private_Dirty:"))) {
      kib += std::strtoull(std::string(line.substr(14)).c_str(), nullptr, 10);
    }
  }
  return kib;
}

std::string json_line(const CaseOut& r) {
  std::string s = "{\"case\":" + json_string(r.name);
  for (const auto& [key, value] : r.fields) s += "," + json_string(key) + ":" + value;
  if (!r.error.empty()) s += ",\"error\":" + json_string(r.error);
  return s + "}";
}

void print_case(const CaseOut& r, bool json, const char* bench) {
  if (json) {
    std::printf("%s\n", json_line(r).c_str());
  } else {
    std::string text;
    for (const auto& [key, value] : r.fields) text += " " + key + "=" + value;
    std::printf("%-12s%s%s\n", r.name.c_str(), text.c_str(),
                r.error.empty() ? "" : ("  ERROR: " + r.error).c_str());
  }
  std::fflush(stdout);
  if (!r.error.empty())
    std::fprintf(stderr, "shmlog-bench %s: %s FAILED: %s\n", bench, r.name.c_str(), r.error.c_str());
}

}  // namespace

void add_sidecar_bench_options(CLI::App* cmd, SidecarBenchOptions& o,
                               const std::vector<std::string>& case_names) {
  o.sidecar = SHMLOG_CLI_PATH;
  o.loadgen = SHMLOG_LOADGEN_PATH;
  cmd->add_flag("--json", o.json, "One JSON object per line per case, then a summary line");
  cmd->add_option("--cases", o.cases, "Comma-separated cases to run (default: all)")
      ->delimiter(',')
      ->check(CLI::IsMember(case_names));
  cmd->add_option("--sidecar", o.sidecar, "The shmlog binary to run as `shmlog sidecar`")
      ->capture_default_str();
  cmd->add_option("--loadgen", o.loadgen, "The shmlog-loadgen binary")->capture_default_str();
  cmd->add_flag("--keep", o.keep, "Keep the temporary directories (rings, output files)");
}

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::string fixed(double v, int decimals) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string read_text(const std::string& path) {
  std::string text;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return text;
  char buf[16384];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

std::string tail_of(const std::string& text, std::size_t n) {
  std::string t = text.size() > n ? "..." + text.substr(text.size() - n) : text;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  return t;
}

std::string fs_type(const std::string& path) {
  struct statfs s {};
  if (::statfs(path.c_str(), &s) != 0) return "unknown";
  switch (static_cast<std::uint32_t>(s.f_type)) {
    case 0x01021994u:
      return "tmpfs";
    case 0xEF53u:
      return "ext4";  // ext2/3/4 share the magic
    case 0x58465342u:
      return "xfs";
    case 0x9123683Eu:
      return "btrfs";
    case 0x794C7630u:
      return "overlayfs";
    default: {
      char buf[24];
      std::snprintf(buf, sizeof buf, "0x%x", static_cast<unsigned>(s.f_type));
      return buf;
    }
  }
}

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

std::optional<TempDir> TempDir::make(const std::string& base, bool keep, std::string& error) {
  std::string pattern = base + ".XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    error = "mkdtemp " + pattern + ": " + std::strerror(errno);
    return std::nullopt;
  }
  return TempDir(std::move(pattern), keep);
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  if (keep_) {
    std::fprintf(stderr, "shmlog-bench: kept %s\n", path_.c_str());
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

bool pin(pid_t pid, int cpu) {
  if (cpu < 0 || cpu >= online_cpus()) return false;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return ::sched_setaffinity(pid, sizeof set, &set) == 0;
}

Child& Child::operator=(Child&& o) noexcept {
  kill_and_reap();
  pid_ = std::exchange(o.pid_, -1);
  stderr_ = std::move(o.stderr_);
  pinned_ = o.pinned_;
  return *this;
}

Child Child::exec(const Spawn& spec, std::string& error) {
  // Built before fork, so the child has nothing left to do but redirect and exec.
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e)
    if (std::strncmp(*e, "SHMLOG_", 7) != 0) env.emplace_back(*e);
  env.insert(env.end(), spec.env.begin(), spec.env.end());
  std::vector<char*> argv_p, env_p;
  for (const auto& a : spec.argv) argv_p.push_back(const_cast<char*>(a.c_str()));
  for (const auto& e : env) env_p.push_back(const_cast<char*>(e.c_str()));
  argv_p.push_back(nullptr);
  env_p.push_back(nullptr);

  Fd in(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  Fd out(spec.output_file.empty()
             ? ::open("/dev/null", O_WRONLY | O_CLOEXEC)
             : ::open(spec.output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  int err_pipe[2] = {-1, -1};
  if (in.get() < 0 || out.get() < 0 || (spec.pipe_stderr && ::pipe2(err_pipe, O_CLOEXEC) != 0)) {
    error = std::string("cannot set up the output of ") + spec.argv[0] + ": " + std::strerror(errno);
    return {};
  }
  Fd err_read(err_pipe[0]), err_write(err_pipe[1]);
  const int err_fd = spec.pipe_stderr ? err_write.get() : out.get();
  return start(
      [&]() -> int {
        if (::dup2(in.get(), 0) < 0 || ::dup2(out.get(), 1) < 0 || ::dup2(err_fd, 2) < 0) return 126;
        ::execve(argv_p[0], argv_p.data(), env_p.data());
        const char* why = std::strerror(errno);
        (void)!::write(2, "shmlog-bench: cannot exec the child: ", 37);
        (void)!::write(2, why, std::strlen(why));
        (void)!::write(2, "\n", 1);
        return 127;
      },
      spec.cpu, std::move(err_read), error);
}

Child Child::fork_run(const std::function<int()>& body, std::string& error) {
  return start(body, -1, Fd(), error);
}

void Child::kill_and_reap() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

Child Child::start(const std::function<int()>& body, int cpu, Fd err_read, std::string& error) {
  std::fflush(nullptr);  // nothing buffered may be written twice
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    error = std::string("fork: ") + std::strerror(errno);
    return {};
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);  // the bench died before the line above
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    if (cpu >= 0)
      (void)pin(0, cpu);
    else if (g_have_start_cpus)
      (void)::sched_setaffinity(0, sizeof g_start_cpus, &g_start_cpus);
    const int status = body();
    std::fflush(nullptr);
    ::_exit(status);
  }
  ::setpgid(pid, pid);  // as the child does: whichever runs first, the group exists for kill()
  Child c;
  c.pid_ = pid;
  c.stderr_ = std::move(err_read);
  c.pinned_ = pin(pid, cpu);  // the child pins itself too; this says whether it can work
  return c;
}

std::optional<int> Child::reap_with(int flags, rusage* usage) {
  if (pid_ <= 0) return std::nullopt;
  int status = 0;
  rusage ru{};
  pid_t got;
  while ((got = ::wait4(pid_, &status, flags, &ru)) < 0 && errno == EINTR && !g_interrupted) {
  }
  if (got != pid_) return std::nullopt;
  pid_ = -1;
  if (usage != nullptr) *usage = ru;
  return status;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

std::optional<int> wait_for(Child& child, Clock::duration timeout) {
  const auto deadline = Clock::now() + timeout;
  std::optional<int> status;
  while (!(status = child.try_reap()) && !g_interrupted && Clock::now() < deadline) ::poll(nullptr, 0, 10);
  return status;
}

std::optional<std::uint64_t> cpu_ns(pid_t pid) {
  const std::string s = read_text("/proc/" + std::to_string(pid) + "/schedstat");
  if (s.empty()) return std::nullopt;
  return std::strtoull(s.c_str(), nullptr, 10);
}

std::optional<std::uint64_t> cpu_ns_all_threads(pid_t pid) {
  std::error_code ec;
  std::optional<std::uint64_t> sum;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    const std::string s = read_text(task.path().string() + "/schedstat");
    if (!s.empty()) sum = sum.value_or(0) + std::strtoull(s.c_str(), nullptr, 10);
  }
  return sum;
}

MemoryPeak::MemoryPeak(pid_t pid, std::string ring_dir, Clock::time_point start)
    : pid_(pid), ring_dir_(std::move(ring_dir)), next_(start + kSampleEvery) {}

void MemoryPeak::sample_if_due() {
  const auto now = Clock::now();
  if (now < next_) return;
  next_ = now + kSampleEvery;
  sample();
}

int MemoryPeak::ms_to_next_sample() const {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(next_ - Clock::now()).count();
  return static_cast<int>(std::clamp<std::int64_t>(left, 0, 1000));
}

void MemoryPeak::sample() {
  const std::string proc = "/proc/" + std::to_string(pid_);
  const std::string rollup = read_text(proc + "/smaps_rollup");
  if (rollup.empty()) return;  // ended (or a zombie): nothing to add
  const std::uint64_t all = private_kib(rollup, {});
  const std::uint64_t without_rings = private_kib(read_text(proc + "/smaps"), ring_dir_);
  peak_kib_ = std::max(peak_kib_, all);
  peak_without_rings_kib_ = std::max(peak_without_rings_kib_, without_rings);
  ++samples_;
}

bool Sidecar::wait(int fd, Clock::duration timeout) {
  pollfd p[2];
  nfds_t n = 0;
  if (talking()) p[n++] = {child.stderr_fd(), POLLIN, 0};
  const nfds_t fd_at = n;
  if (fd >= 0) p[n++] = {fd, POLLIN, 0};
  int ms = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(timeout).count());
  if (memory) ms = std::min(ms, memory->ms_to_next_sample());
  const int ready = ::poll(p, n, std::max(ms, 0));
  if (ready > 0 && talking() && p[0].revents != 0) {
    char buf[4096];
    const ssize_t got = ::read(child.stderr_fd(), buf, sizeof buf);
    if (got > 0) said.append(buf, static_cast<std::size_t>(got));
    if (got > 0 && !written_at && said.find(": all records written") != std::string::npos) {
      written_at = Clock::now();
      written_cpu_ns = cpu_ns(child.pid());
    }
    if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) child.close_stderr();  // it ended
  }
  if (memory) memory->sample_if_due();
  return ready > 0 && fd >= 0 && (p[fd_at].revents & POLLIN) != 0;
}

Spawn sidecar_spawn(const std::string& binary, const std::string& ring_dir, const std::string& out) {
  // The shutdown deadline is raised so that a long drain is never cut short.
  Spawn spec;
  // Port 0: cases and runs side by side never fight over the status endpoint's port.
  spec.argv = {binary, "sidecar",     "--dir",      ring_dir, "--out", out, "--shutdown-deadline",
               "1h",   "--http-addr", "127.0.0.1:0"};
  spec.cpu = kConsumerCpu;
  spec.pipe_stderr = true;
  return spec;
}

bool launch_sidecar(const Spawn& spec, const std::string& ring_dir, Sidecar& s, std::string& error) {
  s.started = Clock::now();
  s.child = Child::exec(spec, error);
  if (!s.child.running()) return false;
  s.memory.emplace(s.child.pid(), ring_dir, s.started);
  return true;
}

bool wait_until_draining(Sidecar& s, std::string& error) {
  const auto deadline = s.started + 10s;
  while (!s.draining() && s.talking() && !g_interrupted && Clock::now() < deadline) s.wait(-1, 100ms);
  if (s.draining()) return true;
  error = g_interrupted ? "interrupted" : "the sidecar did not start: " + tail_of(s.said);
  return false;
}

bool stop_sidecar(Sidecar& s, Clock::duration timeout, std::string& error) {
  ::kill(s.child.pid(), SIGTERM);
  const auto deadline = Clock::now() + timeout;
  while (s.talking() && !g_interrupted && Clock::now() < deadline) s.wait(-1, 100ms);
  if (s.talking()) {
    error = g_interrupted ? "interrupted" : "the sidecar did not exit after SIGTERM: " + tail_of(s.said);
    return false;
  }
  const auto status = s.child.reap();  // its stderr is closed: it has exited
  if (!status) {
    error = "cannot reap the sidecar";
    return false;
  }
  if (*status != 0) {
    error = "the sidecar ended with " + describe_status(*status) + ": " + tail_of(s.said);
    return false;
  }
  return true;
}

bool drain_and_exit(Sidecar& s, Clock::time_point deadline, rusage& usage, std::string& error,
                    const std::function<void()>& each) {
  bool term_sent = false;
  while (s.talking() && !g_interrupted && Clock::now() < deadline) {
    s.wait(-1, 100ms);
    if (!term_sent && s.draining()) term_sent = ::kill(s.child.pid(), SIGTERM) == 0;
    if (each) each();
  }
  if (s.talking()) {
    error = g_interrupted ? "interrupted" : "the sidecar did not finish in time";
    return false;
  }
  const auto status = s.child.reap(&usage);
  if (!status || *status != 0) {
    error = "the sidecar ended with " + (status ? describe_status(*status) : std::string("?")) + ": " +
            tail_of(s.said);
    return false;
  }
  return true;
}

bool make_dirs(const std::string& prefix, bool keep, CaseDirs& d, std::string& error) {
  const std::string shm = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
  auto rings = TempDir::make(shm + "/" + prefix, keep, error);
  if (!rings) return false;
  d.rings.emplace(std::move(*rings));
  auto work = TempDir::make("/tmp/" + prefix, keep, error);
  if (!work) return false;
  d.work.emplace(std::move(*work));
  d.out = d.work->path() + "/out";
  std::error_code ec;
  std::filesystem::create_directory(d.out, ec);
  if (ec) error = "cannot create " + d.out + ": " + ec.message();
  return !ec;
}

std::vector<std::string> loadgen_argv(const std::string& loadgen, unsigned producers, std::uint64_t records) {
  std::vector<std::string> argv = {loadgen, "--processes", std::to_string(producers), "--threads", "1"};
  argv.insert(argv.end(),
              {"--records", std::to_string(records), "--service", kService, "--overflow", "block"});
  return argv;
}

bool loadgen_ok(std::optional<int> status, const std::string& output_file, std::string& error) {
  const std::string said = read_text(output_file);
  if (!status) {
    error = g_interrupted ? "interrupted" : "shmlog-loadgen did not finish in time";
    return false;
  }
  if (*status != 0) {
    error = "shmlog-loadgen ended with " + describe_status(*status) + ": " + tail_of(said);
    return false;
  }
  const auto at = said.find("\"dropped\":");
  if (at == std::string::npos) {
    error = "no summary line from shmlog-loadgen: " + tail_of(said);
    return false;
  }
  if (const auto dropped = std::strtoull(said.c_str() + at + 10, nullptr, 10); dropped != 0) {
    error = "shmlog-loadgen dropped " + std::to_string(dropped) + " records (lanes too small?)";
    return false;
  }
  return true;
}

std::uint64_t prefill_rings(const std::string& loadgen, const CaseDirs& d, unsigned producers,
                            std::uint64_t records, std::string& error) {
  // One thread per producer, so one own lane (lane 0 is the shared one) big enough for all.
  const std::uint64_t lane = lane_bytes_for((records + producers - 1) / producers);
  if (lane > kMaxLaneBytes) {
    error = "too many records: a producer's lane would exceed 1 GiB";
    return 0;
  }
  Spawn fill;
  fill.argv = loadgen_argv(loadgen, producers, records);
  fill.argv.insert(fill.argv.end(), {"--flush-ms", "0"});
  fill.env = {"SHMLOG_DIR=" + d.rings->path(), "SHMLOG_LANES=2",
              "SHMLOG_RING_BYTES=" + std::to_string(2 * lane)};
  fill.output_file = d.work->path() + "/loadgen.txt";
  Child gen = Child::exec(fill, error);
  if (!gen.running()) return 0;
  const auto status = wait_for(gen, 60s + std::chrono::seconds(records / 200'000));
  if (!loadgen_ok(status, fill.output_file, error)) {
    error = "pre-fill: " + error;
    return 0;
  }
  return 2 * lane;
}

OutputSize measure_output(const std::string& dir) {
  OutputSize size;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file()) continue;
    const Fd fd(::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC));
    std::vector<char> buf(1 << 20);
    for (ssize_t n; fd.get() >= 0 && (n = ::read(fd.get(), buf.data(), buf.size())) > 0;) {
      size.bytes += static_cast<std::uint64_t>(n);
      size.lines += static_cast<std::uint64_t>(std::count(buf.data(), buf.data() + n, '\n'));
    }
  }
  return size;
}

void CaseOut::put(const std::string& key, double v, int decimals) {
  fields.emplace_back(key, fixed(v, decimals));
  numbers[key] = v;
}

void CaseOut::put_count(const std::string& key, std::uint64_t v) {
  fields.emplace_back(key, std::to_string(v));
  numbers[key] = static_cast<double>(v);
}

void CaseOut::put_text(const std::string& key, const std::string& v) {
  fields.emplace_back(key, json_string(v));
}

void CaseOut::put_bool(const std::string& key, bool v) {
  fields.emplace_back(key, v ? "true" : "false");
}

std::optional<double> CaseOut::number(const std::string& key) const {
  const auto it = numbers.find(key);
  return it == numbers.end() ? std::nullopt : std::optional(it->second);
}

std::string number_or_null(std::optional<double> v, int decimals) {
  return v ? fixed(*v, decimals) : "null";
}

std::string target_or_null(std::optional<double> v, const std::function<bool(double)>& ok) {
  return v ? (ok(*v) ? "true" : "false") : "null";
}

void print_summary_fields(const std::vector<std::pair<std::string, std::string>>& fields, bool json) {
  if (json) {
    std::string s = "{\"case\":\"summary\"";
    for (const auto& [key, value] : fields) s += ",\"" + key + "\":" + value;
    std::printf("%s}\n", s.c_str());
    return;
  }
  std::printf("\nsummary:\n");
  for (const auto& [key, value] : fields) std::printf("  %-34s %s\n", key.c_str(), value.c_str());
}

int run_sidecar_bench(const char* bench, const SidecarBenchOptions& o,
                      const std::vector<std::string>& case_names,
                      const std::function<CaseOut(std::string_view)>& run_case,
                      const std::function<void(const std::vector<CaseOut>&)>& print_summary) {
  for (const std::string* bin : {&o.sidecar, &o.loadgen})
    if (bin->empty() || ::access(bin->c_str(), X_OK) != 0) {
      std::fprintf(stderr, "shmlog-bench %s: cannot run \"%s\" (see --sidecar, --loadgen)\n", bench,
                   bin->c_str());
      return 2;
    }
  g_have_start_cpus = ::sched_getaffinity(0, sizeof g_start_cpus, &g_start_cpus) == 0;
  (void)pin(0, kProducerCpu);  // see g_start_cpus
  struct sigaction sa {};
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_interrupt;  // no SA_RESTART: waits return and the case cleans up
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::vector<CaseOut> results;
  for (const std::string& name : case_names) {
    if (!o.cases.empty() && std::find(o.cases.begin(), o.cases.end(), name) == o.cases.end()) continue;
    if (g_interrupted) break;
    if (::isatty(STDERR_FILENO)) std::fprintf(stderr, "\r%-40s", name.c_str());
    results.push_back(run_case(name));
    if (::isatty(STDERR_FILENO)) std::fprintf(stderr, "\r%40s\r", "");
    print_case(results.back(), o.json, bench);
  }
  print_summary(results);
  const bool failed = g_interrupted || std::any_of(results.begin(), results.end(),
                                                   [](const CaseOut& r) { return !r.error.empty(); });
  return failed ? 1 : 0;
}

}  // namespace shmlog_bench
