// The JSON push body, read as Loki's decoder reads it (pkg/loghttp/entry.go, labels.go), with
// RapidJSON in place: lines stay where they are in the body, no copy per entry.
#include "decode_parts.hpp"
#include "go_text.hpp"

#include <climits>
#include <cstring>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

namespace shmlog::loki::detail {

namespace {

// In place: strings are unescaped inside the body, so lines cost no copy. Iterative: a body of
// nested brackets cannot overflow the stack.
constexpr unsigned kParseFlags = rapidjson::kParseInsituFlag | rapidjson::kParseIterativeFlag;

// RapidJSON's SSE2 scanning (see CMakeLists.txt) reads whole aligned 16-byte blocks, up to 15
// bytes past the terminating NUL: they must belong to the allocation (ASan checks they do).
constexpr std::size_t kParsePadding = 64;

// RapidJSON 1.1's member iterators compare ambiguously under C++20 (clang's
// -Wambiguous-reversed-operator), so objects are walked by index instead of with != end.
template <typename F>
bool each_member(rapidjson::Value& object, F&& visit) {
  const auto first = object.MemberBegin();
  for (rapidjson::SizeType i = 0; i < object.MemberCount(); ++i) {
    if (!visit(first[static_cast<std::ptrdiff_t>(i)])) return false;
  }
  return true;
}

std::string_view view(const rapidjson::Value& v) {
  return {v.GetString(), v.GetStringLength()};
}

// The first member called `name`, as FindMember finds it; nullptr when none or when null.
rapidjson::Value* member_value(rapidjson::Value& object, std::string_view name) {
  rapidjson::Value* found = nullptr;
  each_member(object, [&](rapidjson::Value::Member& m) {
    if (view(m.name) != name) return true;
    found = &m.value;
    return false;
  });
  return found != nullptr && !found->IsNull() ? found : nullptr;
}

const char* json_type_name(const rapidjson::Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsBool()) return "a boolean";
  if (v.IsNumber()) return "a number";
  if (v.IsString()) return "a string";
  if (v.IsArray()) return "an array";
  return "an object";
}

// Nanoseconds since the epoch, as a string of digits that fits an int64.
bool parse_timestamp(std::string_view s, std::int64_t& ns) {
  if (s.empty() || s.size() > 19) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > static_cast<std::uint64_t>(INT64_MAX)) return false;
  ns = static_cast<std::int64_t>(v);
  return true;
}

// The "stream" object's pairs, checked and sorted.
bool read_labels(rapidjson::Value* labels, std::vector<LabelPair>& pairs, DecodedPush& out) {
  pairs.clear();
  if (labels == nullptr) return true;
  if (!labels->IsObject())
    return fail_request(out, 400, "couldn't parse labels: \"stream\" must be an object");
  const bool ok = each_member(*labels, [&](rapidjson::Value::Member& m) {
    if (!m.value.IsString()) {
      return fail_request(
          out, 400,
          "couldn't parse labels: the value of label " + go_quote(view(m.name)) + " must be a string");
    }
    pairs.emplace_back(view(m.name), view(m.value));
    return true;
  });
  return ok && check_label_pairs(pairs, out);
}

bool read_metadata(rapidjson::Value& v, EntryView& entry, DecodedPush& out) {
  if (!v.IsObject()) {
    return fail_request(out, 400,
                        std::string("structured metadata must be an object, got ") + json_type_name(v));
  }
  entry.metadata_begin = static_cast<std::uint32_t>(out.metadata.size());
  const bool ok = each_member(v, [&](rapidjson::Value::Member& m) {
    if (!m.value.IsString()) return fail_request(out, 400, "structured metadata values must be strings");
    out.metadata.emplace_back(view(m.name), view(m.value));
    return true;
  });
  entry.metadata_count = static_cast<std::uint32_t>(out.metadata.size() - entry.metadata_begin);
  return ok;
}

// ["<ns>", "<line>"] or ["<ns>", "<line>", {metadata}]; any other shape fails the request, as
// Loki's entry decoder fails the whole body.
bool read_entry(rapidjson::Value& v, StreamView& stream, DecodedPush& out) {
  if (!v.IsArray()) {
    return fail_request(
        out, 400, std::string("an entry must be an array [\"<ns>\", \"<line>\"], got ") + json_type_name(v));
  }
  const auto n = v.Size();
  if (n != 2 && n != 3)
    return fail_request(out, 400, "an entry must have 2 or 3 elements, got " + std::to_string(n));
  EntryView entry;
  if (!v[0].IsString()) {
    return fail_request(out, 400,
                        std::string("entry timestamp must be a string of nanoseconds since the epoch, got ") +
                            json_type_name(v[0]));
  }
  if (!parse_timestamp(view(v[0]), entry.ts_ns)) {
    return fail_request(
        out, 400,
        "entry timestamp " + go_quote(view(v[0])) + " is not nanoseconds since the epoch (digits only)");
  }
  if (!v[1].IsString()) {
    return fail_request(out, 400, std::string("entry line must be a string, got ") + json_type_name(v[1]));
  }
  entry.line = view(v[1]);
  if (n == 3 && !read_metadata(v[2], entry, out)) return false;
  stream.entries.push_back(entry);
  return true;
}

bool read_stream(rapidjson::Value& v, const PushLimits& limits, const TimeWindow& window,
                 std::vector<LabelPair>& pairs, DecodedPush& out) {
  if (!v.IsObject())
    return fail_request(out, 400, std::string("a stream must be an object, got ") + json_type_name(v));
  if (!read_labels(member_value(v, "stream"), pairs, out)) return false;
  StreamView& stream = out.streams.emplace_back();
  stream.labels = canonical_labels(pairs);
  if (rapidjson::Value* values = member_value(v, "values")) {
    if (!values->IsArray()) return fail_request(out, 400, "\"values\" must be an array");
    stream.entries.reserve(values->Size());
    for (auto& e : values->GetArray()) {
      if (!read_entry(e, stream, out)) return false;
    }
  }
  out.entry_count += stream.entries.size();
  check_stream(stream, pairs, limits, window, out);
  return true;
}

}  // namespace

bool parse_json(const PushLimits& limits, const TimeWindow& window, DecodedPush& out) {
  // The parser works on a NUL-terminated buffer: a NUL inside would end the input early and hide
  // what follows. JSON has no raw NUL anywhere, so any is an error.
  if (std::memchr(out.body.data(), '\0', out.body.size()) != nullptr) {
    return fail_request(
        out, 400,
        "error parsing push request: the body holds a NUL byte (protobuf sent as application/json?)");
  }
  out.body.reserve(out.body.size() + kParsePadding);
  rapidjson::Document doc;
  doc.ParseInsitu<kParseFlags>(out.body.data());
  if (doc.HasParseError()) {
    return fail_request(out, 400,
                        std::string("error parsing push request: ") +
                            rapidjson::GetParseError_En(doc.GetParseError()) + " at offset " +
                            std::to_string(doc.GetErrorOffset()));
  }
  if (!doc.IsObject()) return fail_request(out, 400, "a push request must be a JSON object");
  if (rapidjson::Value* streams = member_value(doc, "streams")) {
    if (!streams->IsArray()) return fail_request(out, 400, "\"streams\" must be an array");
    out.streams.reserve(streams->Size());
    std::vector<LabelPair> pairs;
    for (auto& s : streams->GetArray()) {
      if (!read_stream(s, limits, window, pairs, out)) return false;
    }
  }
  if (out.streams.empty())
    return fail_request(out, 422, "error at least one valid stream is required for ingestion");
  return true;
}

}  // namespace shmlog::loki::detail
