// How far the Loki shipper has got in each spool file, kept across restarts. A file is known by
// its identity, not its name: a rotation renames `svc.log` to `svc.log.1` and the position
// follows it; a gzip of a backup gives a new inode but the same first line, and the position
// follows that too. Saved atomically (write, fsync, rename, fsync of the directory): a crash
// leaves the old file or the new one, never a mix.
#pragma once

#include <shmlog/result.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shmlog::sidecar::loki {

struct FileIdentity {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::uint64_t fingerprint = 0;  // of the first line, '\n' included (see fingerprint_of)

  bool same_inode(const FileIdentity& o) const { return device == o.device && inode == o.inode; }
};

// FNV-1a of the bytes: stable across runs and builds, unlike std::hash.
std::uint64_t fingerprint_of(std::string_view first_line);

struct FilePosition {
  FileIdentity id;
  std::uint64_t offset = 0;     // bytes shipped (always at a line end)
  std::uint64_t size_seen = 0;  // the file's size when last listed, for counting a loss
  std::string path;             // where it was last seen; informational
};

class PositionStore {
 public:
  // Reads `path`; a missing file is an empty store. A file that is not what save() writes is an
  // error naming it (the caller decides whether to start afresh).
  static Result<PositionStore> load(std::string path);
  static PositionStore empty(std::string path);

  // The position of the file with this identity: the same inode and first line; failing that,
  // the same first line under another inode (a backup that was gzipped since).
  const FilePosition* find(const FileIdentity& id) const;
  // Records `p`, replacing the entry of the same identity, or the entry of the same first line
  // when `p` is its gzipped successor.
  void put(const FilePosition& p);
  void erase(const FileIdentity& id);
  const std::vector<FilePosition>& all() const { return entries_; }

  // Writes the store if it changed since the last save.
  Status save();
  bool dirty() const { return dirty_; }
  // A copy is being saved elsewhere: this one counts as saved until it changes again. (A store
  // marked saved whose copy failed to save is written by the next save() after a change, or by
  // force_dirty().)
  void mark_saved() { dirty_ = false; }
  void force_dirty() { dirty_ = true; }
  const std::string& path() const { return path_; }

 private:
  std::size_t index_of(const FileIdentity& id) const;  // entries_.size() when none

  std::string path_;
  std::vector<FilePosition> entries_;  // a handful per service: a vector beats a map
  bool dirty_ = false;
};

}  // namespace shmlog::sidecar::loki
