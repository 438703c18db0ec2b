#include "corpus_gen.hpp"

#include "structured.hpp"

#include <shmlog/logger.hpp>
#include <shmlog/reader.hpp>
#include <shmlog/trace.hpp>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace shmlog::fuzz {
namespace {

using shmlog::kv;

enum class Color : std::int16_t { red = -1, green = 7 };

// ---- what each scenario logs (in a forked child, so every scenario starts a fresh process) ----

void basic(const Logger& log) {
  log.info("hello {}", 42);
  log.info("user {} logged in from {}", "alice", "10.0.0.1", kv("user_id", 7), kv("request", "GET /"));
  Logger{}.debug("no arguments, default logger");
  log.warning("disk {}% full", 93.5, kv("mount", "/var"));
  log.error("giving up after {} tries", 3u);
  log.critical("shutting down");
  log.trace("trace level");
}

void types(const Logger& log) {
  const int x = 5;
  log.info("types {} {} {} {} {} {} {} {} {} {} {} {} {} {}", true, 'x', std::int8_t{-8}, std::int16_t{-16},
           std::int32_t{-32}, std::int64_t{-64}, std::uint8_t{8}, std::uint16_t{16}, std::uint32_t{32},
           std::uint64_t{64}, 1.5f, 2.25, "str", static_cast<const void*>(&x));
  log.info("null {} enum {} string {}", nullptr, Color::red, std::string("std::string"));
  const char* none = nullptr;
  log.info("null c string {}", none);
  log.info("context of every type", kv("b", false), kv("c", 'q'), kv("i8", std::int8_t{-1}),
           kv("i16", std::int16_t{-2}), kv("i32", -3), kv("i64", std::int64_t{-4}), kv("u8", std::uint8_t{1}),
           kv("u16", std::uint16_t{2}), kv("u32", 3u), kv("u64", std::uint64_t{4}), kv("f", 0.5f),
           kv("d", -0.25), kv("s", "text"), kv("p", static_cast<const void*>(&x)), kv("e", Color::green));
  log.info("extremes {} {} {} {}", std::numeric_limits<std::int64_t>::min(),
           std::numeric_limits<std::uint64_t>::max(), std::numeric_limits<double>::infinity(),
           std::numeric_limits<double>::quiet_NaN());
}

void sections(const Logger& log) {
  try {
    throw std::runtime_error("disk on fire");
  } catch (const std::exception& e) {
    log.error("refund failed for {}", "order-1", shmlog::exception(e));
  }
  try {
    throw 42;
  } catch (...) {
    log.critical("unknown exception", shmlog::current_exception());
  }
  { auto timer = log.time("timed scope"); }
  {
    ScopedTrace trace(TraceContext::generate());
    ScopedCorrelation correlation("corr-1234");
    log.info("traced and correlated {}", 1, kv("step", "a"));
  }
  const Logger child = log.with_context(kv("tenant", "acme"), kv("shard", 3));
  child.info("child logger {}", "with context", kv("extra", true));
  child.with_context(kv("nested", 1.5)).warning("grandchild");
  log.info("long {}", std::string(300, 'L'),
           kv(std::string(300, 'k'), std::string(300, 'v')));  // cut: truncated
}

void output_edges(const Logger& log) {
  log.info("invalid utf-8 {} and controls {}", "\xff\xfe\xc3", "line\nbreak\x1b[31m\t\"quoted\"\\");
  log.info("secrets", kv("password", "hunter2"), kv("api_key", 1234), kv("Authorization", "Bearer x"));
  log.info("user as string", kv("user_id", "u-42"), kv("user_id", "u-43"));
  log.info("specs {:>8}|{:<4}|{:x}|{:.3f}|{{literal}}", 7, "ab", 255u, 3.14159);
  log.info("positional {1} {0} {1}", "zero", "one");
  log.warning("bad spec for the type {:d}", "text");
  log.info("unicode ✓ {}", "ünïcødé");
}

void many_sites(const Logger& log) {
  const Logger a{"alpha"}, b{"beta"}, c{"gamma.delta"};
  a.info("site a1 {}", 1);
  a.debug("site a2 {} {}", 1, 2);
  b.info("site b1 {}", "x");
  b.error("site b2");
  c.warning("site c1 {}", 1.0);
  c.info("site c2 {}", 'c');
  log.info("site l1");
  log.info("site l2 {}", true);
  log.info("site l3 {} {} {}", 1, 2u, 3ll);
  for (int i = 0; i < 5; ++i) a.info("site a1 {}", i);
}

void threads(const Logger& log) {
  std::vector<std::thread> ts;
  for (int t = 0; t < 3; ++t)
    ts.emplace_back([&log, t] {
      for (int i = 0; i < 6; ++i) log.info("thread {} record {}", t, i, kv("t", t));
    });
  for (auto& t : ts) t.join();
}

struct Scenario {
  const char* name;
  void (*run)(const Logger&);
  std::uint32_t lanes;
};
const Scenario kScenarios[] = {
    {"basic", basic, 2},           {"types", types, 2},
    {"sections", sections, 2},     {"output-edges", output_edges, 2},
    {"many-sites", many_sites, 2}, {"threads", threads, 2},
};

// Runs a scenario in a forked child logging into `dir`; returns the ring it wrote.
std::string run_scenario(const Scenario& s, const std::string& dir, std::string& error) {
  const pid_t pid = ::fork();
  if (pid < 0) {
    error = "fork failed";
    return {};
  }
  if (pid == 0) {
    Config c;
    c.dir = dir;
    c.service = std::string("seed-") + s.name;
    c.ring_bytes = 64 << 10;
    c.lanes = s.lanes;
    c.sites_bytes = 4096;
    c.max_string_bytes = 64;
    c.level = Level::trace;
    if (!init(c)) _exit(2);
    const Logger log{"seeds"};
    s.run(log);
    shutdown();
    _exit(0);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    error = std::string("scenario ") + s.name + " failed";
    return {};
  }
  auto rings = list_rings(dir);
  if (!rings || rings.value().size() != 1) {
    error = std::string("scenario ") + s.name + " left no single ring in " + dir;
    return {};
  }
  return rings.value().front();
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

template <typename T>
T get(const std::string& buf, std::size_t offset) {
  T v{};
  if (offset + sizeof v <= buf.size()) std::memcpy(&v, buf.data() + offset, sizeof v);
  return v;
}

// Whole registry entries of the ring, as many as fit the small layout's registry.
std::string registry_of(const std::string& file) {
  const auto offset = get<std::uint64_t>(file, offsetof(ring::FileHeader, sites_offset));
  const auto used = get<std::uint64_t>(file, offsetof(ring::FileHeader, sites_used));
  std::size_t keep = 0;
  while (keep + 8 <= used) {
    const std::uint32_t length = ring::commit_length(get<std::uint64_t>(file, offset + keep));
    if (length == 0 || keep + length + 8 > kSitesBytes) break;
    keep += length;
  }
  return file.substr(offset, keep);
}

// Lays `records` one after another into a lane of kLaneBytes starting at `offset`, with a padding
// record where one does not fit before the lane's end. Returns the bytes from `offset` on.
std::string lay_out(const std::vector<std::string>& records, std::uint64_t offset) {
  std::string lane;
  auto at = [&](std::uint64_t rel) { return (offset + rel) % kLaneBytes; };
  for (const auto& r : records) {
    std::uint64_t pad = at(lane.size()) + r.size() > kLaneBytes ? kLaneBytes - at(lane.size()) : 0;
    if (lane.size() + pad + r.size() + 8 > kLaneBytes) break;  // keep the zero commit word after the last
    if (pad != 0) {
      std::string padding(pad, '\0');
      const std::uint64_t commit =
          ring::make_commit(static_cast<std::uint32_t>(pad), ring::RecordKind::padding, 0, 0);
      std::memcpy(padding.data(), &commit, 8);
      lane += padding;
    }
    lane += r;
  }
  return lane;
}

}  // namespace

long make_seeds(const std::string& dir, const SeedOptions& options, std::string& error) {
  long written = 0;
  for (const Scenario& s : kScenarios) {
    std::error_code ec;
    const std::string work = dir + "/.work-" + s.name;
    std::filesystem::remove_all(work, ec);
    std::filesystem::create_directories(work, ec);
    const std::string path = run_scenario(s, work, error);
    if (path.empty()) return -1;
    const std::string file = read_bytes(path);
    auto opened = RingReader::open(path, OpenMode::observer);
    if (!opened) {
      error = opened.error().message;
      return -1;
    }
    RingReader& r = *opened.value();
    std::vector<std::vector<std::string>> lanes;
    for (std::uint32_t lane = 0; lane < r.info().lane_count && lane < kMaxLanes; ++lane) {
      Batch b;
      if (auto st = r.read_batch(lane, 4096, 1 << 20, b, 0); !st) {
        error = st.error().message;
        return -1;
      }
      std::vector<std::string> records;
      for (std::size_t i = 0; i < b.records.size(); ++i) {
        const std::size_t end = i + 1 < b.records.size() ? b.records[i + 1].first : b.bytes.size();
        records.emplace_back(reinterpret_cast<const char*>(b.bytes.data()) + b.records[i].first,
                             end - b.records[i].first);
      }
      lanes.push_back(std::move(records));
    }
    const bool tsc = r.info().clock_source == ring::ClockSource::tsc;
    // Placement 0: from offset 0 of the first lap. Placement 1: from near the lane's end of a
    // later lap, so the records wrap through a padding record.
    for (int placement = 0; placement < 2; ++placement) {
      StructuredSpec spec;
      spec.control.lanes = static_cast<std::uint8_t>(lanes.size() - 1);
      spec.control.flags = tsc ? kTscClock : 0;
      spec.control.tsc_hz = tsc ? r.info().tsc_hz : 0;
      spec.control.write_ahead = 512;
      spec.registry = registry_of(file);
      const std::uint64_t offset = placement == 0 ? 0 : kLaneBytes - 256;
      for (std::uint32_t lane = 0; lane < lanes.size(); ++lane) {
        spec.control.cursor[lane] = placement == 0 ? 0 : (7u << 12) | static_cast<std::uint32_t>(offset);
        spec.lanes.push_back(lay_out(lanes[lane], offset));
      }
      spec.identity = file.substr(offsetof(ring::FileHeader, service), 5 * ring::kIdentityBytes);
      const std::string input = std::string(1, static_cast<char>(kStructuredTag)) + encode(spec);
      const std::string base = dir + "/" + s.name + "-" + std::to_string(placement);
      if (!write_bytes(base + ".struct", input)) {
        error = "cannot write " + base + ".struct";
        return -1;
      }
      ++written;
      if (options.raw_images && placement == 0) {
        if (!write_bytes(base + ".ring", ring_image(spec))) return -1;
        ++written;
      }
    }
    if (options.full_rings) {
      if (!write_bytes(dir + "/" + s.name + "-full.ring", file)) return -1;
      ++written;
    }
    std::filesystem::remove_all(work, ec);
  }
  return written;
}

}  // namespace shmlog::fuzz
