// The values a user may give the injector, by flag or by annotation, checked once here so
// `shmlog inject`, `shmlog webhook` and the per-workload annotations accept exactly the same
// text. Each check returns an error saying what is allowed; the caller names the flag or the
// annotation.
#pragma once

#include <shmlog/result.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace shmlog::inject {

// A ring size the library accepts (SHMLOG_RING_BYTES: "8MiB", "512k", "4194304"), in bytes.
Result<std::uint64_t> check_ring_bytes(std::string_view text);
// A Kubernetes resource quantity ("50m", "0.5", "128Mi", "1G", "1e3"); empty is not one.
Status check_quantity(std::string_view text);
// A quantity's value (check_quantity first): "50m" is 0.05, "128Mi" 134217728. Close enough to
// compare a request with its limit.
double quantity_value(std::string_view text);
// A container image reference: non-empty, no whitespace.
Status check_image(std::string_view text);
// An http:// or https:// URL (the sidecar's SHMLOG_LOKI_URL).
Status check_url(std::string_view text);
// "native" or "legacy".
Result<bool> parse_mode_native(std::string_view text);

}  // namespace shmlog::inject
