// (g) fork() in the app: a process logs, forks, and both go on logging. The child must get a ring
// of its own (its pid in the name and the header), the parent's ring must keep only the parent's
// records, and once the parent exits its ring must read as dead even though the child, which
// inherited the parent's descriptors, is still running.
#include "process_util.hpp"
#include "support/test_dir.hpp"

#include <shmlog/reader.hpp>

#include <csignal>
#include <set>

#include <doctest/doctest.h>
#include <sys/wait.h>

using namespace shmlog;
using namespace shmlog::test;

namespace {

constexpr std::uint64_t kCount = 100;

struct Scenario {
  std::string name;
  std::vector<std::string> args;
  bool child_logs;
};

std::vector<Taken> peek_all(const std::string& path, std::uint32_t& lanes_used) {
  auto r = RingReader::open(path, OpenMode::observer);
  REQUIRE_MESSAGE(r, error_of(r));
  std::vector<Taken> taken;
  const std::string problem = take_all(*r.value(), Expect{2, 8, false}, taken, 7);
  REQUIRE_MESSAGE(problem.empty(), problem);
  std::set<std::uint32_t> lanes;
  for (const auto& t : taken) lanes.insert(t.lane);
  lanes_used = static_cast<std::uint32_t>(lanes.size());
  return taken;
}

void run(const Scenario& s) {
  CAPTURE(s.name);
  TempDir dir("shmlog-fork");
  std::vector<std::string> args{"--fork", "--count", std::to_string(kCount), "--payload", "8"};
  args.insert(args.end(), s.args.begin(), s.args.end());
  Child parent = Child::spawn(producer_argv(dir.path(), args), dir.file("producer.stderr"));
  const pid_t parent_pid = parent.pid();
  std::string why;
  const std::string parent_ring = expect_ring(parent, why);
  REQUIRE_MESSAGE(!parent_ring.empty(), why);
  const auto child_line = parent.expect_line("child ", milliseconds(20000));
  REQUIRE_MESSAGE(child_line, parent.transcript());
  // "child <pid> ring <path>"
  const std::string rest = child_line->substr(6);
  const auto space = rest.find(' ');
  REQUIRE(space != std::string::npos);
  Child child = Child::adopt(static_cast<pid_t>(std::stol(rest.substr(0, space))));
  const std::string child_ring = rest.substr(space + 1).starts_with("ring ") ? rest.substr(space + 6) : "";
  REQUIRE_MESSAGE(parent.expect_line("parent-done", milliseconds(20000)), parent.transcript());
  const auto status = parent.wait(milliseconds(10000));
  REQUIRE(status);
  CHECK_MESSAGE((WIFEXITED(*status) && WEXITSTATUS(*status) == 0), describe_status(*status));
  REQUIRE_MESSAGE(::kill(child.pid(), 0) == 0, "the child died with its parent");

  // The parent is gone, the child lives on with the parent's descriptors: the parent's ring is
  // dead all the same.
  auto pr = RingReader::open(parent_ring, OpenMode::observer);
  REQUIRE_MESSAGE(pr, error_of(pr));
  CHECK_MESSAGE(!pr.value()->writer_alive(), "the child keeps the parent's ring alive");
  CHECK(pr.value()->info().writer_pid == parent_pid);
  std::uint32_t lanes_used = 0;
  const auto parent_records = peek_all(parent_ring, lanes_used);
  std::set<std::uint64_t> main_thread_ids;
  for (const auto& t : parent_records) {
    CHECK_MESSAGE(t.who == "parent", "the parent's ring has a record of the " << t.who);
    if (t.thread == 0) main_thread_ids.insert(t.n);
  }
  CHECK(main_thread_ids.size() == 2 * kCount);  // before and after the fork, none lost
  CHECK(check_unique_ids(parent_records).empty());

  auto listed = list_rings(dir.path());
  REQUIRE(listed);
  if (!s.child_logs) {
    CHECK(child_ring.empty());
    CHECK(listed.value() == std::vector<std::string>{parent_ring});
  } else {
    REQUIRE_MESSAGE(!child_ring.empty(), "the child got no ring of its own (it logged to its fallback): "
                                             << read_file(dir.file("producer.stderr")).substr(0, 500));
    CHECK(child_ring != parent_ring);
    CHECK(child_ring.find("." + std::to_string(child.pid()) + ".") != std::string::npos);
    CHECK(std::set<std::string>(listed.value().begin(), listed.value().end()) ==
          std::set<std::string>{parent_ring, child_ring});
    auto cr = RingReader::open(child_ring, OpenMode::observer);
    REQUIRE_MESSAGE(cr, error_of(cr));
    CHECK(cr.value()->info().writer_pid == child.pid());
    CHECK(cr.value()->writer_alive());
    const auto child_records = peek_all(child_ring, lanes_used);
    CHECK(child_records.size() == kCount);
    for (const auto& t : child_records)
      CHECK_MESSAGE(t.who == "child", "the child's ring has a " << t.who << " record");
    CHECK(check_lanes_from_start(child_records).empty());

    child.kill(SIGKILL);
    REQUIRE(child.wait(milliseconds(10000)));
    CHECK_FALSE(cr.value()->writer_alive());
  }
}

}  // namespace

// The settings come from init(Config) only: the child must keep using them.
TEST_CASE("a forked child logs to a ring of its own, configured by init()") {
  REQUIRE(become_subreaper());  // the child outlives its parent: it must come back to us
  run({"configured by init()", {}, true});
}

// The same settings also in SHMLOG_* variables.
TEST_CASE("a forked child logs to a ring of its own, configured by the environment too") {
  REQUIRE(become_subreaper());
  run({"configured by the environment too", {"--export-env"}, true});
}

TEST_CASE("a forked child that never logs leaves the parent's ring alone") {
  REQUIRE(become_subreaper());
  run({"the child never logs", {"--child-silent"}, false});
}

TEST_CASE("a fork while another parent thread logs") {
  REQUIRE(become_subreaper());
  run({"another parent thread logs across the fork", {"--fork-busy", "--export-env"}, true});
}
