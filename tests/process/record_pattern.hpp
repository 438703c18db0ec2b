// What shmlog-test-producer writes, shared with the tests that read it back, so a reader can
// check every byte of every record it gets: a torn or stale copy cannot pass for a good one.
//
// Record n of thread t (of T threads) is
//   log.info(kRecordFormat, n, t, pad, kv("id", id), kv("thread", t), kv("who", who))
// with id = n * T + t (unique in the process, increasing per thread), pad = the id in hex
// repeated to the requested number of bytes, and who = "main", "parent" or "child".
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

namespace shmlog::test {

inline constexpr std::string_view kRecordFormat = "record {} of thread {} pad {}";

inline std::uint64_t record_id(std::uint64_t n, std::uint32_t thread, std::uint32_t threads) {
  return n * threads + thread;
}

// Writes `bytes` bytes of the 16-digit hex id, repeated (the last copy cut), into `out`. Doubles
// with memcpy: the producer spends its time copying records, not building them.
inline void fill_pad(char* out, std::uint64_t id, std::size_t bytes) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(id));
  std::memcpy(out, hex, bytes < 16 ? bytes : 16);
  for (std::size_t done = 16; done < bytes; done *= 2)
    std::memcpy(out + done, out, bytes - done < done ? bytes - done : done);
}

inline std::string make_pad(std::uint64_t id, std::size_t bytes) {
  std::string s(bytes, '\0');
  fill_pad(s.data(), id, bytes);
  return s;
}

inline std::string expected_message(std::uint64_t n, std::uint32_t thread, std::string_view pad) {
  return "record " + std::to_string(n) + " of thread " + std::to_string(thread) + " pad " + std::string(pad);
}

// --rich: record n is logged at kRichLevels[n % 4]; ERROR records carry an exception whose
// message is rich_exception_what(id), CRITICAL ones come from a child logger with a tenant.
inline constexpr std::string_view kRichLevels[4] = {"INFO", "WARNING", "ERROR", "CRITICAL"};
inline std::string rich_exception_what(std::uint64_t id) {
  return "boom " + std::to_string(id);
}
inline constexpr std::string_view kRichTenant = "acme";

// The producer's named logger.
inline constexpr std::string_view kLoggerName = "producer";

}  // namespace shmlog::test
