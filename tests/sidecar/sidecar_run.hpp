// What the tests that run `shmlog sidecar` as a process share: its argv, the loadgen's, the
// environment the children inherit, waiting for it to start, kill -9 and restart.
#pragma once

#include "process/process_util.hpp"
#include "support/test_dir.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shmlog::test {

std::vector<std::string> sidecar_argv(const TempDir& root);
std::vector<std::string> loadgen_argv(unsigned p, unsigned t, std::uint64_t n, unsigned rate);
// Sets the variables the children inherit: the ring directory and rings big enough to hold every
// record while the sidecar is down, so nothing is dropped and every id must arrive.
void child_environment(const TempDir& root);
// Waits until the sidecar has said it is draining (its signal handlers are installed by then)
// `count` times in all into its stderr file.
void wait_started(const TempDir& root, std::size_t count);
std::vector<std::string> file_lines(const std::string& path);
std::uint64_t json_uint(const std::string& text, const char* key);
// kill -9 of the sidecar, and a new one started in its place (its stderr appended to the same file).
// Returns the count to give wait_started for the new one.
std::size_t kill_and_restart(Child& sidecar, const std::vector<std::string>& argv, const TempDir& root);
bool exited_ok(const std::optional<int>& status);
// The port the sidecar (started with --http-addr 127.0.0.1:0) said it serves on, from the `nth`
// "status at http://127.0.0.1:PORT/" line of its stderr file (1 for the first start).
int served_port(const TempDir& root, std::size_t nth = 1);

}  // namespace shmlog::test
