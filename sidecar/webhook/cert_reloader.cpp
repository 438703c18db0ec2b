#include "webhook/cert_reloader.hpp"

#include <utility>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

namespace shmlog::webhook {

// The leaf, its key and the intermediates after it in the certificate file (cert-manager's
// tls.crt holds the chain).
struct CertReloader::Pair {
  X509* leaf = nullptr;
  EVP_PKEY* key = nullptr;
  STACK_OF(X509) * chain = nullptr;
  std::string description;
  Pair() = default;
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;
  ~Pair() {
    X509_free(leaf);
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
  }
};

namespace {

// OpenSSL's reason for the last failure, and an empty error queue for whatever runs next on this
// thread (a stale entry would confuse the next SSL_get_error of a connection).
std::string openssl_reason() {
  const unsigned long code = ERR_peek_last_error();
  std::string reason;
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    reason = std::string(": ") + buf;
  }
  ERR_clear_error();
  return reason;
}

std::string describe_cert(X509* cert) {
  std::string out;
  char name[256];
  X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof name);
  out = std::string("subject ") + name;
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
    if (char* hex = BN_bn2hex(bn)) {
      out += std::string(", serial ") + hex;
      OPENSSL_free(hex);
    }
    BN_free(bn);
  }
  return out;
}

}  // namespace

CertReloader::CertReloader(std::string cert_file, std::string key_file, Log log,
                           std::chrono::milliseconds check_every)
    : cert_file_(std::move(cert_file)),
      key_file_(std::move(key_file)),
      log_(std::move(log)),
      check_every_(check_every) {}

CertReloader::~CertReloader() = default;

Result<std::unique_ptr<CertReloader>> CertReloader::load(std::string cert_file, std::string key_file, Log log,
                                                         std::chrono::milliseconds check_every) {
  std::unique_ptr<CertReloader> self(
      new CertReloader(std::move(cert_file), std::move(key_file), std::move(log), check_every));
  self->loaded_ = self->stamps();
  auto pair = read_pair(self->cert_file_, self->key_file_);
  if (!pair) return pair.error();
  self->pair_ = std::move(pair.value());
  self->last_check_ = std::chrono::steady_clock::now();
  return self;
}

Result<std::shared_ptr<const CertReloader::Pair>> CertReloader::read_pair(const std::string& cert_file,
                                                                          const std::string& key_file) {
  auto pair = std::make_shared<Pair>();
  BIO* bio = BIO_new_file(cert_file.c_str(), "r");
  if (bio == nullptr) return Error{"cannot read the certificate file " + cert_file + openssl_reason()};
  pair->leaf = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  if (pair->leaf != nullptr) {
    pair->chain = sk_X509_new_null();
    while (X509* more = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) sk_X509_push(pair->chain, more);
    ERR_clear_error();  // the end of the file, as a "no start line" error
  }
  BIO_free(bio);
  if (pair->leaf == nullptr || pair->chain == nullptr)
    return Error{"the certificate file " + cert_file + " holds no PEM certificate" + openssl_reason()};

  bio = BIO_new_file(key_file.c_str(), "r");
  if (bio == nullptr) return Error{"cannot read the key file " + key_file + openssl_reason()};
  pair->key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (pair->key == nullptr)
    return Error{"the key file " + key_file + " holds no PEM private key" + openssl_reason()};
  if (X509_check_private_key(pair->leaf, pair->key) != 1)
    return Error{"the key in " + key_file + " is not the key of the certificate in " + cert_file +
                 openssl_reason()};
  pair->description = describe_cert(pair->leaf);
  return std::shared_ptr<const Pair>(std::move(pair));
}

CertReloader::Stamps CertReloader::stamps() const {
  auto of = [](const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return Stamp{};  // gone: a change, tried and said as such
    return Stamp{static_cast<unsigned long long>(st.st_dev), static_cast<unsigned long long>(st.st_ino),
                 static_cast<unsigned long long>(st.st_size),
                 static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1'000'000'000ull +
                     static_cast<unsigned long long>(st.st_mtim.tv_nsec)};
  };
  return Stamps{of(cert_file_), of(key_file_)};
}

std::shared_ptr<const CertReloader::Pair> CertReloader::current() {
  std::lock_guard lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (now - last_check_ < check_every_) return pair_;
  last_check_ = now;
  const Stamps seen = stamps();
  if (seen == loaded_ || (failed_said_ && seen == failed_)) return pair_;
  auto pair = read_pair(cert_file_, key_file_);
  if (!pair) {
    failed_ = seen;
    failed_said_ = true;
    log_("cannot use the new certificate: " + pair.error().message + "; still serving " + pair_->description);
    return pair_;
  }
  pair_ = std::move(pair.value());
  loaded_ = seen;
  failed_said_ = false;
  log_("certificate reloaded: " + pair_->description);
  return pair_;
}

int CertReloader::on_handshake(SSL* ssl, void* self) {
  const auto pair = static_cast<CertReloader*>(self)->current();
  // The SSL takes references of its own: a reload during the handshake frees nothing it uses.
  if (SSL_use_cert_and_key(ssl, pair->leaf, pair->key, pair->chain, 1) != 1) {
    ERR_clear_error();
    return 0;  // the handshake fails; the next one tries again
  }
  return 1;
}

void CertReloader::attach(SSL_CTX* ctx) {
  SSL_CTX_set_cert_cb(ctx, &CertReloader::on_handshake, this);
}

std::string CertReloader::describe() const {
  std::lock_guard lock(mutex_);
  return pair_->description;
}

}  // namespace shmlog::webhook
