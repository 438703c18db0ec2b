// Everything the library itself says goes through here: to stderr, whole, and without letting a
// closed stderr pipe kill the app with SIGPIPE.
#pragma once

#include <string_view>

namespace shmlog::detail {

void write_stderr(std::string_view text) noexcept;
// printf-style notice, "shmlog: " prefixed and newline-terminated.
void notice(const char* format, ...) noexcept __attribute__((format(printf, 1, 2)));

}  // namespace shmlog::detail
