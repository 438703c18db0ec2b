// The sidecar's own lines in a service's file: where people look for the service's logs is
// where they learn that some are missing. Built through append_json_line, so they follow the
// same schema as every other line (file "shmlog-sidecar", level WARNING).
#pragma once

#include <shmlog/reader.hpp>

#include <array>
#include <cstdint>
#include <string>

namespace shmlog::sidecar {

// "N records dropped by the app (ring full): 10 DEBUG, 2 INFO", with the counts per level
// in context (dropped_debug, dropped_info, ...) and in total (dropped).
void append_drop_notice(std::string& out, const RingInfo& ring,
                        const std::array<std::uint64_t, kLevelCount>& dropped);

// Records the sidecar let go on purpose (sampling, the rate limit), by level since the last one.
void append_thinning_notice(std::string& out, const RingInfo& ring,
                            const std::array<std::uint64_t, kLevelCount>& sampled,
                            const std::array<std::uint64_t, kLevelCount>& limited);

// Any other problem the sidecar has with a ring (a corrupt lane set aside).
void append_problem_notice(std::string& out, const RingInfo& ring, const std::string& text);

}  // namespace shmlog::sidecar
