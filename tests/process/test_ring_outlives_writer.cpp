// (d) The ring file and its records outlive the writer: after a normal exit and after kill -9 the
// file is still in the directory with mode 0660, opens, and holds its records until a consumer
// takes them. And several processes share a live ring safely: two consumers draining the same
// lanes while an observer peeks never both take one record.
#include "process_util.hpp"
#include "support/test_dir.hpp"

#include <shmlog/reader.hpp>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <map>
#include <thread>

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>

using namespace shmlog;
using namespace shmlog::test;

namespace {

// Restores the umask on scope exit.
struct Umask {
  mode_t previous;
  explicit Umask(mode_t m) : previous(::umask(m)) {}
  ~Umask() { ::umask(previous); }
};

void check_outlives(const char* then, bool kill) {
  CAPTURE(then);
  CAPTURE(kill);
  constexpr std::size_t kRecords = 50;
  TempDir dir("shmlog-outlive");
  // A strict umask in the app must not take the group's access away.
  Child producer = [&] {
    Umask strict(077);
    return Child::spawn(producer_argv(dir.path(), {"--count", std::to_string(kRecords), "--then", then}),
                        dir.file("producer.stderr"));
  }();
  std::string why;
  const std::string path = expect_ring(producer, why);
  REQUIRE_MESSAGE(!path.empty(), why);
  REQUIRE(producer.expect_line("done", milliseconds(10000)));
  if (kill) producer.kill(SIGKILL);
  const auto status = producer.wait(milliseconds(10000));
  REQUIRE(status);
  if (kill)
    CHECK(WIFSIGNALED(*status));
  else
    CHECK_MESSAGE((WIFEXITED(*status) && WEXITSTATUS(*status) == 0), describe_status(*status));

  auto listed = list_rings(dir.path());
  REQUIRE(listed);
  CHECK(listed.value() == std::vector<std::string>{path});
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK_MESSAGE((st.st_mode & 07777) == 0660, "mode " << std::oct << (st.st_mode & 07777));
  auto r = RingReader::open(path, OpenMode::observer);
  REQUIRE_MESSAGE(r, error_of(r));
  CHECK_FALSE(r.value()->writer_alive());
  // Peeking takes nothing, however often; draining takes everything, once.
  CHECK(peek_lines(path).size() == kRecords);
  CHECK(peek_lines(path).size() == kRecords);
  CHECK(drain_lines(path).size() == kRecords);
  CHECK(drain_lines(path).empty());
  CHECK(peek_lines(path).empty());
  CHECK(file_exists(path));  // removing it is the sidecar's decision, not the reader's
}

// A consumer or observer in its own process: works the ring until `stop` exists and a pass finds
// nothing, then saves what it took (or the first problem) in `out`.
int work_ring(const std::string& path, OpenMode mode, const std::string& stop, const std::string& out,
              const Expect& expect) {
  auto opened = RingReader::open(path, mode);
  if (!opened) {
    write_file(out + ".error", opened.error().message);
    return 3;
  }
  RingReader& r = *opened.value();
  std::vector<Taken> taken;
  std::size_t passes = 0;
  for (bool stopping = false;;) {
    std::size_t found = 0;
    const std::string problem = take_pass(r, expect, taken, found, mode == OpenMode::observer ? 31 : 0);
    if (!problem.empty()) {
      write_file(out + ".error", problem);
      return 4;
    }
    ++passes;
    if (found != 0) continue;
    if (stopping) break;
    stopping = file_exists(stop);
    if (!stopping) std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  if (mode == OpenMode::observer) {
    write_file(out, std::to_string(taken.size()));
    return 0;
  }
  return save_taken(out, taken) ? 0 : 5;
}

}  // namespace

TEST_CASE("the ring file and its records outlive a writer that exited") {
  check_outlives("exit", false);
  check_outlives("shutdown", false);
}

TEST_CASE("the ring file and its records outlive a writer killed with -9") {
  check_outlives("hang", true);
}

TEST_CASE("two consumer processes never both take a record while an observer peeks") {
  constexpr std::uint32_t kThreads = 3;
  constexpr std::uint64_t kPerThread = 20000;
  const Expect expect{kThreads, 16, false};
  TempDir dir("shmlog-consumers");
  // Small lanes and the block policy: the lanes wrap many times, and nothing is dropped while the
  // consumers are slower than the producer.
  Child producer = Child::spawn(
      producer_argv(dir.path(), {"--threads", std::to_string(kThreads), "--count", std::to_string(kPerThread),
                                 "--payload", "16", "--overflow", "block", "--block-timeout-ms", "5000",
                                 "--ring-bytes", "256KiB", "--lanes", "4"}),
      dir.file("producer.stderr"));
  std::string why;
  const std::string path = expect_ring(producer, why);
  REQUIRE_MESSAGE(!path.empty(), why);
  const std::string stop = dir.file("stop");
  Child a =
      Child::fork_call([&] { return work_ring(path, OpenMode::consumer, stop, dir.file("a"), expect); });
  Child b =
      Child::fork_call([&] { return work_ring(path, OpenMode::consumer, stop, dir.file("b"), expect); });
  Child o =
      Child::fork_call([&] { return work_ring(path, OpenMode::observer, stop, dir.file("o"), expect); });

  const auto status = producer.wait(milliseconds(60000));
  REQUIRE_MESSAGE(status, "the producer did not finish in time");
  CHECK_MESSAGE((WIFEXITED(*status) && WEXITSTATUS(*status) == 0), describe_status(*status));
  write_file(stop, "");
  const std::pair<Child*, std::string> workers[] = {{&a, "a"}, {&b, "b"}, {&o, "o"}};
  for (const auto& worker : workers) {  // no structured binding: clang 14 cannot capture one
    Child* child = worker.first;
    const std::string& name = worker.second;
    const auto done = child->wait(milliseconds(30000));
    REQUIRE_MESSAGE(done, name << " did not stop");
    CHECK_MESSAGE((WIFEXITED(*done) && WEXITSTATUS(*done) == 0),
                  name << " " << describe_status(*done) << ": " << read_file(dir.file(name) + ".error"));
  }

  auto r = RingReader::open(path, OpenMode::observer);
  REQUIRE_MESSAGE(r, error_of(r));
  for (std::uint32_t lane = 0; lane < r.value()->info().lane_count; ++lane)
    for (auto d : r.value()->lane_state(lane).dropped)
      REQUIRE_MESSAGE(d == 0, "lane " << lane << " dropped records");

  const std::vector<Taken> took_a = load_taken(dir.file("a")), took_b = load_taken(dir.file("b"));
  MESSAGE("consumer a took " << took_a.size() << ", b took " << took_b.size() << ", the observer saw "
                             << read_file(dir.file("o")));
  WARN_MESSAGE((!took_a.empty() && !took_b.empty()), "one consumer took nothing: no contention was tested");
  // Each consumer's own takes are in lane order ...
  for (const auto* took : {&took_a, &took_b}) {
    std::map<std::uint32_t, std::uint64_t> next;
    for (const auto& t : *took) {
      const auto found = next.try_emplace(t.lane, 0);
      const std::uint64_t due = found.first->second;
      CHECK_MESSAGE((found.second || t.seq >= due),
                    "lane " << t.lane << " seq " << t.seq << " after " << due);
      found.first->second = t.seq + 1;
    }
  }
  // ... and together they took every record exactly once.
  std::vector<Taken> all = took_a;
  all.insert(all.end(), took_b.begin(), took_b.end());
  CHECK(all.size() == kThreads * kPerThread);
  const std::string unique = check_unique_ids(all);
  CHECK_MESSAGE(unique.empty(), unique);
  std::sort(all.begin(), all.end(), [](const Taken& x, const Taken& y) {
    return x.lane != y.lane ? x.lane < y.lane : x.seq < y.seq;
  });
  const std::string order = check_lanes_from_start(all);
  CHECK_MESSAGE(order.empty(), order);
  std::vector<std::uint64_t> ids;
  for (const auto& t : all) ids.push_back(t.id);
  std::sort(ids.begin(), ids.end());
  CHECK((!ids.empty() && ids.front() == 0 && ids.back() == kThreads * kPerThread - 1));
}
