#include "connections.hpp"

#include <array>
#include <cstdlib>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace shmlog::loki {

namespace {

bool endpoint(const sockaddr_storage& sa, std::string& addr, int& port) {
  std::array<char, INET6_ADDRSTRLEN> buf{};
  if (sa.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(sa);
    if (inet_ntop(AF_INET, &in.sin_addr, buf.data(), buf.size()) == nullptr) return false;
    port = ntohs(in.sin_port);
  } else if (sa.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(sa);
    if (inet_ntop(AF_INET6, &in6.sin6_addr, buf.data(), buf.size()) == nullptr) return false;
    port = ntohs(in6.sin6_port);
  } else {
    return false;
  }
  addr = buf.data();
  return true;
}

// Whether `fd` is a connected TCP socket with exactly these ends.
bool has_ends(int fd, const ConnectionEnds& want) {
  sockaddr_storage local{};
  sockaddr_storage peer{};
  socklen_t local_len = sizeof local;
  socklen_t peer_len = sizeof peer;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) return false;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) return false;
  ConnectionEnds got;
  if (!endpoint(local, got.local_addr, got.local_port) || !endpoint(peer, got.remote_addr, got.remote_port)) {
    return false;
  }
  return got.local_port == want.local_port && got.remote_port == want.remote_port &&
         got.local_addr == want.local_addr && got.remote_addr == want.remote_addr;
}

// Both directions shut down, by us or by httplib: the connection is over.
bool finished(int fd) {
  pollfd p{fd, 0, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLNVAL)) != 0;
}

// Our own descriptor for the socket with these ends, or -1. A descriptor seen in the listing may
// be closed and reused by another thread meanwhile, so the dup is checked again: only a dup that
// still has the ends is kept.
int find_socket(const ConnectionEnds& ends) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int found = -1;
  while (found < 0) {
    const dirent* e = readdir(dir);
    if (e == nullptr) break;
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || !has_ends(static_cast<int>(fd), ends)) continue;
    const int mine = fcntl(static_cast<int>(fd), F_DUPFD_CLOEXEC, 0);
    if (mine < 0) continue;
    if (has_ends(mine, ends)) {
      found = mine;
    } else {
      ::close(mine);
    }
  }
  closedir(dir);
  return found;
}

}  // namespace

ConnectionRegistry::~ConnectionRegistry() {
  close_all();
}

int ConnectionRegistry::track(const ConnectionEnds& ends) {
  const std::lock_guard lock(mutex_);
  const Key key{ends.local_port, ends.remote_port, ends.remote_addr};
  if (auto it = fds_.find(key); it != fds_.end()) {
    if (!finished(it->second)) return it->second;
    ::close(it->second);  // an earlier connection between the same ports
    fds_.erase(it);
  }
  close_finished();  // once per new connection: keeps the map to the live ones
  const int fd = find_socket(ends);
  if (fd >= 0) fds_.emplace(key, fd);
  return fd;
}

void ConnectionRegistry::shut(int fd) {
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
}

void ConnectionRegistry::shut_all() {
  const std::lock_guard lock(mutex_);
  for (const auto& [key, fd] : fds_) ::shutdown(fd, SHUT_RDWR);
}

void ConnectionRegistry::close_all() {
  const std::lock_guard lock(mutex_);
  for (const auto& [key, fd] : fds_) ::close(fd);
  fds_.clear();
}

void ConnectionRegistry::close_finished() {
  for (auto it = fds_.begin(); it != fds_.end();) {
    if (finished(it->second)) {
      ::close(it->second);
      it = fds_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace shmlog::loki
