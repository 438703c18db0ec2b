// Decoding one record copied out of a lane. Every length comes from an untrusted file, so every
// read is bounds-checked against the record; a bad record is an Error that says what was wrong.
#include <shmlog/reader.hpp>

#include <cstring>
#include <string>

namespace shmlog {
namespace {

class Cursor {
 public:
  Cursor(const std::byte* p, std::size_t n) : p_(p), end_(p + n) {}
  std::size_t left() const { return static_cast<std::size_t>(end_ - p_); }
  template <typename T>
  bool read(T& out) {
    if (left() < sizeof(T)) return false;
    std::memcpy(&out, p_, sizeof(T));
    p_ += sizeof(T);
    return true;
  }
  bool bytes(std::size_t n, std::string_view& out) {
    if (left() < n) return false;
    out = std::string_view(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return true;
  }

 private:
  const std::byte* p_;
  const std::byte* end_;
};

bool read_value(Cursor& c, ring::ArgType type, ArgValue& v) {
  v.type = type;
  using T = ring::ArgType;
  switch (type) {
    case T::boolean: {
      std::uint8_t b = 0;
      if (!c.read(b)) return false;
      v.b = b != 0;
      return true;
    }
    case T::character:
      return c.read(v.c);
    case T::i8: {
      std::int8_t x = 0;
      if (!c.read(x)) return false;
      v.i = x;
      return true;
    }
    case T::i16: {
      std::int16_t x = 0;
      if (!c.read(x)) return false;
      v.i = x;
      return true;
    }
    case T::i32: {
      std::int32_t x = 0;
      if (!c.read(x)) return false;
      v.i = x;
      return true;
    }
    case T::i64:
      return c.read(v.i);
    case T::u8: {
      std::uint8_t x = 0;
      if (!c.read(x)) return false;
      v.u = x;
      return true;
    }
    case T::u16: {
      std::uint16_t x = 0;
      if (!c.read(x)) return false;
      v.u = x;
      return true;
    }
    case T::u32: {
      std::uint32_t x = 0;
      if (!c.read(x)) return false;
      v.u = x;
      return true;
    }
    case T::u64:
    case T::pointer:
      return c.read(v.u);
    case T::f32: {
      float x = 0;
      if (!c.read(x)) return false;
      v.d = x;
      return true;
    }
    case T::f64:
      return c.read(v.d);
    case T::string: {
      std::uint32_t n = 0;
      return c.read(n) && c.bytes(n, v.s);
    }
  }
  return false;  // unknown type code
}

Error bad(const char* what) {
  return Error{std::string("invalid record: ") + what};
}

constexpr std::uint16_t kKnownFlags = ring::kHasContext | ring::kHasTrace | ring::kHasCorrelation |
                                      ring::kHasException | ring::kHasDuration | ring::kTruncated;

}  // namespace

Status decode_record(std::span<const std::byte> bytes, SiteLookup& sites, RecordView& out) {
  if (bytes.size() < ring::kRecordHeaderBytes) return bad("shorter than its header");
  std::uint64_t commit = 0;
  std::memcpy(&commit, bytes.data(), 8);
  const std::uint32_t length = ring::commit_length(commit);
  if (length != bytes.size() || length % ring::kRecordAlign != 0)
    return bad("length does not match its commit word");
  if (ring::commit_kind(commit) != static_cast<std::uint8_t>(ring::RecordKind::log))
    return bad("not a log record");
  const std::uint8_t level = ring::commit_level(commit);
  if (level >= kLevelCount) return bad("level out of range");
  const std::uint16_t flags = ring::commit_flags(commit);
  if ((flags & ~kKnownFlags) != 0) return bad("unknown flags (written by a newer layout?)");

  ring::RecordHeader h;  // copied field by field: the struct's first member is an atomic
  std::memcpy(&h.site_id, bytes.data() + offsetof(ring::RecordHeader, site_id), 4);
  std::memcpy(&h.tid, bytes.data() + offsetof(ring::RecordHeader, tid), 4);
  std::memcpy(&h.seq, bytes.data() + offsetof(ring::RecordHeader, seq), 8);
  std::memcpy(&h.timestamp, bytes.data() + offsetof(ring::RecordHeader, timestamp), 8);
  std::memcpy(&h.logger_id, bytes.data() + offsetof(ring::RecordHeader, logger_id), 2);
  std::memcpy(&h.payload_bytes, bytes.data() + offsetof(ring::RecordHeader, payload_bytes), 4);
  if (h.payload_bytes > length - ring::kRecordHeaderBytes) return bad("payload longer than the record");

  out.level = static_cast<Level>(level);
  out.flags = flags;
  out.site_id = h.site_id;
  out.tid = h.tid;
  out.seq = h.seq;
  out.raw_timestamp = h.timestamp;
  out.timestamp_ns = h.timestamp;
  out.logger_id = h.logger_id;
  out.logger = h.logger_id != 0 ? sites.logger(h.logger_id) : nullptr;
  out.site = sites.site(h.site_id);
  out.args.clear();
  out.context.clear();
  out.has_trace = out.has_exception = out.has_duration = false;
  out.correlation_id = {};
  out.exception_type = out.exception_what = {};
  out.duration_ns = 0;
  out.truncated = (flags & ring::kTruncated) != 0;
  // Without its site the argument types are unknown, and so is where the sections start.
  if (out.site == nullptr) return Ok{};

  Cursor c(bytes.data() + ring::kRecordHeaderBytes, h.payload_bytes);
  for (char code : out.site->arg_types) {
    ArgValue v;
    if (!read_value(c, static_cast<ring::ArgType>(code), v)) return bad("argument does not fit its type");
    out.args.push_back(v);
  }
  if (flags & ring::kHasContext) {
    std::uint32_t n = 0;
    std::string_view block;
    if (!c.read(n) || !c.bytes(n, block)) return bad("context block out of bounds");
    Cursor e(reinterpret_cast<const std::byte*>(block.data()), block.size());
    while (e.left() > 0) {
      std::uint8_t type = 0, key_len = 0;
      ContextEntry entry;
      if (!e.read(type) || !e.read(key_len) || !e.bytes(key_len, entry.key))
        return bad("context key out of bounds");
      if (!read_value(e, static_cast<ring::ArgType>(type), entry.value))
        return bad("context value out of bounds");
      out.context.push_back(entry);
    }
  }
  if (flags & ring::kHasTrace) {
    if (c.left() < 25) return bad("trace context out of bounds");
    std::string_view t;
    c.bytes(25, t);
    std::memcpy(out.trace_id.data(), t.data(), 16);
    std::memcpy(out.span_id.data(), t.data() + 16, 8);
    out.trace_flags = static_cast<std::uint8_t>(t[24]);
    out.has_trace = true;
  }
  if (flags & ring::kHasCorrelation) {
    std::uint16_t n = 0;
    if (!c.read(n) || !c.bytes(n, out.correlation_id)) return bad("correlation id out of bounds");
  }
  if (flags & ring::kHasException) {
    std::uint16_t tn = 0;
    std::uint32_t wn = 0;
    if (!c.read(tn) || !c.bytes(tn, out.exception_type) || !c.read(wn) || !c.bytes(wn, out.exception_what))
      return bad("exception out of bounds");
    out.has_exception = true;
  }
  if (flags & ring::kHasDuration) {
    if (!c.read(out.duration_ns)) return bad("duration out of bounds");
    out.has_duration = true;
  }
  return Ok{};
}

}  // namespace shmlog
