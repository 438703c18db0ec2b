// One row of the settings table: what `shmlog settings` shows and how a value is applied; and
// the parsers the rows share. The table is split by subject (sidecar_settings.cpp for the
// drain and the files, loki_rows.cpp for shipping) but read as one, in that order.
#pragma once

#include "settings/sidecar_settings.hpp"

#include <shmlog/result.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace shmlog::sidecar {

// Applies a raw value; an Error (its message unused) means "not allowed": the caller names the
// setting, the value and what is allowed.
using Apply = std::function<Status(SidecarSettings&, std::string_view)>;

struct Row {
  SidecarSetting info;
  Apply apply;
};

Result<std::uint64_t> parse_count(std::string_view v, std::uint64_t lo, std::uint64_t hi);
Result<std::chrono::milliseconds> parse_ms(std::string_view v, std::chrono::milliseconds lo,
                                           std::chrono::milliseconds hi);
// "true" or "false", nothing else.
Result<bool> parse_bool(std::string_view v);
// "a, b,c" -> {"a", "b", "c"}; blanks around items and empty items dropped.
std::vector<std::string> split_list(std::string_view v);

std::vector<Row> loki_rows();
std::vector<Row> http_rows();
// The rules that span rows (an address beyond loopback needs the opt-in and a token file).
Status check_http(const HttpOptions& http);

}  // namespace shmlog::sidecar
