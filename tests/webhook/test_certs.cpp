#include "webhook/test_certs.hpp"

#include <memory>
#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace shmlog::test {
namespace {

struct Free {
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
  void operator()(SSL* p) const { SSL_free(p); }
};
template <typename T>
using Owned = std::unique_ptr<T, Free>;

void must(bool ok, const char* what) {
  if (!ok) {
    char buf[256] = "";
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    throw std::runtime_error(std::string("OpenSSL: ") + what + ": " + buf);
  }
}

std::string pem_of(X509* cert) {
  Owned<BIO> bio(BIO_new(BIO_s_mem()));
  must(PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string pem_of(EVP_PKEY* key) {
  Owned<BIO> bio(BIO_new(BIO_s_mem()));
  must(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
       "PEM_write_bio_PrivateKey");
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

Owned<X509> cert_of(const std::string& pem) {
  Owned<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Owned<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  must(cert != nullptr, "PEM_read_bio_X509");
  return cert;
}

Owned<EVP_PKEY> key_of(const std::string& pem) {
  Owned<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Owned<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  must(key != nullptr, "PEM_read_bio_PrivateKey");
  return key;
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  must(ext != nullptr, "X509V3_EXT_conf_nid");
  must(X509_add_ext(cert, ext, -1) == 1, "X509_add_ext");
  X509_EXTENSION_free(ext);
}

// A certificate named `cn` for `key`, valid from an hour ago for a day; issuer fields from
// `issuer` (itself when null).
Owned<X509> new_cert(EVP_PKEY* key, const std::string& cn, long serial, X509* issuer) {
  Owned<X509> cert(X509_new());
  must(X509_set_version(cert.get(), 2) == 1, "X509_set_version");
  must(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial) == 1, "ASN1_INTEGER_set");
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  must(X509_set_pubkey(cert.get(), key) == 1, "X509_set_pubkey");
  X509_NAME* name = X509_get_subject_name(cert.get());
  must(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                  reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) == 1,
       "X509_NAME_add_entry_by_txt");
  must(X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name) == 1,
       "X509_set_issuer_name");
  return cert;
}

}  // namespace

Pem make_ca(const std::string& cn) {
  Owned<EVP_PKEY> key(EVP_EC_gen("P-256"));
  must(key != nullptr, "EVP_EC_gen");
  Owned<X509> cert = new_cert(key.get(), cn, 1, nullptr);
  add_ext(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  add_ext(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  must(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0, "X509_sign");
  return Pem{pem_of(cert.get()), pem_of(key.get())};
}

Pem make_server_cert(const Pem& ca, const std::string& cn, long serial) {
  const Owned<X509> ca_cert = cert_of(ca.cert);
  const Owned<EVP_PKEY> ca_key = key_of(ca.key);
  Owned<EVP_PKEY> key(EVP_EC_gen("P-256"));
  must(key != nullptr, "EVP_EC_gen");
  Owned<X509> cert = new_cert(key.get(), cn, serial, ca_cert.get());
  add_ext(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature");
  add_ext(cert.get(), ca_cert.get(), NID_ext_key_usage, "serverAuth");
  add_ext(cert.get(), ca_cert.get(), NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  add_ext(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid");
  must(X509_sign(cert.get(), ca_key.get(), EVP_sha256()) > 0, "X509_sign");
  return Pem{pem_of(cert.get()), pem_of(key.get())};
}

std::string served_certificate(int port, const std::string& ca_file, int max_version, int timeout_ms) {
  Owned<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx || SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) != 1)
    return "error: cannot load " + ca_file;
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (max_version != 0) {
    SSL_CTX_set_security_level(ctx.get(), 0);  // TLS 1.1 is otherwise refused by the client itself
    SSL_CTX_set_min_proto_version(ctx.get(), 0);
    SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "error: socket";
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "error: connect";
  }
  Owned<SSL> ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), "127.0.0.1");
  std::string out;
  if (SSL_connect(ssl.get()) != 1) {
    out = std::string("error: handshake: ") + X509_verify_cert_error_string(SSL_get_verify_result(ssl.get()));
  } else {
    X509* peer = SSL_get0_peer_certificate(ssl.get());
    char cn[256] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
    out =
        std::string("CN=") + cn + " serial=" + std::to_string(ASN1_INTEGER_get(X509_get0_serialNumber(peer)));
    SSL_shutdown(ssl.get());
  }
  ERR_clear_error();
  ssl.reset();
  ::close(fd);
  return out;
}

}  // namespace shmlog::test
