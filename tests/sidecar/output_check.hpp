// Checks what the sidecar delivered: every JSON line of a service's output files, oldest file
// first, held to the schema, each record's context.id counted, and each writer thread's seq
// required to rise in file order. The tests that run shmlog-loadgen through the sidecar then
// compare the ids with what the generator wrote (expect_loadgen_ids).
//
//   auto check = test::read_output(out_dir, "loadgen");
//   test::expect_loadgen_ids(check, 2, 4, 100000);
//   CHECK_MESSAGE(check.ok(), test::summary(check));
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shmlog::test {

struct OutputCheck {
  static constexpr std::size_t kMaxProblems = 50;

  std::uint64_t lines = 0;            // JSON lines read in all
  std::vector<std::string> problems;  // the first kMaxProblems, each naming file:line and what is wrong
  std::uint64_t problem_count = 0;    // all of them, kept or not
  std::map<std::string, std::uint64_t> ids;  // context.id -> times seen
  std::uint64_t duplicates = 0;              // lines whose id was seen before (an id seen 3 times counts 2)
  std::uint64_t missing = 0;           // ids the generator wrote that no line carries (expect_loadgen_ids)
  std::uint64_t unexpected = 0;        // distinct ids the generator never wrote (expect_loadgen_ids)
  std::uint64_t order_violations = 0;  // lines whose seq is not above the last one of their (pid, tid)

  // The last seq seen per (pid, tid), for the order check across files.
  std::map<std::pair<std::int64_t, std::int64_t>, std::uint64_t> last_seq;

  bool ok() const {
    return problem_count == 0 && duplicates == 0 && missing == 0 && unexpected == 0 && order_violations == 0;
  }
};

// Reads every file of `service` in `out_dir`, oldest first: <service>.log.N(.gz) ... .log.1(.gz),
// then <service>.log. Every line must end in '\n', parse as JSON and pass the schema. Lines
// without context.id (e.g. the sidecar's own WARNING lines about drops) are counted but not
// id-checked. Also a problem: no files at all, no current <service>.log, a gap in the backup
// numbers, a number present both plain and gzipped (then the .gz is read), a .gz that is not
// gzip or is cut short.
OutputCheck read_output(const std::string& out_dir, const std::string& service);

// Checks one line (without its '\n') into `check`; `where` names it ("file:line"). read_output
// calls it for each line; tests that read rings directly can feed it their lines too.
void check_line(OutputCheck& check, const std::string& where, std::string_view line);

// Compares the ids with those shmlog-loadgen writes for (processes, threads, records), by the
// rule in bench/loadgen_ids.hpp: fills `missing` and `unexpected`, with a problem for each.
void expect_loadgen_ids(OutputCheck& check, unsigned processes, unsigned threads, std::uint64_t records);

// One line for a failing CHECK: the counts and the first few problems.
std::string summary(const OutputCheck& check);

}  // namespace shmlog::test
