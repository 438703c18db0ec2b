// Which records shmlog-loadgen writes and what id each carries: one rule, used by the generator
// and by the tests that check what arrived (tests/sidecar/output_check.cpp).
//
// Record k (0 <= k < records) belongs to process k % P and thread (k / P) % T, and is that
// thread's record i = k / (P * T). Its id, in the record's context under "id", is "<p>-<t>-<i>".
// So k = p + P * (t + T * i): every k has exactly one id and every id names exactly one k.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shmlog::loadgen {

// Longest id: two 10-digit unsigned, one 20-digit counter and two dashes.
inline constexpr std::size_t kMaxIdBytes = 10 + 1 + 10 + 1 + 20;

struct Split {
  unsigned processes = 1;
  unsigned threads = 1;
  std::uint64_t records = 0;

  // How many records thread `t` of process `p` writes: the k below `records` with
  // k % (P * T) == p + P * t.
  std::uint64_t per_thread(unsigned p, unsigned t) const {
    const std::uint64_t width = std::uint64_t{processes} * threads;
    const std::uint64_t first = p + std::uint64_t{processes} * t;
    return records > first ? (records - first - 1) / width + 1 : 0;
  }
  std::uint64_t index(unsigned p, unsigned t, std::uint64_t i) const {
    return p + std::uint64_t{processes} * (t + std::uint64_t{threads} * i);
  }
};

// Writes the id of record i of thread t of process p into `buf`; returns a view of it.
inline std::string_view format_id(char (&buf)[kMaxIdBytes], unsigned p, unsigned t, std::uint64_t i) {
  char* out = buf;
  char* const end = buf + kMaxIdBytes;
  // The buffer fits the longest id; the checks only keep the compiler from doubting it.
  auto put = [&](std::uint64_t value, bool dash) {
    out = std::to_chars(out, end, value).ptr;
    if (dash && out != end) *out++ = '-';
  };
  put(p, true);
  put(t, true);
  put(i, false);
  return {buf, static_cast<std::size_t>(out - buf)};
}

inline std::string record_id(unsigned p, unsigned t, std::uint64_t i) {
  char buf[kMaxIdBytes];
  return std::string(format_id(buf, p, t, i));
}

// The record index k an id stands for under `split`, or nothing if the id is malformed or names
// a process, thread or counter that the split does not have.
inline std::optional<std::uint64_t> parse_id(std::string_view id, const Split& split) {
  unsigned p = 0, t = 0;
  std::uint64_t i = 0;
  const char* pos = id.data();
  const char* const end = id.data() + id.size();
  auto number = [&](auto& value, bool last) {
    if (pos == end || *pos < '0' || *pos > '9' || (*pos == '0' && pos + 1 != end && pos[1] != '-'))
      return false;  // no sign, no leading zero: one spelling per id
    auto [next, ec] = std::from_chars(pos, end, value);
    if (ec != std::errc{}) return false;
    pos = next;
    if (last) return pos == end;
    if (pos == end || *pos != '-') return false;
    ++pos;
    return true;
  };
  if (!number(p, false) || !number(t, false) || !number(i, true)) return std::nullopt;
  if (p >= split.processes || t >= split.threads || i >= split.per_thread(p, t)) return std::nullopt;
  return split.index(p, t, i);
}

// Calls fn(p, t, i) for every record of the split, thread by thread.
template <typename Fn>
void for_each_record(const Split& split, Fn&& fn) {
  for (unsigned p = 0; p < split.processes; ++p)
    for (unsigned t = 0; t < split.threads; ++t)
      for (std::uint64_t i = 0, n = split.per_thread(p, t); i < n; ++i) fn(p, t, i);
}

}  // namespace shmlog::loadgen
