// Turning a decoded record into the output contract: one JSON object per line, per
// docs/log-record.schema.json. Used by the sidecar, `shmlog ring tail` and the library's
// stderr fallback, so all three print the same lines.
#pragma once

#include <shmlog/reader.hpp>

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace shmlog {

// Context keys whose values are replaced by "[REDACTED]" unless configured otherwise. A key
// matches when, lower-cased, it contains one of these.
std::vector<std::string> default_redact_keys();

struct JsonOptions {
  std::vector<std::string> redact_keys = default_redact_keys();
  // Longer messages are cut at a UTF-8 boundary and end in kTruncationMarker.
  std::size_t max_message_bytes = 65536;
};

inline constexpr std::string_view kTruncationMarker = "…[truncated]";

// The record's message: its template with the arguments formatted fmt-style. A template the
// arguments do not fit (a hostile or mismatched site) is printed with its raw arguments appended
// rather than dropped. Formatting stops a byte past `max_bytes` (so a caller that cuts at
// max_bytes can tell it cut), and a spec asking for more than that (a field width, a precision)
// falls back to the raw arguments: a hostile template costs the reader kilobytes, not gigabytes.
void render_message(const RecordView& rec, std::string& out, std::size_t max_bytes = 65536);

// Formatted fields a caller keeps per ring: the fields that say where a record comes from
// (service, file, line, function, logger, pod identity) are the same for every record of a call
// site and logger, so they are formatted once. Valid for one ring only.
struct LineCache {
  static constexpr std::size_t kMaxEntries = 4096;  // then it starts afresh
  std::unordered_map<std::uint64_t, std::string> origins;
};

// Appends the record's JSON line, '\n' included, to `out`. Strings are strict JSON: control
// characters (newlines, ANSI escapes) are escaped and invalid UTF-8 becomes U+FFFD, so a
// message can never forge a second line.
void append_json_line(const RecordView& rec, const RingInfo& ring, const JsonOptions& options,
                      std::string& out, LineCache* cache = nullptr);

// Appends `s` as the inside of a JSON string (no quotes): '"', '\\' and control characters
// escaped as RapidJSON writes them, everything else copied (bytes of invalid UTF-8 too: a caller
// that needs valid UTF-8 runs sanitize_utf8 first). Runs of plain bytes are copied whole.
void append_json_escaped(std::string& out, std::string_view s);

// The length of the longest prefix of `s` of at most `max` bytes that ends at a UTF-8
// character boundary (a cut there never splits a character).
std::size_t utf8_cut(std::string_view s, std::size_t max);

// Replaces invalid UTF-8 sequences in `in` by U+FFFD into `out` and returns true; returns false,
// leaving `out` untouched, when `in` is valid as it is.
bool sanitize_utf8(std::string_view in, std::string& out);

}  // namespace shmlog
