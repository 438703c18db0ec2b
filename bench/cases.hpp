// The benchmark cases. Each runs its own producer thread(s) and consumer, warms up, measures
// and returns the per-call nanoseconds of every burst; shmlog_bench.cpp prints them side by side.
#pragma once

#include "bench_support.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shmlog_bench {

inline constexpr int kProducerCpu = 0;
inline constexpr int kConsumerCpu = 1;

struct CaseSetup {
  BurstPlan plan;
  TscClock clock;
  std::string temp_dir;          // fresh per run: the ring, the floor file and the spdlog file
  std::string ring_path;         // this process's shmlog ring (shmlog::init was called)
  std::uint64_t lane_bytes = 0;  // of that ring; the floor ring gets the same size
  bool spdlog_file_sink = true;  // else a null sink
  // --consumer poll: the shmlog and floor consumers sleep 1 ms when they find nothing, instead
  // of spinning on their core (on a shared VM a spinning vCPU slows its sibling down too).
  bool consumer_polls = false;
};

struct CaseResult {
  std::string name;
  std::vector<double> per_call_ns;  // one average per measured burst
  // Extra fields of the case's JSON line, values already JSON (a quoted string, number, bool).
  std::vector<std::pair<std::string, std::string>> notes;
  // Counts of the run (records dropped, consumer sleeps, ...): summed over rounds.
  std::vector<std::pair<std::string, std::uint64_t>> counts;
  bool pinned = false;  // every thread got the CPU it asked for
  std::string error;    // non-empty: the case could not run, and says why
};

CaseResult run_shmlog_method(const CaseSetup& setup);
CaseResult run_shmlog_macro(const CaseSetup& setup);
CaseResult run_shmlog_disabled(const CaseSetup& setup);
CaseResult run_shmlog_two_threads(const CaseSetup& setup);
CaseResult run_shmlog_sleeping_consumer(const CaseSetup& setup);
CaseResult run_spdlog_async(const CaseSetup& setup);
CaseResult run_floor(const CaseSetup& setup);
CaseResult run_floor_tsc(const CaseSetup& setup);

// A JSON string literal of `s` (our own ASCII names and paths, a child's stderr; quotes,
// backslashes and control characters escaped).
std::string json_string(std::string_view s);

}  // namespace shmlog_bench
