// The Loki shipper's spool and positions, on real files: every line handed out once across
// restarts, rotations followed, gzipped backups recognised, a deleted unshipped file counted.
#include "sinks/loki/positions.hpp"
#include "sinks/loki/spool.hpp"
#include "support/test_dir.hpp"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <zlib.h>

using namespace shmlog;
using namespace shmlog::sidecar::loki;
using shmlog::test::TempDir;

namespace {

void append(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::app | std::ios::binary);
  f << text;
}

std::string lines(int from, int to, const std::string& tag = "l") {
  std::string s;
  for (int i = from; i < to; ++i) s += "{\"" + tag + "\":" + std::to_string(i) + "}\n";
  return s;
}

std::string gzip_file(const std::string& from, const std::string& to) {
  const std::string text = shmlog::test::read_file(from);
  gzFile gz = gzopen(to.c_str(), "wb");
  gzwrite(gz, text.data(), static_cast<unsigned>(text.size()));
  gzclose(gz);
  std::remove(from.c_str());
  return to;
}

struct Reader {
  TempDir& dir;
  PositionStore store;
  Spool spool;
  SpoolTicket ticket;
  std::vector<std::string> got;
  explicit Reader(TempDir& d)
      : dir(d), store(PositionStore::load(d.file(".pos.json")).value()), spool(d.path(), store) {
    (void)spool.refresh();
  }
  // Reads everything available and commits it.
  std::vector<std::string> take_all(bool commit = true) {
    std::vector<std::string> now;
    while (spool.read(
               1 << 20, [&](std::string_view, std::string_view l) { now.emplace_back(l); }, ticket) > 0) {
    }
    if (commit) {
      spool.commit(ticket);
      ticket.clear();
      REQUIRE(store.save());
    }
    got.insert(got.end(), now.begin(), now.end());
    return now;
  }
};

}  // namespace

TEST_CASE("positions survive a save and a load, and a broken file is an error") {
  TempDir d;
  auto s = PositionStore::empty(d.file("p.json"));
  s.put({{1, 2, 0xabcdef}, 100, 200, "/x/a.log"});
  s.put({{1, 3, 0x123}, 5, 5, "/x/a.log.1"});
  REQUIRE(s.save());
  CHECK_FALSE(s.dirty());
  auto l = PositionStore::load(d.file("p.json"));
  REQUIRE(l);
  REQUIRE(l->all().size() == 2);
  CHECK(l->find({1, 2, 0xabcdef})->offset == 100);
  // The same first line under another inode: the gzipped backup of a file.
  CHECK(l->find({1, 99, 0x123})->offset == 5);
  CHECK(l->find({1, 2, 0x999}) == nullptr);
  struct stat st {};
  CHECK(::stat(d.file("p.json.tmp").c_str(), &st) != 0);  // no temporary left behind

  shmlog::test::write_file(d.file("bad.json"), "{\"files\":[{\"dev\":1}]}");
  auto bad = PositionStore::load(d.file("bad.json"));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("bad.json") != std::string::npos);
  CHECK(PositionStore::load(d.file("missing.json")));
}

TEST_CASE("lines are handed out whole and once, across a restart") {
  TempDir d;
  append(d.file("svc.log"), lines(0, 10));
  append(d.file("svc.log"), "{\"l\":10");  // a line still being written
  {
    Reader r(d);
    CHECK(r.take_all().size() == 10);
    append(d.file("svc.log"), "}\n" + lines(11, 15));
    auto more = r.take_all();
    REQUIRE(more.size() == 5);
    CHECK(more[0] == "{\"l\":10}");
    // Read but not committed: a crash now re-reads these.
    append(d.file("svc.log"), lines(15, 18));
    CHECK(r.take_all(false).size() == 3);
  }
  Reader again(d);
  auto rest = again.take_all();
  REQUIRE(rest.size() == 3);
  CHECK(rest[0] == "{\"l\":15}");
}

TEST_CASE("a rotation is followed to the end of the old file before the new one") {
  TempDir d;
  append(d.file("svc.log"), lines(0, 5));
  Reader r(d);
  CHECK(r.take_all().size() == 5);
  append(d.file("svc.log"), lines(5, 8));
  // Rotated (renamed, as the file sink does) before the shipper saw lines 5..7.
  REQUIRE(std::rename(d.file("svc.log").c_str(), d.file("svc.log.1").c_str()) == 0);
  append(d.file("svc.log"), lines(8, 12));
  (void)r.spool.refresh();
  r.take_all();
  REQUIRE(r.got.size() == 12);
  for (int i = 0; i < 12; ++i)
    CHECK(r.got[static_cast<std::size_t>(i)] == "{\"l\":" + std::to_string(i) + "}");
  // A restart reads nothing again.
  Reader again(d);
  CHECK(again.take_all().empty());
}

TEST_CASE("a backup gzipped since it was last read is taken up where it was left") {
  TempDir d;
  append(d.file("svc.log.2"), lines(0, 3000));
  std::size_t first = 0;
  {
    Reader r(d);
    // A small budget: one read of about 4 KiB, so part of the file.
    r.spool.read(
        1, [&](std::string_view, std::string_view) { ++first; }, r.ticket);
    REQUIRE(first > 0);
    REQUIRE(first < 3000);
    r.spool.commit(r.ticket);
    REQUIRE(r.store.save());
  }
  gzip_file(d.file("svc.log.2"), d.file("svc.log.2.gz"));
  append(d.file("svc.log"), lines(3000, 3002));
  Reader r(d);
  auto rest = r.take_all();
  REQUIRE(rest.size() == 3002 - first);
  CHECK(rest[0] == "{\"l\":" + std::to_string(first) + "}");
  CHECK(rest.back() == "{\"l\":3001}");
}

TEST_CASE("backups are read oldest first, services in turn") {
  TempDir d;
  append(d.file("a.log.2"), lines(0, 2, "a"));
  append(d.file("a.log.1"), lines(2, 4, "a"));
  append(d.file("a.log"), lines(4, 6, "a"));
  append(d.file("b.log"), lines(0, 3, "b"));
  shmlog::test::write_file(d.file("notes.txt"), "not a log\n");
  Reader r(d);
  std::vector<std::string> a, b;
  r.spool.read(
      1 << 20, [&](std::string_view stem, std::string_view l) { (stem == "a" ? a : b).emplace_back(l); },
      r.ticket);
  while (r.spool.read(
             1 << 20,
             [&](std::string_view stem, std::string_view l) { (stem == "a" ? a : b).emplace_back(l); },
             r.ticket) > 0) {
  }
  REQUIRE(a.size() == 6);
  for (int i = 0; i < 6; ++i) CHECK(a[static_cast<std::size_t>(i)] == "{\"a\":" + std::to_string(i) + "}");
  CHECK(b.size() == 3);
}

TEST_CASE("a file deleted before it was shipped is reported with its unshipped bytes") {
  TempDir d;
  append(d.file("svc.log.1"), lines(0, 10));
  append(d.file("svc.log"), lines(10, 12));
  PositionStore store = PositionStore::empty(d.file(".pos.json"));
  Spool spool(d.path(), store);
  CHECK(spool.refresh().empty());
  CHECK(spool.pending_bytes() == 12 * 8 + 2);  // "{\"l\":N}\n" is 8 bytes, two-digit N 9
  std::remove(d.file("svc.log.1").c_str());
  const auto losses = spool.refresh();
  REQUIRE(losses.size() == 1);
  CHECK(losses[0].bytes == 10 * 8);
  CHECK(losses[0].path == d.file("svc.log.1"));
  CHECK(spool.refresh().empty());  // reported once
}
