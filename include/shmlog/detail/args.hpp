// How each C++ argument type is stored in a record (hot path, inline). The site registers one
// ArgType code per argument once; each record then carries only the raw values.
#pragma once

#include <shmlog/ring_format.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace shmlog::detail {

template <typename T>
struct ArgTraits;  // no specialisation: the type cannot be logged (see static_assert below)

template <typename T, ring::ArgType Code, typename Stored = T>
struct ScalarArg {
  static constexpr ring::ArgType code = Code;
  static constexpr bool is_string = false;
  static constexpr std::size_t fixed_size = sizeof(Stored);
  static constexpr std::size_t size(const T&, std::size_t) { return sizeof(Stored); }
  static std::byte* write(std::byte* dst, const T& v, std::size_t) {
    Stored s = static_cast<Stored>(v);
    std::memcpy(dst, &s, sizeof(Stored));
    return dst + sizeof(Stored);
  }
};

template <typename T>
constexpr ring::ArgType int_code() {
  if constexpr (std::is_signed_v<T>) {
    if constexpr (sizeof(T) == 1)
      return ring::ArgType::i8;
    else if constexpr (sizeof(T) == 2)
      return ring::ArgType::i16;
    else if constexpr (sizeof(T) == 4)
      return ring::ArgType::i32;
    else
      return ring::ArgType::i64;
  } else {
    if constexpr (sizeof(T) == 1)
      return ring::ArgType::u8;
    else if constexpr (sizeof(T) == 2)
      return ring::ArgType::u16;
    else if constexpr (sizeof(T) == 4)
      return ring::ArgType::u32;
    else
      return ring::ArgType::u64;
  }
}

// Strings: u32 length + bytes, cut at `cap` bytes (the caller flags the record truncated).
struct StringArg {
  static constexpr ring::ArgType code = ring::ArgType::string;
  static constexpr bool is_string = true;
  static std::size_t size(std::string_view s, std::size_t cap) {
    return 4 + (s.size() < cap ? s.size() : cap);
  }
  static std::byte* write(std::byte* dst, std::string_view s, std::size_t cap) {
    auto n = static_cast<std::uint32_t>(s.size() < cap ? s.size() : cap);
    std::memcpy(dst, &n, 4);
    std::memcpy(dst + 4, s.data(), n);
    return dst + 4 + n;
  }
};

template <typename T>
requires(std::is_integral_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char>) struct ArgTraits<T>
    : ScalarArg<T, int_code<T>()> {
};
template <>
struct ArgTraits<bool> : ScalarArg<bool, ring::ArgType::boolean, std::uint8_t> {};
template <>
struct ArgTraits<char> : ScalarArg<char, ring::ArgType::character> {};
template <>
struct ArgTraits<float> : ScalarArg<float, ring::ArgType::f32> {};
template <>
struct ArgTraits<double> : ScalarArg<double, ring::ArgType::f64> {};
template <>
struct ArgTraits<long double> : ScalarArg<long double, ring::ArgType::f64, double> {};
template <typename T>
requires std::is_enum_v<T>
struct ArgTraits<T> : ScalarArg<T, int_code<std::underlying_type_t<T>>(), std::underlying_type_t<T>> {
};

template <>
struct ArgTraits<std::string_view> : StringArg {};
template <>
struct ArgTraits<std::string> : StringArg {};
template <>
struct ArgTraits<const char*> : StringArg {
  static std::size_t size(const char* s, std::size_t cap) {
    return StringArg::size(s ? std::string_view{s} : std::string_view{"(null)"}, cap);
  }
  static std::byte* write(std::byte* dst, const char* s, std::size_t cap) {
    return StringArg::write(dst, s ? std::string_view{s} : std::string_view{"(null)"}, cap);
  }
};
template <>
struct ArgTraits<char*> : ArgTraits<const char*> {};
template <std::size_t N>
struct ArgTraits<char[N]> : ArgTraits<const char*> {};

template <typename T>
struct ArgTraits<T*> {
  static constexpr ring::ArgType code = ring::ArgType::pointer;
  static constexpr bool is_string = false;
  static constexpr std::size_t fixed_size = 8;
  static constexpr std::size_t size(const T*, std::size_t) { return 8; }
  static std::byte* write(std::byte* dst, const T* p, std::size_t) {
    auto v = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(p));
    std::memcpy(dst, &v, 8);
    return dst + 8;
  }
};
template <>
struct ArgTraits<std::nullptr_t> : ArgTraits<const void*> {
  static std::byte* write(std::byte* dst, std::nullptr_t, std::size_t) {
    return ArgTraits<const void*>::write(dst, nullptr, 0);
  }
  static constexpr std::size_t size(std::nullptr_t, std::size_t) { return 8; }
};

template <typename T>
using arg_traits = ArgTraits<std::remove_cvref_t<T>>;

template <typename T>
concept Loggable = requires {
  arg_traits<T>::code;
};

}  // namespace shmlog::detail
