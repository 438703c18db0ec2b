// Compressing a rotated log file in place: <path> becomes <path>.gz (written under a temporary
// name, fsynced, renamed), then <path> is removed. zlib does the deflate.
#pragma once

#include <shmlog/result.hpp>

#include <string>

namespace shmlog::sidecar {

Status gzip_file(const std::string& path);

}  // namespace shmlog::sidecar
