// The top-level string fields of a spool line that Loki's labels, timestamp and message-only
// lines come from. Lines the record writer wrote take a scan that skips what it does not need;
// anything else goes through RapidJSON's reader, and both give the same fields.
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace shmlog::sidecar::loki {

enum RecordField : int {
  kTimestamp,
  kMessage,
  kService,
  kNamespace,
  kPod,
  kContainer,
  kLevel,
  kHost,
  kLogger,
  kRecordFields
};
inline constexpr std::array<std::string_view, kRecordFields> kRecordFieldNames = {
    "timestamp", "message", "service", "namespace", "pod", "container", "level", "host", "logger"};

int record_field_index(std::string_view name);  // -1: not one of them

struct RecordFields {
  // The values of the fields found; they point into the line or into `decoded` (then valid
  // until the next read_record_fields with the same object).
  std::array<std::string_view, kRecordFields> value;
  std::array<bool, kRecordFields> seen{};
  bool parsed = false;  // a JSON object, read up to its end, a nested value or the last field wanted
  std::string decoded;  // RapidJSON's in-situ copy, when the line took that path
};

// Reads the `wanted` fields (a bit per RecordField) of `line`. Top-level fields only: reading
// stops at the first nested value (context, exception), which the record writer puts after
// every field named here, or once every wanted field is seen. Of a key given twice the later
// value counts.
void read_record_fields(std::string_view line, unsigned wanted, RecordFields& out);

// The same through RapidJSON alone: what the scan must agree with (the tests compare the two).
void read_record_fields_rapidjson(std::string_view line, unsigned wanted, RecordFields& out);

}  // namespace shmlog::sidecar::loki
