// Go's ways of printing text and times, as they appear in Loki's label sets and messages: the
// receiver's canonical labels and error bodies must read the way Loki's do.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace shmlog::loki {

// strconv.Quote: how Loki (Prometheus' labels.String) prints a label value. One gap: Go also
// escapes code points unassigned in its Unicode tables; those are copied as they are here.
void append_go_quote(std::string& out, std::string_view s);
std::string go_quote(std::string_view s);

// Well-formed UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view s);

// time.Format(time.RFC3339) of a UTC time: 2024-05-01T10:00:00Z (Loki's validation messages).
std::string rfc3339(std::int64_t unix_ns);
// time.Time.String() of a UTC time: 2024-05-01 10:00:00.5 +0000 UTC (the ingester's messages).
std::string go_time_string(std::int64_t unix_ns);

}  // namespace shmlog::loki
