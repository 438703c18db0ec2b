// Rendering a record's message from its template and arguments with fmt, on the reader's side.
#include <shmlog/json_line.hpp>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string_view>
#include <vector>

#include <fmt/args.h>
#include <fmt/compile.h>
#include <fmt/format.h>

namespace shmlog {
namespace {

void push(fmt::dynamic_format_arg_store<fmt::format_context>& store, const ArgValue& v) {
  using T = ring::ArgType;
  switch (v.type) {
    case T::boolean:
      store.push_back(v.b);
      break;
    case T::character:
      store.push_back(v.c);
      break;
    case T::i8:
    case T::i16:
    case T::i32:
    case T::i64:
      store.push_back(v.i);
      break;
    case T::u8:
    case T::u16:
    case T::u32:
    case T::u64:
      store.push_back(v.u);
      break;
    case T::f32:
    case T::f64:
      store.push_back(v.d);
      break;
    case T::string:
      store.push_back(fmt::string_view(v.s.data(), v.s.size()));
      break;
    case T::pointer:
      store.push_back(reinterpret_cast<const void*>(static_cast<std::uintptr_t>(v.u)));
      break;
  }
}

void append_raw(std::string& out, const ArgValue& v) {
  fmt::dynamic_format_arg_store<fmt::format_context> one;
  push(one, v);
  out += fmt::vformat("{}", one);
}

// Thrown by BoundedAppender when the message is already longer than anyone will keep.
struct Full {};

// An output iterator that appends to a string and stops fmt, by throwing, one byte past the
// limit. fmt writes a non-contiguous iterator through a small buffer, so padding of a billion
// characters ("{:1000000000}") or one long argument repeated ("{0}{0}{0}...") costs at most
// `limit` bytes of work instead of gigabytes.
class BoundedAppender {
 public:
  using iterator_category = std::output_iterator_tag;
  using value_type = void;
  using difference_type = std::ptrdiff_t;
  using pointer = void;
  using reference = void;

  BoundedAppender(std::string& out, std::size_t limit) : out_(&out), limit_(limit) {}
  BoundedAppender& operator=(char c) {
    if (out_->size() > limit_) throw Full{};
    out_->push_back(c);
    return *this;
  }
  BoundedAppender& operator*() { return *this; }
  BoundedAppender& operator++() { return *this; }
  BoundedAppender operator++(int) { return *this; }

 private:
  std::string* out_;
  std::size_t limit_;
};

// What a template may cost, found before formatting. fmt expands a float's precision into a
// buffer of its own before any output, so "{:.1000000000f}" would cost a gigabyte whatever the
// output does: every number in a replacement field's spec (fill, width, precision, nested
// argument index) must be within `limit`, and widths or precisions taken from arguments
// ("{:{}}") must come from integer arguments within it (`ok`). `bound` is an upper bound of the
// output's size: the template plus, per field, the longest argument and the field's numbers.
struct TemplateCost {
  bool ok = true;
  std::uint64_t bound = 0;
};

std::uint64_t longest_argument(const std::vector<ArgValue>& args) {
  std::uint64_t longest = 32;  // any integer, bool, char or pointer in its default form
  for (const auto& a : args) {
    if (a.type == ring::ArgType::string) longest = std::max<std::uint64_t>(longest, a.s.size());
    if (a.type == ring::ArgType::f64 || a.type == ring::ArgType::f32)
      longest = std::max<std::uint64_t>(longest, 330);  // 1e308 in fixed notation
  }
  return longest;
}

TemplateCost template_cost(std::string_view format, const std::vector<ArgValue>& args, std::size_t limit) {
  TemplateCost cost;
  cost.bound = format.size();
  const std::uint64_t longest = longest_argument(args);
  bool dynamic = false;
  for (std::size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '{') continue;
    if (i + 1 < format.size() && format[i + 1] == '{') {
      ++i;  // "{{" is a literal brace
      continue;
    }
    // The field runs to its closing brace; one level of nested "{}" is the dynamic spec.
    int depth = 0;
    std::size_t j = i;
    for (; j < format.size(); ++j) {
      if (format[j] == '{') ++depth;
      if (format[j] == '}' && --depth == 0) break;
    }
    const std::string_view field = format.substr(i, j - i);
    std::uint64_t widest = 0;
    const auto colon = field.find(':');
    if (colon != std::string_view::npos) {
      const std::string_view spec = field.substr(colon + 1);
      if (spec.find('{') != std::string_view::npos) {
        dynamic = true;
        widest = 2 * static_cast<std::uint64_t>(limit);  // width and precision from arguments
      }
      std::uint64_t number = 0;
      for (const char c : spec) {
        if (c >= '0' && c <= '9') {
          number = number * 10 + static_cast<std::uint64_t>(c - '0');
          if (number > limit) return {false, 0};
        } else {
          widest += number;
          number = 0;
        }
      }
      widest += number;
    }
    cost.bound += longest + widest;
    i = j;
  }
  if (dynamic) {
    for (const auto& a : args) {
      using T = ring::ArgType;
      const bool is_signed = a.type == T::i8 || a.type == T::i16 || a.type == T::i32 || a.type == T::i64;
      const bool is_unsigned = a.type == T::u8 || a.type == T::u16 || a.type == T::u32 || a.type == T::u64;
      if ((is_signed && (a.i < 0 || static_cast<std::uint64_t>(a.i) > limit)) || (is_unsigned && a.u > limit))
        return {false, 0};
    }
  }
  return cost;
}

void append_fallback(const RecordView& rec, std::string& out, std::string_view why) {
  out += rec.site->format;
  out += " [";
  out += why;
  out += "; args:";
  for (const auto& a : rec.args) {
    out += ' ';
    append_raw(out, a);
  }
  out += ']';
}

// One argument as fmt's "{}" writes it. FMT_COMPILE("{}") calls the same writer that vformat's
// empty spec reaches, so the text is the same byte for byte (test_format compares the two).
void append_plain(std::string& out, const ArgValue& v) {
  using T = ring::ArgType;
  switch (v.type) {
    case T::boolean:
      out += v.b ? std::string_view("true") : std::string_view("false");
      break;
    case T::character:
      out.push_back(v.c);
      break;
    case T::i8:
    case T::i16:
    case T::i32:
    case T::i64: {
      const fmt::format_int n(v.i);
      out.append(n.data(), n.size());
      break;
    }
    case T::u8:
    case T::u16:
    case T::u32:
    case T::u64: {
      const fmt::format_int n(v.u);
      out.append(n.data(), n.size());
      break;
    }
    case T::f32:
    case T::f64:
      fmt::format_to(std::back_inserter(out), FMT_COMPILE("{}"), v.d);
      break;
    case T::string:
      out.append(v.s);
      break;
    case T::pointer:
      fmt::format_to(std::back_inserter(out), FMT_COMPILE("{}"),
                     reinterpret_cast<const void*>(static_cast<std::uintptr_t>(v.u)));
      break;
  }
}

// The common template, "text {} text {}", written without fmt's parser: only empty fields,
// "{{" and "}}", and no more fields than arguments. Anything else (a spec, an index, a stray
// brace) returns false with `out` as it was, and fmt takes the template. Each argument is used
// at most once, so the work is bounded by the record's own bytes; like fmt's path it stops once
// the message is past `limit`.
bool render_plain(std::string_view format, const std::vector<ArgValue>& args, std::string& out,
                  std::size_t limit) {
  const std::size_t mark = out.size();
  std::size_t next = 0;  // the next argument
  std::size_t from = 0;  // literal text not yet copied
  for (std::size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c != '{' && c != '}') continue;
    const bool doubled = i + 1 < format.size() && format[i + 1] == c;
    const bool field = c == '{' && i + 1 < format.size() && format[i + 1] == '}';
    if (!doubled && !field) {
      out.resize(mark);
      return false;
    }
    out.append(format.substr(from, i - from));
    if (field) {
      if (next == args.size()) {
        out.resize(mark);
        return false;
      }
      append_plain(out, args[next++]);
      if (out.size() - mark > limit) {
        out.resize(mark + limit + 1);
        return true;
      }
    } else {
      out.push_back(c);
    }
    from = ++i + 1;
  }
  out.append(format.substr(from));
  return true;
}

}  // namespace

void render_message(const RecordView& rec, std::string& out, std::size_t max_bytes) {
  if (rec.site == nullptr) {
    out += fmt::format("(unknown call site {})", rec.site_id);
    return;
  }
  if (render_plain(rec.site->format, rec.args, out, max_bytes)) return;
  const std::size_t mark = out.size();
  const TemplateCost cost = template_cost(rec.site->format, rec.args, max_bytes);
  if (!cost.ok) {
    append_fallback(rec, out, "format spec too large");
    return;
  }
  try {
    // One store per thread, cleared per record: it keeps its capacity, so formatting a message
    // allocates nothing once warm.
    thread_local fmt::dynamic_format_arg_store<fmt::format_context> store;
    store.clear();
    for (const auto& a : rec.args) push(store, a);
    // The usual message cannot grow past a few times the limit: fmt writes straight into the
    // string. Only a template that could (many fields, long arguments repeated) goes through
    // the appender that stops one byte past the limit, a byte at a time.
    if (cost.bound <= 4 * static_cast<std::uint64_t>(max_bytes))
      fmt::vformat_to(std::back_inserter(out), rec.site->format, store);
    else
      fmt::vformat_to(BoundedAppender(out, mark + max_bytes), rec.site->format, store);
  } catch (const Full&) {
    // Longer than max_bytes: what was written is kept, and the caller sees it is too long.
  } catch (const std::exception&) {
    // A template that does not fit its arguments: keep everything, mark it.
    out.resize(mark);
    append_fallback(rec, out, "format error");
  }
}

}  // namespace shmlog
