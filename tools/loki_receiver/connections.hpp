// The sockets of the connections the receiver serves, found from inside a request.
//
// Why: cpp-httplib 0.11 gives a handler no way to its socket, yet two faults need it: "drop the
// connection without an answer" and "stop() ends every connection" (an idle keep-alive
// connection would otherwise hold a worker, and stop(), for up to its 5 s keep-alive wait).
// The alternatives were worse: a stalled answer is a timeout, not a drop; stop()/restart per
// drop would also cut the other connections; writing half a response is a different fault.
//
// How: a request knows both ends of its connection (address and port). The registry looks
// through the process's descriptors (/proc/self/fd) for the TCP socket with those ends, once per
// connection, and keeps a dup() of it. The dup is ours alone, so shutting it down later can never
// hit a descriptor number httplib has closed and the process reused; shutdown() acts on the
// socket itself, so the peer sees the end at once, and httplib's own writes and reads on it
// fail and end its worker loop.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace shmlog::loki {

struct ConnectionEnds {
  std::string local_addr;
  int local_port = -1;
  std::string remote_addr;
  int remote_port = -1;
};

class ConnectionRegistry {
 public:
  ConnectionRegistry() = default;
  ~ConnectionRegistry();
  ConnectionRegistry(const ConnectionRegistry&) = delete;
  ConnectionRegistry& operator=(const ConnectionRegistry&) = delete;

  // Remembers the connection with these ends; returns our descriptor for it, or -1 if no socket
  // of this process has them (then it cannot be dropped or shut).
  int track(const ConnectionEnds& ends);
  // Ends the connection: both directions shut down; the peer reads EOF and no answer.
  static void shut(int fd);
  // Ends every tracked connection (stop(): idle keep-alive connections too).
  void shut_all();
  // Closes our descriptors; for after the server's workers are gone.
  void close_all();

 private:
  using Key = std::tuple<int, int, std::string>;  // local port, remote port, remote address
  void close_finished();                          // connections httplib has ended since

  std::mutex mutex_;
  std::map<Key, int> fds_;
};

}  // namespace shmlog::loki
