#include "sidecar/output_check.hpp"

#include "loadgen_ids.hpp"
#include "support/test_dir.hpp"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <zlib.h>

namespace shmlog::test {
namespace {

namespace fs = std::filesystem;

// Problems quote at most this much of a line or message: enough to recognise it.
constexpr std::size_t kQuoteBytes = 300;

std::string quote(std::string_view text) {
  if (text.size() <= kQuoteBytes) return std::string(text);
  return std::string(text.substr(0, kQuoteBytes)) + "...";
}

void add_problem(OutputCheck& check, std::string what) {
  ++check.problem_count;
  if (check.problems.size() < OutputCheck::kMaxProblems) check.problems.push_back(std::move(what));
}

// Hands each line of a file to `fn(line_number, line, ends_in_newline)`, 64 KiB at a time, so a
// big output never has to fit in memory. Returns what went wrong reading, or "".
template <typename Fn>
std::string for_each_line(const fs::path& path, bool gzipped, Fn&& fn) {
  std::string error;
  gzFile gz = nullptr;
  std::FILE* plain = nullptr;
  if (gzipped) {
    std::error_code ec;
    if (fs::file_size(path, ec) == 0 && !ec) return "empty, so not gzip-compressed";
    gz = ::gzopen(path.c_str(), "rb");
    if (gz == nullptr) return std::string("cannot open: ") + std::strerror(errno);
  } else {
    plain = std::fopen(path.c_str(), "rb");
    if (plain == nullptr) return std::string("cannot open: ") + std::strerror(errno);
  }
  std::string pending;
  std::uint64_t line_number = 0;
  char chunk[1 << 16];
  for (;;) {
    std::size_t got = 0;
    if (gz != nullptr) {
      const int n = ::gzread(gz, chunk, sizeof chunk);
      int code = Z_OK;
      const char* message = ::gzerror(gz, &code);
      if (n < 0 || code != Z_OK) {
        error = std::string("gzip error: ") + (message != nullptr ? message : "unknown");
        break;
      }
      if (n > 0 && ::gzdirect(gz) == 1) {
        error = "named .gz but not gzip-compressed";
        break;
      }
      got = static_cast<std::size_t>(n);
    } else {
      got = std::fread(chunk, 1, sizeof chunk, plain);
      if (got == 0 && std::ferror(plain)) {
        error = std::string("read error: ") + std::strerror(errno);
        break;
      }
    }
    if (got == 0) break;
    pending.append(chunk, got);
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1)
      fn(++line_number, std::string_view(pending).substr(start, nl - start), true);
    pending.erase(0, start);
  }
  if (error.empty() && !pending.empty()) fn(++line_number, std::string_view(pending), false);
  if (gz != nullptr) ::gzclose(gz);
  if (plain != nullptr) std::fclose(plain);
  return error;
}

// "<service>.log.<N>" or "<service>.log.<N>.gz" -> N (no sign, no leading zero, N >= 1).
std::optional<unsigned> backup_number(std::string_view name, std::string_view prefix, bool& gzipped) {
  if (!name.starts_with(prefix)) return std::nullopt;
  name.remove_prefix(prefix.size());
  gzipped = name.ends_with(".gz");
  if (gzipped) name.remove_suffix(3);
  if (name.empty() || name[0] < '1' || name[0] > '9') return std::nullopt;
  unsigned n = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), n);
  if (ec != std::errc{} || end != name.data() + name.size()) return std::nullopt;
  return n;
}

struct OutputFile {
  fs::path path;
  bool gzipped = false;
};

// The service's files, oldest first, with a problem for anything odd about the set.
std::vector<OutputFile> output_files(const std::string& out_dir, const std::string& service,
                                     OutputCheck& check) {
  std::error_code ec;
  fs::directory_iterator it(out_dir, ec);
  if (ec) {
    add_problem(check, out_dir + ": cannot list: " + ec.message());
    return {};
  }
  const std::string current = service + ".log";
  const std::string prefix = current + ".";
  bool have_current = false;
  std::map<unsigned, std::pair<bool, bool>> backups;  // N -> (plain exists, gzipped exists)
  for (const fs::directory_entry& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name == current) {
      have_current = true;
      continue;
    }
    bool gzipped = false;
    if (auto n = backup_number(name, prefix, gzipped))
      (gzipped ? backups[*n].second : backups[*n].first) = true;
  }
  std::vector<OutputFile> files;
  for (auto b = backups.rbegin(); b != backups.rend(); ++b) {
    const auto [number, kinds] = *b;
    const std::string plain = prefix + std::to_string(number);
    if (kinds.first && kinds.second)
      add_problem(check, plain + " and " + plain + ".gz both exist (reading only the .gz)");
    files.push_back(kinds.second ? OutputFile{fs::path(out_dir) / (plain + ".gz"), true}
                                 : OutputFile{fs::path(out_dir) / plain, false});
  }
  // Gaps in the numbers are not problems: a sidecar killed while shifting backups (.k to .k+1,
  // highest first) leaves one, and reading by number keeps the lines in order all the same.
  if (have_current)
    files.push_back(OutputFile{fs::path(out_dir) / current, false});
  else
    add_problem(check, out_dir + ": no " + current + (backups.empty() ? " and no backups of it" : ""));
  return files;
}

std::optional<std::int64_t> integer_member(const rapidjson::Value& doc, const char* key) {
  auto m = doc.FindMember(key);
  if (m == doc.MemberEnd() || !m->value.IsInt64()) return std::nullopt;
  return m->value.GetInt64();
}

}  // namespace

void check_line(OutputCheck& check, const std::string& where, std::string_view line) {
  ++check.lines;
  rapidjson::Document doc;
  doc.Parse(line.data(), line.size());
  if (doc.HasParseError()) {
    add_problem(check, where + ": not JSON (" + rapidjson::GetParseError_En(doc.GetParseError()) +
                           " at byte " + std::to_string(doc.GetErrorOffset()) + "): " + quote(line));
    return;
  }
  if (std::string schema = schema_error(std::string(line)); !schema.empty()) {
    add_problem(check, where + ": " + quote(schema));
    if (!doc.IsObject()) return;
  }

  // Const iterators: clang warns that C++20 finds rapidjson's non-const comparisons ambiguous.
  const rapidjson::Value& root = doc;
  if (auto context = root.FindMember("context"); context != root.MemberEnd() && context->value.IsObject()) {
    if (auto id = context->value.FindMember("id"); id != context->value.MemberEnd()) {
      if (!id->value.IsString()) {
        add_problem(check, where + ": context.id is not a string");
      } else {
        std::uint64_t& seen = check.ids[std::string(id->value.GetString(), id->value.GetStringLength())];
        if (++seen > 1) {
          ++check.duplicates;
          add_problem(check,
                      where + ": id " + id->value.GetString() + " seen " + std::to_string(seen) + " times");
        }
      }
    }
  }

  const auto pid = integer_member(root, "pid");
  const auto tid = integer_member(root, "tid");
  const auto seq = integer_member(root, "seq");
  if (!pid || !tid || !seq || *seq < 0) return;  // not a writer's record (the schema says the rest)
  const auto [last, first] = check.last_seq.try_emplace({*pid, *tid}, static_cast<std::uint64_t>(*seq));
  if (first) return;
  if (static_cast<std::uint64_t>(*seq) <= last->second) {
    ++check.order_violations;
    add_problem(check, where + ": pid " + std::to_string(*pid) + " tid " + std::to_string(*tid) + ": seq " +
                           std::to_string(*seq) + " after seq " + std::to_string(last->second));
  }
  last->second = static_cast<std::uint64_t>(*seq);  // one line out of place is one violation, not a run
}

OutputCheck read_output(const std::string& out_dir, const std::string& service) {
  OutputCheck check;
  for (const OutputFile& file : output_files(out_dir, service, check)) {
    const std::string name = file.path.filename().string();
    const std::string error = for_each_line(
        file.path, file.gzipped, [&](std::uint64_t number, std::string_view line, bool newline) {
          const std::string where = name + ":" + std::to_string(number);
          if (!newline) add_problem(check, where + ": last line does not end in a newline");
          check_line(check, where, line);
        });
    if (!error.empty()) add_problem(check, name + ": " + error);
  }
  return check;
}

void expect_loadgen_ids(OutputCheck& check, unsigned processes, unsigned threads, std::uint64_t records) {
  const loadgen::Split split{processes, threads, records};
  const std::string run = "--processes " + std::to_string(processes) + " --threads " +
                          std::to_string(threads) + " --records " + std::to_string(records);
  std::uint64_t found = 0;
  for (const auto& [id, times] : check.ids) {
    if (loadgen::parse_id(id, split)) {
      ++found;
    } else {
      ++check.unexpected;
      add_problem(check, "id " + quote(id) + " is not one shmlog-loadgen " + run + " writes");
    }
  }
  check.missing = records - found;
  if (check.missing == 0) return;
  // One problem for all of them, with the first few as examples.
  constexpr std::size_t kExamples = 10;
  std::string examples;
  std::size_t shown = 0;
  loadgen::for_each_record(split, [&](unsigned p, unsigned t, std::uint64_t i) {
    if (shown == kExamples) return;
    std::string id = loadgen::record_id(p, t, i);
    if (check.ids.contains(id)) return;
    examples += (shown++ == 0 ? "" : ", ") + id;
  });
  add_problem(check, std::to_string(check.missing) + " of " + std::to_string(records) +
                         " ids of shmlog-loadgen " + run + " missing, e.g. " + examples);
}

std::string summary(const OutputCheck& check) {
  std::string s = std::to_string(check.lines) + " lines, " + std::to_string(check.ids.size()) +
                  " distinct ids, " + std::to_string(check.duplicates) + " duplicates, " +
                  std::to_string(check.missing) + " missing, " + std::to_string(check.unexpected) +
                  " unexpected, " + std::to_string(check.order_violations) + " order violations, " +
                  std::to_string(check.problem_count) + " problems";
  constexpr std::size_t kShown = 3;
  for (std::size_t i = 0; i < check.problems.size() && i < kShown; ++i)
    s += (i == 0 ? ": " : " | ") + check.problems[i];
  if (check.problem_count > kShown) s += " | ... " + std::to_string(check.problem_count - kShown) + " more";
  return s;
}

}  // namespace shmlog::test
