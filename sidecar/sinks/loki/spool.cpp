#include "sinks/loki/spool.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <set>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

namespace shmlog::sidecar::loki {
namespace {

constexpr std::size_t kChunk = 256 << 10;       // one read(2)
constexpr std::size_t kMaxFirstLine = 1 << 20;  // a longer first line gets no fingerprint
constexpr unsigned kLive = 0;                   // the live file's "backup number"

// `<stem>.log`, `<stem>.log.<n>` or `<stem>.log.<n>.gz`: the names the file sink writes.
struct Name {
  std::string stem;
  unsigned number = kLive;
  bool gz = false;
};

std::optional<Name> parse_name(std::string_view name) {
  if (name.empty() || name.front() == '.') return std::nullopt;
  Name n;
  if (name.ends_with(".gz")) {
    n.gz = true;
    name.remove_suffix(3);
  }
  const auto log = name.rfind(".log");
  if (log == std::string_view::npos || log == 0) return std::nullopt;
  const std::string_view tail = name.substr(log + 4);
  if (!tail.empty()) {
    if (tail.size() < 2 || tail.front() != '.' || tail.size() > 6) return std::nullopt;
    unsigned v = 0;
    for (const char c : tail.substr(1)) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v == 0) return std::nullopt;
    n.number = v;
  } else if (n.gz) {
    return std::nullopt;  // the live file is never gzipped
  }
  n.stem = std::string(name.substr(0, log));
  return n;
}

// A file of the spool as last listed.
struct Listed {
  std::string path;
  FileIdentity id;
  std::uint64_t size = 0;  // uncompressed
  bool gz = false;
  unsigned number = kLive;
};

// Reads a file, plain or gzip, sequentially from an offset in uncompressed bytes.
class Source {
 public:
  static std::optional<Source> open(const std::string& path, bool gz, std::uint64_t offset,
                                    std::string& why) {
    Source s;
    s.fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (s.fd_ < 0) {
      why = std::strerror(errno);
      return std::nullopt;
    }
    if (gz) {
      s.gz_ = gzdopen(::dup(s.fd_), "rb");
      if (s.gz_ == nullptr || (offset > 0 && gzseek(s.gz_, static_cast<z_off_t>(offset), SEEK_SET) < 0)) {
        why = "cannot read it as gzip";
        return std::nullopt;
      }
    } else if (::lseek(s.fd_, static_cast<off_t>(offset), SEEK_SET) < 0) {
      why = std::strerror(errno);
      return std::nullopt;
    }
    return s;
  }
  Source() = default;
  Source(Source&& o) noexcept : fd_(std::exchange(o.fd_, -1)), gz_(std::exchange(o.gz_, nullptr)) {}
  Source& operator=(Source&& o) noexcept {
    std::swap(fd_, o.fd_);
    std::swap(gz_, o.gz_);
    return *this;
  }
  ~Source() {
    if (gz_ != nullptr) gzclose(gz_);
    if (fd_ >= 0) ::close(fd_);
  }
  // Bytes read, 0 at the end, -1 on error.
  long read(char* buf, std::size_t n) {
    if (gz_ != nullptr) return gzread(gz_, buf, static_cast<unsigned>(n));
    for (;;) {
      const ssize_t got = ::read(fd_, buf, n);
      if (got < 0 && errno == EINTR) continue;
      return static_cast<long>(got);
    }
  }
  bool seek(std::uint64_t offset) {
    if (gz_ != nullptr) return gzseek(gz_, static_cast<z_off_t>(offset), SEEK_SET) >= 0;
    return ::lseek(fd_, static_cast<off_t>(offset), SEEK_SET) >= 0;
  }
  int fd() const { return fd_; }
  bool gz() const { return gz_ != nullptr; }

 private:
  int fd_ = -1;
  gzFile gz_ = nullptr;
};

// The first line of a file, '\n' included, or nothing if it has no complete first line yet.
std::optional<std::string> first_line(const std::string& path, bool gz) {
  std::string why;
  auto src = Source::open(path, gz, 0, why);
  if (!src) return std::nullopt;
  std::string line;
  char buf[4096];
  while (line.size() < kMaxFirstLine) {
    const long n = src->read(buf, sizeof buf);
    if (n <= 0) return std::nullopt;
    const auto* nl = static_cast<const char*>(std::memchr(buf, '\n', static_cast<std::size_t>(n)));
    if (nl != nullptr) {
      line.append(buf, static_cast<std::size_t>(nl - buf + 1));
      return line;
    }
    line.append(buf, static_cast<std::size_t>(n));
  }
  return std::nullopt;
}

// A gzip file's uncompressed size from its trailer (ISIZE, modulo 4 GiB; backups are smaller).
std::uint64_t gzip_size(int fd, std::uint64_t file_size) {
  if (file_size < 18) return 0;
  unsigned char t[4];
  if (::pread(fd, t, 4, static_cast<off_t>(file_size - 4)) != 4) return 0;
  return std::uint64_t{t[0]} | std::uint64_t{t[1]} << 8 | std::uint64_t{t[2]} << 16 |
         std::uint64_t{t[3]} << 24;
}

}  // namespace

struct Spool::Impl {
  struct Open {
    Listed file;
    Source src;
    std::uint64_t offset = 0;    // of the next byte read
    std::uint64_t line_end = 0;  // just past the last line handed out
    std::string carry;           // read past line_end: a line not complete yet
  };
  struct Stem {
    std::vector<Listed> files;  // oldest first: highest backup number first, the live file last
    std::optional<Open> open;
    bool failed = false;  // a read error: wait for the next refresh
  };

  std::string dir;
  PositionStore& store;
  std::map<std::string, Stem> stems;
  // Identity -> how far reading got (ahead of the store by what is in flight).
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint64_t> read_to;
  // (device, inode) -> fingerprint: a complete first line never changes (appends only, and a
  // torn tail is only ever cut after the last '\n').
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint64_t> fingerprints;
  std::set<std::string> warned;
  std::vector<SpoolLoss> losses;  // found while reading; handed out by the next refresh()
  std::function<void(const std::string&)>* warn = nullptr;
  std::string buffer;

  Impl(std::string d, PositionStore& s) : dir(std::move(d)), store(s) {}

  static std::pair<std::uint64_t, std::uint64_t> key(const FileIdentity& id) { return {id.device, id.inode}; }

  std::uint64_t shipped(const Listed& f) const {
    std::uint64_t at = 0;
    if (const FilePosition* p = store.find(f.id)) at = p->offset;
    if (const auto it = read_to.find(key(f.id)); it != read_to.end()) at = std::max(at, it->second);
    return at;
  }

  void say_once(const std::string& path, const std::string& text) {
    if (warned.insert(path).second && warn != nullptr) (*warn)(text);
  }

  std::vector<SpoolLoss> refresh() {
    std::map<std::string, std::vector<Listed>> listed;
    if (DIR* d = ::opendir(dir.c_str())) {
      while (const dirent* e = ::readdir(d)) {
        const auto name = parse_name(e->d_name);
        if (!name) continue;
        Listed f;
        f.path = dir + "/" + e->d_name;
        f.gz = name->gz;
        f.number = name->number;
        struct stat st {};
        if (::stat(f.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        f.id.device = st.st_dev;
        f.id.inode = st.st_ino;
        const auto k = key(f.id);
        if (auto it = fingerprints.find(k); it != fingerprints.end()) {
          f.id.fingerprint = it->second;
        } else {
          const auto line = first_line(f.path, f.gz);
          if (!line) continue;  // empty, or its first line is still being written
          f.id.fingerprint = fingerprint_of(*line);
          fingerprints[k] = f.id.fingerprint;
        }
        f.size = static_cast<std::uint64_t>(st.st_size);
        if (f.gz) {
          const int fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
          f.size = fd >= 0 ? gzip_size(fd, f.size) : 0;
          if (fd >= 0) ::close(fd);
        }
        listed[name->stem].push_back(std::move(f));
      }
      ::closedir(d);
    }
    // Oldest first: .N (the highest number) down to .1, then the live file.
    for (auto& [stem, files] : listed) {
      std::sort(files.begin(), files.end(), [](const Listed& a, const Listed& b) {
        if ((a.number == kLive) != (b.number == kLive)) return b.number == kLive;
        return a.number > b.number;
      });
      stems[stem].files = files;
      stems[stem].failed = false;
    }
    for (auto& [stem, s] : stems)
      if (!listed.contains(stem)) s.files.clear();

    // Every file seen is tracked, so one deleted before it was read is still noticed.
    std::vector<SpoolLoss> found;
    std::set<std::pair<std::uint64_t, std::uint64_t>> present;
    for (const auto& [stem, s] : stems) {
      for (const auto& f : s.files) {
        present.insert(key(f.id));
        const FilePosition* p = store.find(f.id);
        FilePosition np;
        np.id = f.id;
        np.offset = p != nullptr ? p->offset : 0;
        np.size_seen = f.size;
        np.path = f.path;
        store.put(np);
      }
      if (s.open) present.insert(key(s.open->file.id));  // deleted but still open: read on
    }
    std::vector<FileIdentity> gone;
    for (const auto& p : store.all()) {
      if (present.contains(key(p.id))) continue;
      bool same_content = false;  // gzipped since: the same first line under a new inode
      for (const auto& [stem, s] : stems)
        for (const auto& f : s.files) same_content = same_content || f.id.fingerprint == p.id.fingerprint;
      if (same_content) continue;
      const auto read_ahead = read_to.find(key(p.id));
      const std::uint64_t at = std::max(p.offset, read_ahead == read_to.end() ? 0 : read_ahead->second);
      if (at < p.size_seen) found.push_back({p.path, p.size_seen - at});
      gone.push_back(p.id);
    }
    for (const auto& id : gone) {
      store.erase(id);
      read_to.erase(key(id));
      fingerprints.erase(key(id));
    }
    return found;
  }

  // The file of `s` to read next: the oldest with bytes not yet handed out; the live file
  // when everything older is done.
  const Listed* next_file(const Stem& s) const {
    for (const auto& f : s.files)
      if (f.number == kLive || shipped(f) < f.size) return &f;
    return nullptr;
  }

  // Whether `f` is still the file the drain appends to (`<stem>.log` has its inode).
  static bool is_live(const Listed& f) {
    struct stat st {};
    const auto at = f.path.rfind(".log");
    const std::string live = f.path.substr(0, at + 4);
    if (::stat(live.c_str(), &st) != 0) return false;
    return st.st_dev == f.id.device && st.st_ino == f.id.inode;
  }

  void mark(const Open& o, SpoolTicket& ticket) {
    FilePosition p;
    p.id = o.file.id;
    p.offset = o.line_end;
    p.size_seen = std::max(o.file.size, o.offset);
    p.path = o.file.path;
    read_to[key(p.id)] = p.offset;
    for (auto& m : ticket)
      if (m.position.id.same_inode(p.id) && m.position.id.fingerprint == p.id.fingerprint) {
        m.position = p;
        return;
      }
    ticket.push_back({p});
  }

  // Reads up to `budget` bytes of lines from one service's files.
  std::uint64_t read_stem(const std::string& stem, Stem& s, std::uint64_t budget, const Take& take,
                          SpoolTicket& ticket) {
    std::uint64_t handed = 0;
    int relists = 0;
    while (handed < budget && !s.failed) {
      if (!s.open) {
        const Listed* f = next_file(s);
        if (f == nullptr) return handed;
        const std::uint64_t from = shipped(*f);
        std::string why;
        auto src = Source::open(f->path, f->gz, from, why);
        if (!src) {
          say_once(f->path, "cannot read " + f->path + " for Loki: " + why + " (trying again)");
          s.failed = true;
          return handed;
        }
        struct stat st {};
        if (::fstat(src->fd(), &st) != 0 || st.st_ino != f->id.inode || st.st_dev != f->id.device) {
          // Renamed between the listing and the open: list again and choose again.
          for (auto& loss : refresh()) losses.push_back(std::move(loss));
          if (++relists > 8) return handed;  // files churning faster than this loop: later
          continue;
        }
        s.open = Open{*f, std::move(*src), from, from, {}};
      }
      Open& o = *s.open;
      const std::size_t want =
          static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, budget - handed + 4096));
      buffer.resize(o.carry.size() + want);
      std::memcpy(buffer.data(), o.carry.data(), o.carry.size());
      const long got = o.src.read(buffer.data() + o.carry.size(), want);
      if (got < 0) {
        say_once(o.file.path, "cannot read " + o.file.path + " for Loki (trying again)");
        s.open.reset();
        s.failed = true;
        return handed;
      }
      if (got == 0) {
        // The end for now. A file cut back (the drain removing a torn tail) is read again from
        // its last whole line; the live file waits for more; any other file is finished.
        if (!o.file.gz) {
          struct stat st {};
          if (::fstat(o.src.fd(), &st) == 0 && static_cast<std::uint64_t>(st.st_size) < o.offset) {
            o.carry.clear();
            o.offset = o.line_end;
            if (!o.src.seek(o.offset)) s.open.reset();
            return handed;
          }
        }
        if (is_live(o.file)) return handed;
        if (!o.carry.empty()) {  // a last line without its '\n'
          take(stem, o.carry);
          handed += o.carry.size();
          o.line_end = o.offset;
          o.carry.clear();
        }
        o.file.size = o.offset;
        mark(o, ticket);
        s.open.reset();
        // The listing is stale once a file is finished (a rotation renamed the files): list
        // again before choosing the next one.
        for (auto& loss : refresh()) losses.push_back(std::move(loss));
        continue;
      }
      o.offset += static_cast<std::uint64_t>(got);
      const std::string_view data(buffer.data(), o.carry.size() + static_cast<std::size_t>(got));
      std::size_t start = 0;
      for (;;) {
        const auto nl = data.find('\n', start);
        if (nl == std::string_view::npos) break;
        if (nl > start) take(stem, data.substr(start, nl - start));
        handed += nl + 1 - start;
        start = nl + 1;
      }
      o.line_end = o.offset - (data.size() - start);
      o.carry.assign(data.substr(start));
      if (o.carry.size() > (64u << 20)) {  // not a line file: give up on the rest of this one
        say_once(o.file.path, o.file.path + " has a line over 64 MiB; skipping it");
        o.line_end = o.offset;
        o.carry.clear();
      }
      mark(o, ticket);
    }
    return handed;
  }
};

Spool::Spool(std::string dir, PositionStore& store) : impl_(std::make_unique<Impl>(std::move(dir), store)) {
  impl_->warn = &warn;
}
Spool::~Spool() = default;

std::vector<SpoolLoss> Spool::refresh() {
  auto losses = impl_->refresh();
  losses.insert(losses.begin(), impl_->losses.begin(), impl_->losses.end());
  impl_->losses.clear();
  return losses;
}

std::uint64_t Spool::read(std::uint64_t budget, const Take& take, SpoolTicket& ticket) {
  std::uint64_t handed = 0;
  bool progress = true;
  // Services in turn, a slice each, so one busy service cannot hold back the others.
  while (handed < budget && progress) {
    progress = false;
    const std::uint64_t slice =
        std::max<std::uint64_t>((budget - handed) / std::max<std::size_t>(impl_->stems.size(), 1), 4096);
    for (auto& [stem, s] : impl_->stems) {
      if (handed >= budget) break;
      const std::uint64_t got = impl_->read_stem(stem, s, std::min(slice, budget - handed), take, ticket);
      handed += got;
      progress = progress || got > 0;
    }
  }
  return handed;
}

void Spool::commit(const SpoolTicket& ticket) {
  for (const auto& m : ticket) {
    FilePosition p = m.position;
    if (const FilePosition* known = impl_->store.find(p.id)) {
      if (known->offset > p.offset) continue;  // never backwards
      p.size_seen = std::max(p.size_seen, known->size_seen);
    }
    impl_->store.put(p);
  }
}

std::uint64_t Spool::pending_bytes() const {
  std::uint64_t pending = 0;
  for (const auto& [stem, s] : impl_->stems)
    for (const auto& f : s.files) {  // sizes as refresh() just listed them: no stat again
      const std::uint64_t at = impl_->shipped(f);
      pending += f.size > at ? f.size - at : 0;
    }
  return pending;
}

}  // namespace shmlog::sidecar::loki
