#include "go_text.hpp"

#include <array>
#include <cstdio>
#include <ctime>

namespace shmlog::loki {

namespace {

// Decodes the rune at s[i]; returns its length, or 0 when the bytes there are not UTF-8.
std::size_t decode_rune(std::string_view s, std::size_t i, char32_t& rune) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    rune = b0;
    return 1;
  }
  std::size_t len = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, rune = b0 & 0x1Fu, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, rune = b0 & 0x0Fu, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, rune = b0 & 0x07u, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    rune = (rune << 6) | (b & 0x3Fu);
  }
  if (rune < min || rune > 0x10FFFF || (rune >= 0xD800 && rune <= 0xDFFF)) return 0;
  return len;
}

// Go's unicode.IsPrint for what label values plausibly hold: controls, separators and spaces
// other than U+0020, format characters and private use are not printable.
bool go_printable(char32_t r) {
  if (r < 0xA0) return r >= 0x20 && r != 0x7F;
  if (r == 0xA0 || r == 0xAD || r == 0x61C || r == 0x1680 || r == 0x180E || r == 0x3000 || r == 0xFEFF)
    return false;
  if ((r >= 0x2000 && r <= 0x200F) || (r >= 0x2028 && r <= 0x202F) || (r >= 0x205F && r <= 0x206F))
    return false;
  if ((r >= 0xE000 && r <= 0xF8FF) || (r >= 0xFFF9 && r <= 0xFFFB) || r >= 0xF0000) return false;
  if (r >= 0xE0000 && r <= 0xE007F) return false;  // tag characters (format)
  if ((r & 0xFFFE) == 0xFFFE) return false;        // U+nFFFE, U+nFFFF: noncharacters
  return true;
}

void append_hex(std::string& out, char kind, std::uint32_t value, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('\\');
  out.push_back(kind);
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) out.push_back(kHex[(value >> shift) & 0xF]);
}

void append_ascii(std::string& out, unsigned char c) {
  switch (c) {
    case '"':
      out += "\\\"";
      return;
    case '\\':
      out += "\\\\";
      return;
    case '\a':
      out += "\\a";
      return;
    case '\b':
      out += "\\b";
      return;
    case '\f':
      out += "\\f";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    case '\v':
      out += "\\v";
      return;
    default:
      break;
  }
  if (c >= 0x20 && c != 0x7F) {
    out.push_back(static_cast<char>(c));
  } else {
    append_hex(out, 'x', c, 2);
  }
}

struct UtcParts {
  std::tm tm{};
  std::int64_t nanos = 0;  // within the second, 0..999999999
};

UtcParts utc_parts(std::int64_t unix_ns) {
  constexpr std::int64_t kNs = 1'000'000'000;
  std::int64_t secs = unix_ns / kNs;
  std::int64_t nanos = unix_ns % kNs;
  if (nanos < 0) nanos += kNs, --secs;  // floor, so times before 1970 print as Go prints them
  UtcParts p;
  const auto t = static_cast<std::time_t>(secs);
  gmtime_r(&t, &p.tm);
  p.nanos = nanos;
  return p;
}

}  // namespace

void append_go_quote(std::string& out, std::string_view s) {
  out.push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      append_ascii(out, c);
      ++i;
      continue;
    }
    char32_t rune = 0;
    const std::size_t n = decode_rune(s, i, rune);
    if (n == 0) {
      append_hex(out, 'x', c, 2);  // Go quotes a stray byte as \xHH
      ++i;
      continue;
    }
    if (go_printable(rune)) {
      out.append(s.substr(i, n));
    } else if (rune < 0x10000) {
      append_hex(out, 'u', static_cast<std::uint32_t>(rune), 4);
    } else {
      append_hex(out, 'U', static_cast<std::uint32_t>(rune), 8);
    }
    i += n;
  }
  out.push_back('"');
}

std::string go_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  append_go_quote(out, s);
  return out;
}

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    char32_t rune = 0;
    const std::size_t n = decode_rune(s, i, rune);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string rfc3339(std::int64_t unix_ns) {
  const UtcParts p = utc_parts(unix_ns);
  std::array<char, 40> buf{};
  const auto n = std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &p.tm);
  return std::string(buf.data(), n);
}

std::string go_time_string(std::int64_t unix_ns) {
  const UtcParts p = utc_parts(unix_ns);
  std::array<char, 40> buf{};
  const auto n = std::strftime(buf.data(), buf.size(), "%Y-%m-%d %H:%M:%S", &p.tm);
  std::string out(buf.data(), n);
  if (p.nanos != 0) {  // Go prints the fraction with its trailing zeros cut, or not at all
    std::array<char, 16> frac{};
    std::snprintf(frac.data(), frac.size(), ".%09lld", static_cast<long long>(p.nanos));
    std::string f(frac.data());
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  out += " +0000 UTC";
  return out;
}

}  // namespace shmlog::loki
