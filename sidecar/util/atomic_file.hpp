// Small state files the sidecar keeps across restarts (Loki positions, level overrides): read
// whole, and replaced atomically, so a crash at any moment leaves the old file or the new one,
// never a mix.
#pragma once

#include <shmlog/result.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace shmlog::sidecar {

// Writes `text` to `<path>.tmp`, fdatasyncs it (its data and size: all a new file needs), renames it over
// `path` and fsyncs the directory (the rename is durable only then). On failure the temporary file is removed
// and the error names the step and the file.
Status replace_file(const std::string& path, std::string_view text);

// The whole file; std::nullopt when it does not exist; an Error naming it for any other failure.
Result<std::optional<std::string>> read_whole_file(const std::string& path);

}  // namespace shmlog::sidecar
