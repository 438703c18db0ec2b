// The webhook's certificate and key, read from files and read again when they change, without a
// restart: cert-manager renews a Secret that the kubelet swaps in place (a symlinked directory
// replaced at once), and the API server must see the new certificate before the old one expires.
//
// Each TLS handshake asks for the current pair (SSL_CTX_set_cert_cb), and at most once a second
// the files' identity (device, inode, size, mtime) is compared with what was loaded. A new pair
// that cannot be used (unreadable, not PEM, the key not the certificate's) is said once and the
// last good pair stays in use; the next change is tried again.
#pragma once

#include <shmlog/result.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <openssl/ssl.h>

namespace shmlog::webhook {

class CertReloader {
 public:
  using Log = std::function<void(const std::string&)>;

  // Loads the pair; an Error naming the file and what is wrong when there is no usable pair.
  static Result<std::unique_ptr<CertReloader>> load(
      std::string cert_file, std::string key_file, Log log,
      std::chrono::milliseconds check_every = std::chrono::seconds(1));
  ~CertReloader();
  CertReloader(const CertReloader&) = delete;
  CertReloader& operator=(const CertReloader&) = delete;

  // Makes every handshake on `ctx` use the current pair. This object must outlive `ctx`'s use.
  void attach(SSL_CTX* ctx);

  // "subject CN=..., serial 0A1B..." of the pair in use.
  std::string describe() const;

 private:
  struct Pair;
  struct Stamp {
    unsigned long long dev = 0, ino = 0, size = 0, mtime_ns = 0;
    bool operator==(const Stamp&) const = default;
  };
  struct Stamps {
    Stamp cert, key;
    bool operator==(const Stamps&) const = default;
  };

  CertReloader(std::string cert_file, std::string key_file, Log log, std::chrono::milliseconds check_every);
  static int on_handshake(SSL* ssl, void* self);
  std::shared_ptr<const Pair> current();  // reloads first when a check is due and the files changed
  static Result<std::shared_ptr<const Pair>> read_pair(const std::string& cert_file,
                                                       const std::string& key_file);
  Stamps stamps() const;

  const std::string cert_file_, key_file_;
  const Log log_;
  const std::chrono::milliseconds check_every_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Pair> pair_;
  Stamps loaded_;  // of pair_'s files
  Stamps failed_;  // of the last files that could not be used (said once)
  bool failed_said_ = false;
  std::chrono::steady_clock::time_point last_check_;
};

}  // namespace shmlog::webhook
