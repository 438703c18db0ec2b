// Throwaway certificates for the webhook's tests, made with OpenSSL's API (no `openssl` program
// needed): a CA, server certificates it signs for 127.0.0.1, and what a TLS client is shown.
#pragma once

#include <string>

namespace shmlog::test {

struct Pem {
  std::string cert;  // PEM certificate
  std::string key;   // PEM private key (P-256)
};

// A self-signed CA named `cn`.
Pem make_ca(const std::string& cn);
// A server certificate for DNS:localhost and IP:127.0.0.1, named `cn`, with `serial`, signed by `ca`.
Pem make_server_cert(const Pem& ca, const std::string& cn, long serial);

// Connects to 127.0.0.1:`port` with TLS, verifying against the CA in `ca_file`, and returns
// "CN=<subject CN> serial=<decimal>" of the certificate the server showed, or "error: ..." (a
// failed handshake or verification). `max_version` (e.g. TLS1_1_VERSION) caps what the client
// offers; 0 offers all. At most `timeout_ms` on each step.
std::string served_certificate(int port, const std::string& ca_file, int max_version = 0,
                               int timeout_ms = 3000);

}  // namespace shmlog::test
