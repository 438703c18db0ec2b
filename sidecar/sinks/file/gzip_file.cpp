// gzip of one rotated file, crash-safe: the .gz appears under its final name only once it is
// complete and on disk, and the plain file goes only after that. A failure leaves the plain file
// as it was and no .gz or .gz.tmp behind.
#include "sinks/file/gzip_file.hpp"

#include <cerrno>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

namespace shmlog::sidecar {
namespace {

constexpr std::size_t kChunk = std::size_t{64} << 10;
// The sink compresses on the drain's thread, so speed beats the last few percent of ratio: level 1
// still shrinks JSON lines several times over, at several times the speed of the default level 6.
constexpr int kLevel = Z_BEST_SPEED;
constexpr int kGzipWindowBits = 15 + 16;  // 32 KiB window; +16 asks zlib for a gzip header and trailer

std::string errno_text(int err) {
  return std::strerror(err);
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { close(); }
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }
  // close(2)'s own error matters for the output file (NFS reports a failed write-back there).
  int close() {
    const int rc = fd_ >= 0 ? ::close(fd_) : 0;
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

// 0, or the errno of the write that failed.
int write_all(int fd, const unsigned char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;  // no progress (never for a regular file): do not spin
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return 0;
}

// Deflates everything in `in` into `out` as one gzip member; empty on success, else what failed.
std::string deflate_all(int in, int out, const std::string& in_path, const std::string& out_path) {
  z_stream zs{};
  if (deflateInit2(&zs, kLevel, Z_DEFLATED, kGzipWindowBits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return "zlib cannot start a deflate stream";
  struct End {
    z_stream& zs;
    ~End() { deflateEnd(&zs); }
  } end{zs};

  std::vector<unsigned char> input(kChunk), output(kChunk);
  for (int flush = Z_NO_FLUSH; flush != Z_FINISH;) {
    const ssize_t n = ::read(in, input.data(), input.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return "cannot read " + in_path + ": " + errno_text(errno);
    flush = n == 0 ? Z_FINISH : Z_NO_FLUSH;
    zs.next_in = input.data();
    zs.avail_in = static_cast<uInt>(n);
    do {  // until deflate leaves room in `output`: then it has taken all of `input`
      zs.next_out = output.data();
      zs.avail_out = static_cast<uInt>(output.size());
      if (deflate(&zs, flush) == Z_STREAM_ERROR) return "zlib deflate failed";
      const std::size_t produced = output.size() - zs.avail_out;
      if (int err = write_all(out, output.data(), produced); err != 0)
        return "cannot write " + out_path + ": " + errno_text(err);
    } while (zs.avail_out == 0);
  }
  return {};
}

// Makes the rename of the .gz durable before the plain file is removed. Best effort: some file
// systems refuse fsync on a directory, and both names being present after a crash loses nothing.
void sync_directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  FileDescriptor fd{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (fd.ok()) ::fsync(fd.get());
}

}  // namespace

Status gzip_file(const std::string& path) {
  const std::string gz_path = path + ".gz";
  const std::string tmp_path = gz_path + ".tmp";
  auto error = [&](const std::string& what) { return Error{"cannot gzip " + path + ": " + what}; };

  FileDescriptor in{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (!in.ok()) return error(errno_text(errno));
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) return error(errno_text(errno));

  FileDescriptor out{::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
  if (!out.ok()) return error("cannot create " + tmp_path + ": " + errno_text(errno));
  auto fail = [&](const std::string& what) {
    out.close();
    ::unlink(tmp_path.c_str());
    return error(what);
  };
  if (std::string what = deflate_all(in.get(), out.get(), path, tmp_path); !what.empty()) return fail(what);
  // The .gz stands in for the backup: same permissions, and the same mtime, which age retention reads.
  if (::fchmod(out.get(), st.st_mode & 07777) != 0)
    return fail("cannot chmod " + tmp_path + ": " + errno_text(errno));
  const timespec times[2] = {st.st_atim, st.st_mtim};
  if (::futimens(out.get(), times) != 0)
    return fail("cannot set the times of " + tmp_path + ": " + errno_text(errno));
  if (::fsync(out.get()) != 0) return fail("cannot fsync " + tmp_path + ": " + errno_text(errno));
  if (out.close() != 0) return fail("cannot close " + tmp_path + ": " + errno_text(errno));
  if (::rename(tmp_path.c_str(), gz_path.c_str()) != 0)
    return fail("cannot rename " + tmp_path + " to " + gz_path + ": " + errno_text(errno));

  sync_directory_of(gz_path);
  // The .gz is complete; a plain file left behind is gzipped again (same bytes) at the next rotation.
  if (::unlink(path.c_str()) != 0) return error("gzipped, but cannot remove it: " + errno_text(errno));
  return Ok{};
}

}  // namespace shmlog::sidecar
