// (f) Liveness across processes: while the producer runs, another process sees writer_alive();
// after kill -9 it does not, because the kernel drops the producer's open-file-description lock
// with its last descriptor. Nothing here shares a pid with the writer or asks about pids.
#include "process_util.hpp"
#include "support/test_dir.hpp"

#include <shmlog/reader.hpp>

#include <csignal>

#include <doctest/doctest.h>
#include <sys/wait.h>

using namespace shmlog;
using namespace shmlog::test;

namespace {

// Opens the ring in a forked child and reports writer_alive() as its exit status (1 alive,
// 0 dead, 2 cannot open).
int alive_seen_by_another_process(const std::string& path, OpenMode mode) {
  Child c = Child::fork_call([&] {
    auto r = RingReader::open(path, mode);
    if (!r) return 2;
    return r.value()->writer_alive() ? 1 : 0;
  });
  auto status = c.wait(milliseconds(10000));
  REQUIRE(status);
  REQUIRE(WIFEXITED(*status));
  return WEXITSTATUS(*status);
}

}  // namespace

TEST_CASE("writer_alive is true while the producer runs and false once it is killed") {
  TempDir dir("shmlog-alive");
  Child producer =
      Child::spawn(producer_argv(dir.path(), {"--threads", "1", "--count", "0", "--interval-us", "200"}),
                   dir.file("producer.stderr"));
  std::string why;
  const std::string path = expect_ring(producer, why);
  REQUIRE_MESSAGE(!path.empty(), why);
  REQUIRE(producer.expect_line("ready", milliseconds(10000)));

  auto observer = RingReader::open(path, OpenMode::observer);
  auto consumer = RingReader::open(path, OpenMode::consumer);
  REQUIRE_MESSAGE(observer, error_of(observer));
  REQUIRE_MESSAGE(consumer, error_of(consumer));
  CHECK(observer.value()->writer_alive());
  CHECK(consumer.value()->writer_alive());
  CHECK(observer.value()->writer_state() == ring::WriterState::live);
  CHECK(alive_seen_by_another_process(path, OpenMode::observer) == 1);
  CHECK(alive_seen_by_another_process(path, OpenMode::consumer) == 1);
  // A consumer holding the consumer lock (byte 1) does not disturb the writer's (byte 0).
  CHECK(consumer.value()->try_lock_consumer());
  CHECK(observer.value()->writer_alive());

  producer.kill(SIGKILL);
  auto status = producer.wait(milliseconds(10000));
  REQUIRE(status);
  CHECK(WIFSIGNALED(*status));

  // Readers opened before the kill and after it agree, in this process and in another one.
  CHECK_FALSE(observer.value()->writer_alive());
  CHECK_FALSE(consumer.value()->writer_alive());
  auto later = RingReader::open(path, OpenMode::observer);
  REQUIRE_MESSAGE(later, error_of(later));
  CHECK_FALSE(later.value()->writer_alive());
  // The writer never closed the ring: only the lock tells that it died.
  CHECK(later.value()->writer_state() == ring::WriterState::live);
  CHECK(alive_seen_by_another_process(path, OpenMode::observer) == 0);
  CHECK(alive_seen_by_another_process(path, OpenMode::consumer) == 0);
}

TEST_CASE("writer_alive turns false when the producer exits normally, with or without shutdown") {
  for (const char* then : {"exit", "shutdown"}) {
    CAPTURE(then);
    TempDir dir("shmlog-alive");
    Child producer = Child::spawn(producer_argv(dir.path(), {"--count", "10", "--then", then}),
                                  dir.file("producer.stderr"));
    std::string why;
    const std::string path = expect_ring(producer, why);
    REQUIRE_MESSAGE(!path.empty(), why);
    auto status = producer.wait(milliseconds(10000));
    REQUIRE(status);
    CHECK_MESSAGE((WIFEXITED(*status) && WEXITSTATUS(*status) == 0), describe_status(*status));
    auto r = RingReader::open(path, OpenMode::observer);
    REQUIRE_MESSAGE(r, error_of(r));
    CHECK_FALSE(r.value()->writer_alive());
    CHECK(r.value()->writer_state() ==
          (std::string_view(then) == "shutdown" ? ring::WriterState::closed : ring::WriterState::live));
    CHECK(alive_seen_by_another_process(path, OpenMode::observer) == 0);
  }
}
