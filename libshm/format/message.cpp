// Rendering a record's message from its template and arguments with fmt, on the reader's side.
#include <shmlog/json_line.hpp>

#include <fmt/args.h>
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

}  // namespace

void render_message(const RecordView& rec, std::string& out) {
  if (rec.site == nullptr) {
    out += fmt::format("(unknown call site {})", rec.site_id);
    return;
  }
  const std::size_t mark = out.size();
  try {
    fmt::dynamic_format_arg_store<fmt::format_context> store;
    for (const auto& a : rec.args) push(store, a);
    fmt::vformat_to(std::back_inserter(out), rec.site->format, store);
  } catch (const std::exception&) {
    // A template that does not fit its arguments: keep everything, mark it.
    out.resize(mark);
    out += rec.site->format;
    out += " [format error; args:";
    for (const auto& a : rec.args) {
      out += ' ';
      append_raw(out, a);
    }
    out += ']';
  }
}

}  // namespace shmlog
