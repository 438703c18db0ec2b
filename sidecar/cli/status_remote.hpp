// `shmlog status --url URL`: a running sidecar's GET /status, read over HTTP and shown as the
// same kind of table `shmlog status` shows for ring files (or printed as it came, --json).
#pragma once

#include <string>

namespace shmlog::cli {

// kExitOk when the sidecar answered with its status; kExitUsage for a bad URL; kExitFailed
// when it could not be reached or answered with something else (said on stderr).
int run_remote_status(const std::string& url, bool json);

}  // namespace shmlog::cli
