// Decompressing a body without trusting it: never more than the limit is written, whatever the
// compressed data claims. gzip, nearly every compressed push, goes through libdeflate: about 1.4
// times zlib's inflate on push bodies, which counts when the receiver must take 500,000 entries/s
// on one core. Raw DEFLATE, rare, goes through zlib's streaming inflate.
#include "push_decode.hpp"

#include <algorithm>
#include <climits>
#include <memory>

#include <libdeflate.h>
#include <zlib.h>

namespace shmlog::loki {

namespace {

std::string too_large(std::size_t limit) {
  return "request body too large: more than " + std::to_string(limit) +
         " bytes decompressed, limit: " + std::to_string(limit) + " bytes";
}

// One per thread: a decompressor is not thread-safe, and making one per request would cost more
// than a small body's inflate.
libdeflate_decompressor* thread_decompressor() {
  struct Free {
    void operator()(libdeflate_decompressor* d) const { libdeflate_free_decompressor(d); }
  };
  thread_local std::unique_ptr<libdeflate_decompressor, Free> d(libdeflate_alloc_decompressor());
  return d.get();
}

// The last member's ISIZE trailer, its size mod 2^32: for the usual single member, the exact size.
// Only a first guess; a wrong one costs a retry, never a larger buffer than the limit.
std::size_t size_hint(std::string_view in) {
  if (in.size() < 18) return 0;  // smaller than any gzip member
  const auto* p = reinterpret_cast<const unsigned char*>(in.data() + in.size() - 4);
  return std::size_t{p[0]} | std::size_t{p[1]} << 8 | std::size_t{p[2]} << 16 | std::size_t{p[3]} << 24;
}

int gunzip(std::string_view in, std::size_t limit, std::string& out, std::string& error) {
  libdeflate_decompressor* d = thread_decompressor();
  if (d == nullptr) {
    error = "gzip: cannot allocate a decompressor";
    return 500;
  }
  std::size_t produced = 0;
  std::size_t pos = 0;
  std::size_t room = std::min(limit, std::max<std::size_t>(size_hint(in), 4096));
  do {  // one member a pass: Go's gzip.Reader reads concatenated members as one body
    for (;;) {
      out.resize(produced + room);
      std::size_t used = 0;
      std::size_t n = 0;
      const auto r = libdeflate_gzip_decompress_ex(d, in.data() + pos, in.size() - pos, out.data() + produced,
                                                   room, &used, &n);
      if (r == LIBDEFLATE_SUCCESS) {
        produced += n;
        pos += used;
        break;
      }
      if (r != LIBDEFLATE_INSUFFICIENT_SPACE) {
        error = "gzip: invalid, corrupt or truncated data";
        return 400;
      }
      if (produced + room >= limit) {
        error = too_large(limit);
        out.clear();
        return 413;
      }
      room = std::min(limit - produced, room * 2);  // the member is inflated again, with twice the room
    }
    room = std::min(limit - produced, std::max<std::size_t>(room, 4096));
  } while (pos < in.size());
  out.resize(produced);
  return 0;
}

// Raw DEFLATE with zlib, growing the output as it comes. Go's flate reader stops at the final
// block and never looks at what follows; so does this.
int inflate_raw(std::string_view in, std::size_t limit, std::string& out, std::string& error) {
  if (in.size() > UINT_MAX) {
    error = too_large(limit);
    return 413;
  }
  z_stream zs{};
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
    error = "flate: cannot initialise zlib";
    return 500;
  }
  struct InflateEnd {
    z_stream* zs;
    ~InflateEnd() { inflateEnd(zs); }
  } end{&zs};
  // One byte past the limit is room enough to show the body is too large.
  out.resize(std::min(limit + 1, std::max<std::size_t>(in.size() * 4, 64 * 1024)));
  std::size_t produced = 0;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));  // zlib never writes input
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (produced == out.size()) {
      if (out.size() > limit) break;
      out.resize(std::min(limit + 1, out.size() * 2));
    }
    const auto room = static_cast<uInt>(std::min<std::size_t>(out.size() - produced, UINT_MAX));
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    zs.avail_out = room;
    rc = inflate(&zs, Z_NO_FLUSH);
    produced += room - zs.avail_out;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
      error = "flate: unexpected EOF (the compressed body is truncated)";
      return 400;
    }
    if (rc != Z_OK && rc != Z_STREAM_END) {
      error = std::string("flate: ") + (zs.msg != nullptr ? zs.msg : "invalid compressed data");
      return 400;
    }
  }
  if (produced > limit) {
    error = too_large(limit);
    out.clear();
    return 413;
  }
  out.resize(produced);
  return 0;
}

}  // namespace

int inflate_bounded(std::string_view in, Compression format, std::size_t limit, std::string& out,
                    std::string& error) {
  return format == Compression::gzip ? gunzip(in, limit, out, error) : inflate_raw(in, limit, out, error);
}

}  // namespace shmlog::loki
