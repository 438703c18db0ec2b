#include "producer/fallback.hpp"

#include "producer/site_registry.hpp"
#include "producer/stderr_write.hpp"

#include <cstdlib>
#include <cstring>
#include <fstream>

#include <unistd.h>

namespace shmlog::detail {
namespace {

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

}  // namespace

FallbackWriter::FallbackWriter(const Config& config) : discard_(config.fallback == FallbackSink::discard) {
  std::string service = config.service;
  if (service.empty()) {
    std::ifstream comm("/proc/self/comm");
    std::getline(comm, service);
  }
  identity_.service = service.empty() ? "app" : service;
  identity_.pod = env_or("POD_NAME", "");
  identity_.pod_namespace = env_or("POD_NAMESPACE", "");
  identity_.container = env_or("CONTAINER_NAME", "");
  identity_.host = env_or("NODE_NAME", "");
  identity_.writer_pid = static_cast<std::int32_t>(::getpid());
}

void FallbackWriter::emit(Level level, std::uint32_t site, std::uint32_t tid, std::uint16_t logger_id,
                          const std::byte* payload, std::uint32_t payload_bytes,
                          std::uint16_t flags) noexcept {
  if (discard_) return;
  try {
    std::lock_guard lock(mu_);
    const std::uint32_t size = ring::align_record(std::uint64_t{ring::kRecordHeaderBytes} + payload_bytes);
    record_.assign(size, std::byte{0});
    auto* h = new (record_.data()) ring::RecordHeader{};
    h->site_id = site;
    h->tid = tid;
    h->timestamp = now_ticks(false);
    h->logger_id = logger_id;
    h->payload_bytes = payload_bytes;
    std::memcpy(record_.data() + ring::kRecordHeaderBytes, payload, payload_bytes);
    h->commit.store(ring::make_commit(size, ring::RecordKind::log, static_cast<std::uint8_t>(level), flags),
                    std::memory_order_relaxed);
    line_.clear();
    if (auto ok = decode_record(record_, SiteRegistry::instance(), view_); !ok) {
      line_ = "{\"level\":\"ERROR\",\"message\":\"shmlog: could not decode a record: " + ok.error().message +
              "\"}\n";
    } else {
      view_.timestamp_ns = h->timestamp;
      append_json_line(view_, identity_, options_, line_);
    }
    write_stderr(line_);
  } catch (...) {
    // Out of memory while formatting: nothing sensible left to do but not crash.
  }
}

std::unique_ptr<FallbackWriter> make_fallback(const Config& config) {
  return std::make_unique<FallbackWriter>(config);
}

}  // namespace shmlog::detail
