// The spool the Loki shipper reads: the file sink's `<service>.log` files and their numbered
// backups (`.1`, `.2.gz`, ...), oldest first, whole lines only, from where the positions say.
// Reading runs one batch ahead of the positions: the lines handed out are committed (their
// positions saved) only after Loki took them, so a crash re-reads at most what was in flight.
#pragma once

#include "sinks/loki/positions.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace shmlog::sidecar::loki {

// Where a batch ends in each file it took lines from: committed when the batch is through.
struct SpoolMark {
  FilePosition position;
};
using SpoolTicket = std::vector<SpoolMark>;

struct SpoolLoss {
  std::string path;
  std::uint64_t bytes = 0;  // unshipped bytes in a file deleted (by rotation or retention) first
};

class Spool {
 public:
  // `dir` is the file sink's directory; `store` holds the positions (owned by the caller).
  Spool(std::string dir, PositionStore& store);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Lists the directory: finds new services and files, and reports files that went away with
  // lines never shipped. Cheap enough to call every second.
  std::vector<SpoolLoss> refresh();

  // Hands whole lines (without their '\n') to `take`, oldest first per service, services in
  // turn, until about `budget` bytes were handed or nothing is left; adds to `ticket` where
  // each file's lines end. Returns the bytes handed out. Errors reading a file are reported
  // through `warn` once per file and that file is retried at the next refresh.
  using Take = std::function<void(std::string_view stem, std::string_view line)>;
  std::uint64_t read(std::uint64_t budget, const Take& take, SpoolTicket& ticket);

  // The lines of `ticket` reached Loki (or were given up as rejected): their positions move.
  void commit(const SpoolTicket& ticket);

  // Bytes in the files not yet handed out (as of the last refresh and reads).
  std::uint64_t pending_bytes() const;

  std::function<void(const std::string&)> warn = [](const std::string&) {};

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shmlog::sidecar::loki
