#include "structured.hpp"

#include <shmlog/ring_format.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace shmlog::fuzz {
namespace {

template <typename T>
void put(std::string& buf, std::size_t offset, T value) {
  std::memcpy(buf.data() + offset, &value, sizeof value);
}

// Reads a u16-length section; cuts it to what the input has left and to `max`.
std::string section(const std::uint8_t*& p, const std::uint8_t* end, std::size_t max) {
  if (end - p < 2) {
    p = end;
    return {};
  }
  std::uint16_t n = 0;
  std::memcpy(&n, p, 2);
  p += 2;
  const std::size_t len = std::min<std::size_t>({n, static_cast<std::size_t>(end - p), max});
  std::string s(reinterpret_cast<const char*>(p), len);
  p += len;
  return s;
}

// Walks the registry entries as a reader does and cuts each id to 12 bits.
static_assert(offsetof(ring::SiteEntry, id) == 8 && offsetof(ring::LoggerEntry, id) == 8);
void cut_site_ids(std::string& f, std::size_t offset, std::size_t bytes) {
  for (std::size_t at = 0; at + 16 <= bytes;) {
    std::uint64_t commit = 0;
    std::memcpy(&commit, f.data() + offset + at, 8);
    const std::uint32_t length = ring::commit_length(commit);
    if (length < 16 || length % 8 != 0) return;
    std::uint32_t id = 0;
    std::memcpy(&id, f.data() + offset + at + 8, 4);  // SiteEntry::id and LoggerEntry::id
    id &= 0xFFF;
    std::memcpy(f.data() + offset + at + 8, &id, 4);
    at += length;
  }
}

void put_section(std::string& out, const std::string& s) {
  const auto n = static_cast<std::uint16_t>(std::min<std::size_t>(s.size(), 0xFFFF));
  out.append(reinterpret_cast<const char*>(&n), 2);
  out.append(s, 0, n);
}

}  // namespace

std::uint32_t lane_count(const Control& c) {
  return 1 + c.lanes % kMaxLanes;
}

std::uint64_t read_pos(const Control& c, std::uint32_t lane) {
  const std::uint32_t v = c.cursor[lane % kMaxLanes];
  return std::uint64_t{v >> 12} * kLaneBytes + (v & 0xFFF);
}

std::string encode(const StructuredSpec& spec) {
  std::string out(reinterpret_cast<const char*>(&spec.control), sizeof(Control));
  put_section(out, spec.registry);
  for (std::uint32_t i = 0; i < lane_count(spec.control); ++i)
    put_section(out, i < spec.lanes.size() ? spec.lanes[i] : std::string{});
  put_section(out, spec.identity);
  return out;
}

StructuredSpec decode(const std::uint8_t* data, std::size_t size) {
  StructuredSpec spec;
  spec.control = Control{};  // all zero
  std::memcpy(&spec.control, data, std::min(size, sizeof(Control)));
  const std::uint8_t* p = data + std::min(size, sizeof(Control));
  const std::uint8_t* end = data + size;
  spec.registry = section(p, end, kSitesBytes);
  for (std::uint32_t i = 0; i < lane_count(spec.control); ++i)
    spec.lanes.push_back(section(p, end, kLaneBytes));
  spec.identity = section(p, end, 5 * ring::kIdentityBytes);
  return spec;
}

std::string ring_image(const StructuredSpec& spec) {
  const Control& c = spec.control;
  const ring::Layout layout{lane_count(c), kLaneBytes, kSitesBytes};
  std::string f(layout.file_bytes(), '\0');
  using H = ring::FileHeader;
  put(f, offsetof(H, magic), ring::kMagic);
  put(f, offsetof(H, layout_version), ring::kLayoutVersion);
  put(f, offsetof(H, header_bytes), static_cast<std::uint32_t>(sizeof(H)));
  put(f, offsetof(H, cache_line_bytes), ring::kCacheLine);
  put(f, offsetof(H, lane_count), layout.lane_count);
  put(f, offsetof(H, lane_bytes), layout.lane_bytes);
  put(f, offsetof(H, lanes_offset), layout.lanes_offset());
  put(f, offsetof(H, data_offset), layout.data_offset());
  put(f, offsetof(H, sites_offset), layout.sites_offset());
  put(f, offsetof(H, sites_bytes), layout.sites_bytes);
  put(f, offsetof(H, file_bytes), layout.file_bytes());
  put(f, offsetof(H, writer_pid), std::int32_t{4242});
  const bool tsc = (c.flags & kTscClock) != 0;
  put(f, offsetof(H, clock_source),
      static_cast<std::uint32_t>(tsc ? ring::ClockSource::tsc : ring::ClockSource::realtime_ns));
  put(f, offsetof(H, start_ns), std::uint64_t{1'700'000'000'000'000'000});
  put(f, offsetof(H, tsc_anchor), std::uint64_t{1'000'000});
  put(f, offsetof(H, tsc_hz), tsc ? c.tsc_hz : std::uint64_t{0});
  if (spec.identity.empty()) {
    std::memcpy(f.data() + offsetof(H, service), "fuzz", 4);
  } else {
    std::memcpy(f.data() + offsetof(H, service), spec.identity.data(),
                std::min<std::size_t>(spec.identity.size(), 5 * ring::kIdentityBytes));
  }
  put(f, offsetof(H, min_level), std::uint32_t{2});
  put(f, offsetof(H, writer_state),
      static_cast<std::uint32_t>((c.flags & kClosed) ? ring::WriterState::closed : ring::WriterState::live));
  const std::uint64_t used = (c.flags & kRawSitesUsed) ? c.sites_used : (spec.registry.size() + 7) / 8 * 8;
  put(f, offsetof(H, sites_used), used);
  const std::size_t registry = std::min<std::size_t>(spec.registry.size(), kSitesBytes);
  std::memcpy(f.data() + layout.sites_offset(), spec.registry.data(), registry);
  if ((c.flags & kRawSiteIds) == 0) cut_site_ids(f, layout.sites_offset(), registry);

  for (std::uint32_t lane = 0; lane < layout.lane_count; ++lane) {
    using D = ring::LaneDescriptor;
    const std::size_t d = layout.lanes_offset() + lane * sizeof(D);
    const std::uint64_t rp = read_pos(c, lane);
    put(f, d + offsetof(D, owner_tid),
        std::uint32_t{lane == ring::kSharedLane ? ring::kSharedLaneOwner : 4243 + lane});
    put(f, d + offsetof(D, claim_count), std::uint32_t{1});
    put(f, d + offsetof(D, write_pos), rp + c.write_ahead);
    put(f, d + offsetof(D, read_pos), rp);
    if (lane >= spec.lanes.size()) continue;
    const std::string& bytes = spec.lanes[lane];
    const std::size_t base = layout.data_offset() + lane * kLaneBytes;
    for (std::size_t i = 0; i < bytes.size() && i < kLaneBytes; ++i)
      f[base + (rp + i) % kLaneBytes] = bytes[i];
  }
  return f;
}

}  // namespace shmlog::fuzz
