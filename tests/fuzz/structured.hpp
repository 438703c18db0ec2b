// The fuzzer's "structured" input: a valid ring header for a small fixed layout, with the fuzz
// bytes filling the lanes, the site registry, the lane cursors and the identity strings. Random
// bytes almost never get past header validation; this lets the fuzzer spend its time on records
// and registry entries instead.
//
// Input (after the tag byte the fuzz target strips):
//   Control, 32 bytes (zero-extended when the input is shorter), then sections, each a u16
//   length followed by that many bytes: registry, lane 0 .. lane N-1, identity.
//   A lane section is laid into its lane starting at the lane's read offset, wrapping at the end,
//   so records "as seen from the cursor" stay records whatever the cursor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace shmlog::fuzz {

inline constexpr std::uint8_t kStructuredTag = 0x01;  // first byte of a structured input
inline constexpr std::uint64_t kLaneBytes = 4096;
inline constexpr std::uint64_t kSitesBytes = 4096;
inline constexpr std::uint32_t kMaxLanes = 3;

enum ControlFlag : std::uint8_t {
  kTscClock = 1u << 0,        // clock_source 2 with control.tsc_hz (else realtime)
  kClosed = 1u << 1,          // writer_state closed
  kHoldWriterLock = 1u << 2,  // the harness holds the writer's lock while reading
  kRawSitesUsed = 1u << 3,    // sites_used from control.sites_used, not the registry length
  // Registry entry ids as given. Without it they are cut to 12 bits, so that registry ids and
  // record site ids the fuzzer mutates independently still meet often. (The cut was first made
  // because the reader sized a table by the largest id, 128 MiB for 2^24; it no longer does.)
  kRawSiteIds = 1u << 4,
};

struct Control {
  std::uint8_t lanes = 0;  // 1 + lanes % kMaxLanes lanes
  std::uint8_t flags = 0;
  std::uint16_t reserved = 0;
  std::uint32_t sites_used = 0;
  std::uint32_t cursor[kMaxLanes] = {};  // read_pos = (cursor >> 12) * kLaneBytes + (cursor & 0xFFF)
  std::uint32_t write_ahead = 0;         // write_pos = read_pos + write_ahead (status only)
  std::uint64_t tsc_hz = 0;
};
static_assert(sizeof(Control) == 32);

struct StructuredSpec {
  Control control;
  std::string registry;
  std::vector<std::string> lanes;  // bytes from each lane's read offset on
  std::string identity;            // fills service, pod, namespace, container, host (64 each)
};

std::uint32_t lane_count(const Control& c);
std::uint64_t read_pos(const Control& c, std::uint32_t lane);

// Encodes a spec as a fuzz input (without the tag byte) ...
std::string encode(const StructuredSpec& spec);
// ... and decodes any bytes into one (sections cut to what fits).
StructuredSpec decode(const std::uint8_t* data, std::size_t size);
// The ring file image a spec describes.
std::string ring_image(const StructuredSpec& spec);

}  // namespace shmlog::fuzz
