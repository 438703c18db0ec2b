#include "inject/values.hpp"

#include <shmlog/config.hpp>

#include <exception>
#include <regex>
#include <utility>

namespace shmlog::inject {

Result<std::uint64_t> check_ring_bytes(std::string_view text) {
  auto bytes = parse_bytes(text);
  if (!bytes) return Error{"\"" + std::string(text) + "\" is not a ring size: " + bytes.error().message};
  // The library's own range check, so an annotation cannot promise the app a ring it refuses.
  Config config;
  config.ring_bytes = *bytes;
  if (auto valid = config.validate(); !valid) {
    const std::string& why = valid.error().message;  // "Config.ring_bytes is not valid: expected ..."
    const auto expected = why.find("expected ");
    return Error{"\"" + std::string(text) + "\" is not a ring size the library accepts (" +
                 (expected == std::string::npos ? why : why.substr(expected)) + ")"};
  }
  return *bytes;
}

Status check_quantity(std::string_view text) {
  // resource.Quantity's grammar (k8s.io/apimachinery): a signed decimal with an optional
  // binary (Ki..Ei), decimal (n u m k M G T P E) or exponent suffix. Negative resources make
  // no sense for requests and limits, so no sign.
  static const std::regex quantity(
      R"(^([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$)");
  if (std::regex_match(text.begin(), text.end(), quantity)) return Ok{};
  return Error{"\"" + std::string(text) + "\" is not a Kubernetes quantity (like 50m, 0.5, 128Mi, 1G)"};
}

double quantity_value(std::string_view text) {
  const std::string s(text);
  std::size_t used = 0;
  double number = 0;
  try {
    number = std::stod(s, &used);  // also takes an exponent suffix ("1e3")
  } catch (const std::exception&) {
    return 0;
  }
  const std::string suffix = s.substr(used);
  static const std::pair<const char*, double> kSuffixes[] = {
      {"n", 1e-9},    {"u", 1e-6},    {"m", 1e-3},    {"k", 1e3},     {"M", 1e6},
      {"G", 1e9},     {"T", 1e12},    {"P", 1e15},    {"E", 1e18},    {"Ki", 0x1p10},
      {"Mi", 0x1p20}, {"Gi", 0x1p30}, {"Ti", 0x1p40}, {"Pi", 0x1p50}, {"Ei", 0x1p60}};
  for (const auto& [name, factor] : kSuffixes)
    if (suffix == name) return number * factor;
  return number;
}

Status check_image(std::string_view text) {
  if (text.empty()) return Error{"the image is empty"};
  for (char c : text)
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
      return Error{"\"" + std::string(text) + "\" is not an image reference (it has whitespace)"};
  return Ok{};
}

Status check_url(std::string_view text) {
  const bool scheme = text.starts_with("http://") || text.starts_with("https://");
  const auto rest = text.substr(text.find("://") == std::string_view::npos ? 0 : text.find("://") + 3);
  if (!scheme || rest.empty() || rest.find_first_of(" \t\r\n") != std::string_view::npos)
    return Error{"\"" + std::string(text) + "\" is not an http:// or https:// URL"};
  return Ok{};
}

Result<bool> parse_mode_native(std::string_view text) {
  if (text == "native") return true;
  if (text == "legacy") return false;
  return Error{"\"" + std::string(text) + "\" is not a mode (native or legacy)"};
}

}  // namespace shmlog::inject
