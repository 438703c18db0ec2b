// shmlog-demo: a small service-like program for the README demo. Worker threads handle fake
// requests at a steady rate and log what a real service logs: arguments, debug detail, warnings
// with key/values, a caught exception, a timed scope, a child logger with context, and a trace
// and correlation id around every request.
//
//   SHMLOG_DIR=/tmp/rings shmlog-demo --seconds 5 --threads 3 --rate 200
#include <shmlog/config.hpp>
#include <shmlog/logger.hpp>
#include <shmlog/trace.hpp>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// Counts the calls that produce a record at the current runtime level.
class RecordCount {
 public:
  void add(shmlog::Level level) {
    if (shmlog::Logger::enabled(level)) ++n_;
  }
  std::uint64_t calls() const { return calls_; }
  std::uint64_t records() const { return n_; }
  void call() { ++calls_; }

 private:
  std::uint64_t n_ = 0;
  std::uint64_t calls_ = 0;
};

struct Worker {
  int index;
  const shmlog::Logger& log;
  RecordCount count;

  // One request: every line it logs carries the request's trace id and correlation id.
  void handle(std::uint64_t n) {
    shmlog::ScopedTrace trace(shmlog::TraceContext::generate());
    shmlog::ScopedCorrelation correlation("req-" + std::to_string(index) + "-" + std::to_string(n));
    const shmlog::Logger tenant = log.with_context(shmlog::kv("tenant", "acme"));
    {
      auto timer = log.time("handled request");
      const std::uint64_t order = 10'000 + n * 7 % 997;
      log.info("request {} started: GET /orders/{} from worker {}", n, order, index);
      tally(shmlog::Level::info);
      log.debug("cache lookup for order {} took {} us (hit: {})", order, 12 + n % 40, n % 3 != 0);
      tally(shmlog::Level::debug);
      tenant.info("order {} total {} cents", order, 1999 + n % 500);
      tally(shmlog::Level::info);
      if (n % 5 == 4) {
        const int attempt = static_cast<int>(n % 3) + 1;
        tenant.warning("slow downstream call: {} ms", 250 + n % 100, shmlog::kv("endpoint", "/inventory"),
                       shmlog::kv("attempt", attempt));
        tally(shmlog::Level::warning);
      }
      if (n % 20 == 19) {
        try {
          throw std::runtime_error("payment gateway timed out after 3 attempts");
        } catch (const std::exception& e) {
          log.error("request {} failed", n, shmlog::exception(e), shmlog::kv("order_id", order));
          tally(shmlog::Level::error);
        }
      }
    }  // the timer logs "handled request" with duration_ms here
    tally(shmlog::Level::info);
  }

  void tally(shmlog::Level level) {
    count.call();
    count.add(level);
  }

  // Handles requests until `end`, pacing the log calls at `rate` per second.
  void run(Clock::time_point end, double rate) {
    const auto start = Clock::now();
    for (std::uint64_t n = 0; Clock::now() < end; ++n) {
      handle(n);
      const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(static_cast<double>(count.calls()) / rate));
      std::this_thread::sleep_until(due < end ? due : end);
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  double seconds = 5;
  int threads = 3;
  double rate = 200;
  CLI::App app{"shmlog demo: a few threads logging like a small service"};
  app.add_option("--seconds", seconds, "How long to run")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "Worker threads")->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--rate", rate,
                 "Log calls per second per thread (DEBUG calls are records only at SHMLOG_LEVEL=debug)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  auto config = shmlog::Config::from_env();
  if (!config) {
    std::fprintf(stderr, "shmlog-demo: %s\n", config.error().message.c_str());
    return 2;
  }
  if (config->service.empty()) config->service = "shmlog-demo";
  if (auto st = shmlog::init(config.value()); !st) {
    std::fprintf(stderr, "shmlog-demo: %s\n", st.error().message.c_str());
    return 2;
  }

  const shmlog::Logger log{"orders"};
  log.info("shmlog-demo starting: {} threads, {} calls/s each, {} s", threads, rate, seconds);
  const auto end =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<Worker> workers;
  workers.reserve(static_cast<std::size_t>(threads));
  for (int i = 0; i < threads; ++i) workers.push_back(Worker{i, log, {}});
  std::vector<std::thread> running;
  for (Worker& w : workers) running.emplace_back([&w, end, rate] { w.run(end, rate); });
  for (std::thread& t : running) t.join();

  std::uint64_t records = shmlog::Logger::enabled(shmlog::Level::info) ? 2 : 0;  // start and stop lines
  for (const Worker& w : workers) records += w.count.records();
  log.info("shmlog-demo done: {} records", records);
  const bool drained = shmlog::flush(std::chrono::milliseconds(200));
  const std::string path = shmlog::ring_path();
  std::printf("shmlog-demo: %llu records from %d threads in %.1f s, sink %s%s%s, %s\n",
              static_cast<unsigned long long>(records), threads, seconds,
              std::string(shmlog::sink_name()).c_str(), path.empty() ? "" : " ", path.c_str(),
              drained ? "drained" : "not drained yet (is a consumer running?)");
  return 0;
}
