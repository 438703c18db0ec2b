#include "sinks/file/backups.hpp"

#include "sinks/file/gzip_file.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string_view>

#include <unistd.h>

namespace shmlog::sidecar {
namespace {

std::string errno_text(int err) {
  return std::strerror(err);
}

// 0, or the errno of the failure; a missing file is no failure (numbering may have gaps).
int remove_if_present(const std::string& path) {
  return ::unlink(path.c_str()) == 0 || errno == ENOENT ? 0 : errno;
}
int move_if_present(const std::string& from, const std::string& to) {
  return ::rename(from.c_str(), to.c_str()) == 0 || errno == ENOENT ? 0 : errno;
}

constexpr const char* kForms[] = {"", ".gz"};  // a backup is plain or gzipped

enum class BackupKind { plain, gzipped, gzip_leftover };
struct BackupName {
  unsigned number = 0;
  BackupKind kind = BackupKind::plain;
};

// "<log_name>.<n>", "<log_name>.<n>.gz" or "<log_name>.<n>.gz.tmp" with n >= 1 written the way
// BackupSet::path writes it; anything else in the directory is not ours to touch.
std::optional<BackupName> parse_backup_name(std::string_view name, std::string_view log_name) {
  if (name.size() <= log_name.size() + 1 || name.substr(0, log_name.size()) != log_name ||
      name[log_name.size()] != '.')
    return std::nullopt;
  std::string_view rest = name.substr(log_name.size() + 1);
  BackupName parsed;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), parsed.number);
  if (ec != std::errc{} || parsed.number == 0 || rest[0] == '0') return std::nullopt;
  const std::string_view suffix(end, static_cast<std::size_t>(rest.data() + rest.size() - end));
  if (suffix.empty()) return parsed;
  if (suffix == ".gz")
    parsed.kind = BackupKind::gzipped;
  else if (suffix == ".gz.tmp")
    parsed.kind = BackupKind::gzip_leftover;
  else
    return std::nullopt;
  return parsed;
}

// Past the count kept, a gzip that never finished, or (with max_age) last written too long ago.
bool unwanted(const BackupName& backup, const std::string& path, const BackupSet& set,
              std::chrono::seconds max_age) {
  if (backup.kind == BackupKind::gzip_leftover || backup.number > set.max_backups) return true;
  if (max_age.count() <= 0) return false;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return false;  // gone already
  return modified_time(st) < std::chrono::system_clock::now() - max_age;
}

}  // namespace

Status shift_backups(const BackupSet& set) {
  const std::string live = set.live_path();
  if (set.max_backups == 0) {
    if (int err = remove_if_present(live)) return Error{"cannot delete " + live + ": " + errno_text(err)};
    return Ok{};
  }
  for (const char* form : kForms) {
    const std::string oldest = set.path(set.max_backups) + form;
    if (int err = remove_if_present(oldest)) return Error{"cannot delete " + oldest + ": " + errno_text(err)};
  }
  // Oldest first, so each rename's target has already moved on.
  for (unsigned k = set.max_backups - 1; k >= 1; --k) {
    for (const char* form : kForms) {
      const std::string from = set.path(k) + form, to = set.path(k + 1) + form;
      if (int err = move_if_present(from, to))
        return Error{"cannot rename " + from + " to " + to + ": " + errno_text(err)};
    }
  }
  if (int err = move_if_present(live, set.path(1)))
    return Error{"cannot rename " + live + " to " + set.path(1) + ": " + errno_text(err)};
  return Ok{};
}

Status compress_backups(const BackupSet& set) {
  std::string first_error;
  for (unsigned k = 2; k <= set.max_backups; ++k) {
    const std::string path = set.path(k);
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (Status zipped = gzip_file(path); !zipped && first_error.empty()) first_error = zipped.error().message;
  }
  if (!first_error.empty()) return Error{first_error};
  return Ok{};
}

Status prune_backups(const BackupSet& set, std::chrono::seconds max_age) {
  std::error_code ec;
  std::filesystem::directory_iterator it(set.dir, ec);
  std::string first_error;
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::optional<BackupName> backup = parse_backup_name(name, set.log_name);
    if (!backup) continue;
    const std::string path = set.dir + "/" + name;
    if (!unwanted(*backup, path, set, max_age)) continue;
    if (int err = remove_if_present(path); err != 0 && first_error.empty())
      first_error = "cannot delete " + path + ": " + errno_text(err);
  }
  if (ec) return Error{"cannot list " + set.dir + ": " + ec.message()};
  if (!first_error.empty()) return Error{first_error};
  return Ok{};
}

}  // namespace shmlog::sidecar
