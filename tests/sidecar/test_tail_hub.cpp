// The live tail: its filter, and a hub that never makes the drain wait, whatever its clients do.
#include "http/tail_hub.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

using namespace shmlog;
using namespace shmlog::sidecar;
using namespace std::chrono_literals;

namespace {

using Query = std::multimap<std::string, std::string>;

std::string line(Level level, const std::string& service, const std::string& message,
                 const std::string& context = "{}") {
  return R"({"timestamp":"2026-11-21T09:31:44.890133936Z","level":")" + std::string(level_name(level)) +
         R"(","message":")" + message + R"(","service":")" + service +
         R"(","file":"app.cpp","line":7,"function":"main","context":)" + context + "}\n";
}

TailFilter filter(const Query& query) {
  auto f = TailFilter::parse(query);
  REQUIRE_MESSAGE(f.ok(), (f.ok() ? "" : f.error().message));
  return std::move(f).value();
}

std::string parse_error(const Query& query) {
  auto f = TailFilter::parse(query);
  REQUIRE_FALSE(f.ok());
  return f.error().message;
}

struct Event {
  std::string type, data;
};

std::vector<Event> events(const std::string& sse) {
  std::vector<Event> out;
  std::size_t at = 0;
  while (at < sse.size()) {
    const auto end = sse.find("\n\n", at);
    REQUIRE(end != std::string::npos);
    const std::string block = sse.substr(at, end - at);
    at = end + 2;
    Event e;
    std::size_t p = 0;
    while (p <= block.size()) {
      auto nl = block.find('\n', p);
      if (nl == std::string::npos) nl = block.size();
      const std::string field = block.substr(p, nl - p);
      if (field.rfind("event: ", 0) == 0) e.type = field.substr(7);
      if (field.rfind("data: ", 0) == 0) e.data += (e.data.empty() ? "" : "\n") + field.substr(6);
      p = nl + 1;
    }
    out.push_back(e);
  }
  return out;
}

std::unique_ptr<TailClient> subscribe(TailHub& hub, const Query& query = {}) {
  auto c = hub.subscribe(filter(query));
  REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
  return std::move(c).value();
}

// Everything the client has to send now.
std::vector<Event> take_all(TailClient& client) {
  std::vector<Event> all;
  std::string sse;
  while (client.wait_next(sse, 0ms) && !sse.empty())
    for (auto& e : events(sse)) all.push_back(std::move(e));
  return all;
}

std::uint64_t dropped_in(const std::vector<Event>& all) {
  std::uint64_t n = 0;
  for (const auto& e : all)
    if (e.type == "dropped") n += std::stoull(e.data.substr(e.data.find(':') + 1));
  return n;
}

std::vector<std::string> records_in(const std::vector<Event>& all) {
  std::vector<std::string> out;
  for (const auto& e : all)
    if (e.type == "record") out.push_back(e.data);
  return out;
}

void offer(TailHub& hub, Level level, const std::string& service, const std::string& message,
           const std::string& context = "{}") {
  if (hub.active()) hub.offer(service, level, line(level, service, message, context));
}

}  // namespace

// ---- the filter ----

TEST_CASE("a query with every parameter parses; empty values count as not given") {
  const auto f = filter({{"level", "warn"},
                         {"service", "api"},
                         {"q", "paid"},
                         {"re", "order [0-9]+"},
                         {"kv", "user=7"},
                         {"kv", "region=eu=west"}});
  CHECK(f.min_level() == Level::warning);
  CHECK(f.service() == "api");
  CHECK(f.needs_line());

  const auto blank = filter({{"level", ""}, {"service", ""}, {"q", ""}, {"re", ""}, {"kv", ""}});
  CHECK(blank.min_level() == Level::trace);
  CHECK_FALSE(blank.service().has_value());
  CHECK_FALSE(blank.needs_line());
  CHECK(filter({}).matches("any", Level::trace, "not even JSON"));
}

TEST_CASE("a bad query is an error naming what is wrong") {
  CHECK(parse_error({{"level", "loud"}}).find("level: 'loud' is not a level") == 0);
  CHECK(parse_error({{"kv", "novalue"}}).find("kv: 'novalue' is not key=value") == 0);
  CHECK(parse_error({{"kv", "=7"}}).find("kv: '=7'") == 0);
  CHECK(parse_error({{"servce", "api"}}).find("unknown parameter 'servce'") == 0);
  CHECK(parse_error({{"level", "INFO"}, {"level", "ERROR"}}) == "level: given more than once");
  const auto bad_re = parse_error({{"re", "order (["}});
  CHECK(bad_re.find("re: 'order ([' is not a valid ECMAScript regular expression") == 0);
  CHECK(parse_error({{"re", std::string(2000, 'a')}}).find("re: longer than") == 0);
#ifdef __GLIBCXX__
  CHECK(parse_error({{"re", "(a)\\1"}}) == "re: '(a)\\1' has a back-reference, which is not supported");
#endif
  Query many;
  for (int i = 0; i < 33; ++i) many.emplace("kv", "k" + std::to_string(i) + "=v");
  CHECK(parse_error(many).find("kv: at most 32") == 0);
}

TEST_CASE("level is a minimum and service an exact name") {
  const auto f = filter({{"level", "WARNING"}, {"service", "api"}});
  CHECK(f.matches("api", Level::warning, line(Level::warning, "api", "x")));
  CHECK(f.matches("api", Level::critical, line(Level::critical, "api", "x")));
  CHECK_FALSE(f.matches("api", Level::info, line(Level::info, "api", "x")));
  CHECK_FALSE(f.matches("api2", Level::error, line(Level::error, "api2", "x")));
  CHECK_FALSE(f.matches("ap", Level::error, line(Level::error, "ap", "x")));
}

TEST_CASE("q and re look at the message only, unescaped") {
  const auto q = filter({{"q", "paid \"now\""}});
  CHECK(q.matches("api", Level::info, line(Level::info, "api", R"(order 7 paid \"now\")")));
  CHECK_FALSE(q.matches("api", Level::info, line(Level::info, "api", "order 7 paid")));
  // Text in other fields (the file, the exception's message) is not the message.
  const auto in_file = filter({{"q", "app.cpp"}});
  CHECK_FALSE(in_file.matches("api", Level::info, line(Level::info, "api", "hello")));
  const auto exception = filter({{"q", "boom"}});
  const std::string with_exception =
      R"({"level":"ERROR","message":"failed","service":"api","exception":{"type":"E","message":"boom"}})";
  CHECK_FALSE(exception.matches("api", Level::error, with_exception));

  const auto re = filter({{"re", "^order [0-9]+ (paid|refunded)$"}});
  CHECK(re.matches("api", Level::info, line(Level::info, "api", "order 42 refunded")));
  CHECK_FALSE(re.matches("api", Level::info, line(Level::info, "api", "order x paid")));
  CHECK_FALSE(re.matches("api", Level::info, "not JSON"));
}

TEST_CASE("re on a long message neither crashes nor reads past its window") {
  // The default std::regex search recurses per character: `.*x` on 64 KiB overflows a stack.
  const auto f = filter({{"re", "a.*x"}});
  const std::string long_message = "a" + std::string(65536, 'b') + "x";
  CHECK_FALSE(f.matches("api", Level::info, line(Level::info, "api", long_message)));
  const std::string short_enough = "a" + std::string(100, 'b') + "x";
  CHECK(f.matches("api", Level::info, line(Level::info, "api", short_enough)));
}

TEST_CASE("kv wants a context entry holding the value, compared as text") {
  const std::string ctx = R"({"user":"ann","status":200,"ok":true,"gone":null,"ratio":0.50})";
  const auto l = line(Level::info, "api", "m", ctx);
  CHECK(filter({{"kv", "user=ann"}}).matches("api", Level::info, l));
  CHECK(filter({{"kv", "status=200"}}).matches("api", Level::info, l));
  CHECK(filter({{"kv", "ok=true"}}).matches("api", Level::info, l));
  CHECK(filter({{"kv", "gone=null"}}).matches("api", Level::info, l));
  CHECK(filter({{"kv", "ratio=0.50"}}).matches("api", Level::info, l));  // its JSON text, not 0.5
  CHECK(filter({{"kv", "user=ann"}, {"kv", "status=200"}}).matches("api", Level::info, l));
  CHECK_FALSE(filter({{"kv", "user=ann"}, {"kv", "status=404"}}).matches("api", Level::info, l));
  CHECK_FALSE(filter({{"kv", "user=an"}}).matches("api", Level::info, l));
  CHECK_FALSE(filter({{"kv", "missing=1"}}).matches("api", Level::info, l));
  // Only the context counts: top-level fields and nested values do not.
  CHECK_FALSE(filter({{"kv", "service=api"}}).matches("api", Level::info, l));
  const auto nested = line(Level::info, "api", "m", R"({"outer":{"user":"ann"}})");
  CHECK_FALSE(filter({{"kv", "user=ann"}}).matches("api", Level::info, nested));
  const auto value_with_equals = line(Level::info, "api", "m", R"({"q":"a=b"})");
  CHECK(filter({{"kv", "q=a=b"}}).matches("api", Level::info, value_with_equals));
}

// ---- the hub ----

TEST_CASE("nothing is copied while nobody tails, and a client sees only what comes after it") {
  TailHub hub;
  CHECK_FALSE(hub.active());
  hub.offer("api", Level::info, line(Level::info, "api", "before"));  // ignored: no client
  auto client = subscribe(hub);
  CHECK(hub.active());
  CHECK(hub.clients() == 1);
  offer(hub, Level::info, "api", "after");
  const auto got = records_in(take_all(*client));
  REQUIRE(got.size() == 1);
  CHECK(got[0].find("\"message\":\"after\"") != std::string::npos);
  CHECK(got[0].back() == '}');  // the newline is the event's, not the data's
}

TEST_CASE("each client gets what its level and service let through, and only that") {
  TailHub hub;
  auto all = subscribe(hub);
  auto api_warnings = subscribe(hub, {{"service", "api"}, {"level", "WARNING"}});
  auto worker = subscribe(hub, {{"service", "worker"}});
  auto paid = subscribe(hub, {{"q", "paid"}, {"kv", "n=3"}});
  int n = 0;
  for (const char* service : {"api", "worker", "db"})
    for (Level level : {Level::debug, Level::info, Level::warning, Level::error})
      offer(hub, level, service, "order paid", "{\"n\":" + std::to_string(n++) + "}");
  hub.flush_round();
  CHECK(records_in(take_all(*all)).size() == 12);
  CHECK(records_in(take_all(*api_warnings)).size() == 2);
  CHECK(records_in(take_all(*worker)).size() == 4);
  const auto three = records_in(take_all(*paid));
  REQUIRE(three.size() == 1);
  CHECK(three[0].find("\"n\":3") != std::string::npos);
  CHECK(all->dropped() == 0);
}

TEST_CASE("a slow client loses the oldest records and is told how many; a fast one gets all") {
  TailHubOptions options;
  options.ring_lines = 16;
  TailHub hub(options);
  auto fast = subscribe(hub);
  auto slow = subscribe(hub);
  auto slow_warnings = subscribe(hub, {{"level", "WARNING"}});
  std::vector<std::string> fast_got;
  for (int i = 0; i < 100; ++i) {
    offer(hub, i % 2 == 0 ? Level::info : Level::warning, "api", "m" + std::to_string(i));
    const auto got = take_all(*fast);
    CHECK(dropped_in(got) == 0);
    for (auto& r : records_in(got)) fast_got.push_back(r);
  }
  REQUIRE(fast_got.size() == 100);
  for (int i = 0; i < 100; ++i)
    CHECK(fast_got[static_cast<std::size_t>(i)].find("\"message\":\"m" + std::to_string(i) + "\"") !=
          std::string::npos);

  // The ring holds the last 16 records: the slow client lost the 84 before them, said first.
  const auto slow_got = take_all(*slow);
  REQUIRE(slow_got.size() == 17);
  CHECK(slow_got[0].type == "dropped");
  CHECK(slow_got[0].data == R"({"dropped":84})");
  CHECK(records_in(slow_got).front().find("\"message\":\"m84\"") != std::string::npos);
  CHECK(slow->dropped() == 84);

  // Counted among the records it wanted: half were WARNING, 8 of them still in the ring.
  const auto warnings = take_all(*slow_warnings);
  CHECK(dropped_in(warnings) == 42);
  CHECK(records_in(warnings).size() == 8);

  // Nothing new: nothing to send, no second dropped event.
  CHECK(take_all(*slow).empty());
}

TEST_CASE("a line bigger than the ring takes is skipped and counted as dropped") {
  TailHubOptions options;
  options.max_line_bytes = 1024;
  TailHub hub(options);
  auto client = subscribe(hub);
  offer(hub, Level::info, "api", std::string(2000, 'x'));
  offer(hub, Level::info, "api", "small");
  const auto got = take_all(*client);
  REQUIRE(got.size() == 2);
  CHECK(got[0].data == R"({"dropped":1})");
  CHECK(got[1].data.find("small") != std::string::npos);
}

TEST_CASE("the byte bound works like the line bound: overwritten lines are lost, counted") {
  TailHubOptions options;
  options.ring_bytes = 4096;
  options.max_line_bytes = 1024;
  TailHub hub(options);
  auto client = subscribe(hub);
  for (int i = 0; i < 40; ++i) offer(hub, Level::info, "api", std::string(300, 'a') + std::to_string(i));
  const auto got = take_all(*client);
  const auto records = records_in(got);
  CHECK(records.size() < 40);
  CHECK(dropped_in(got) + records.size() == 40);
  CHECK(records.back().find("a39\"") != std::string::npos);
}

TEST_CASE("the producer never waits: a million records while a client never reads") {
  TailHub hub;
  auto client = subscribe(hub);
  constexpr int kRecords = 1'000'000;
  std::thread producer([&] {
    const std::string l = line(Level::info, "api", "a record of about the usual size, order 7 paid");
    for (int i = 0; i < kRecords; ++i) {
      if (hub.active()) hub.offer("api", Level::info, l);
      if (i % 4096 == 0) hub.flush_round();
    }
    hub.flush_round();
  });
  producer.join();  // reached: the client that never read did not hold it up
  const auto got = take_all(*client);
  const auto records = records_in(got).size();
  // The oldest the ring still holds, as many as the client's budget allows: 100 at the start,
  // 1,000 more a second, never more than 1,000 in all.
  CHECK(records >= 100);
  CHECK(records <= 1000);
  CHECK(dropped_in(got) + records == kRecords);
}

TEST_CASE("a client looks at 1,000 records a second at most; the rest are skipped and counted") {
  TailHub hub;
  auto client = subscribe(hub);
  const std::string l = line(Level::info, "api", "x");
  std::uint64_t records = 0, dropped = 0, offered = 0;
  std::string sse;
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1500)) {
    for (int i = 0; i < 2000; ++i, ++offered) hub.offer("api", Level::info, l);
    hub.flush_round();
    while (client->wait_next(sse, std::chrono::milliseconds(0)) && !sse.empty()) {
      const auto got = events(sse);
      records += records_in(got).size();
      dropped += dropped_in(got);
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto rest = take_all(*client);
  records += records_in(rest).size();
  dropped += dropped_in(rest);
  CHECK(records + dropped == offered);
  CHECK(records <= static_cast<std::uint64_t>(100 + 1000 * seconds) + 1);  // a start of 100, then 1,000/s
  CHECK(records >= 1000);
  MESSAGE(records << " records and " << dropped << " dropped of " << offered << " in " << seconds << " s");
}

TEST_CASE("eight clients at most; leaving frees a place") {
  TailHub hub;
  std::vector<std::unique_ptr<TailClient>> clients;
  for (std::size_t i = 0; i < TailHub::kMaxClients; ++i) clients.push_back(subscribe(hub));
  auto ninth = hub.subscribe(filter({}));
  REQUIRE_FALSE(ninth.ok());
  CHECK(ninth.error().message == "8 live-tail clients already, the most at once; try again later");
  CHECK(hub.clients() == 8);

  clients.erase(clients.begin() + 3);
  CHECK(hub.clients() == 7);
  auto again = subscribe(hub, {{"level", "ERROR"}});
  // The new client in the freed place counts from its own start, with its own filter.
  offer(hub, Level::info, "api", "info");
  offer(hub, Level::error, "api", "error");
  const auto got = take_all(*again);
  CHECK(dropped_in(got) == 0);
  REQUIRE(records_in(got).size() == 1);
  CHECK(records_in(got)[0].find("\"message\":\"error\"") != std::string::npos);

  clients.clear();
  again.reset();
  CHECK(hub.clients() == 0);
  CHECK_FALSE(hub.active());
}

TEST_CASE("a waiting client wakes for a record, and ends when the hub closes") {
  TailHub hub;
  auto client = subscribe(hub);
  std::string sse;
  CHECK(client->wait_next(sse, 10ms));  // nothing came: true, empty
  CHECK(sse.empty());

  auto waiting = std::async(std::launch::async, [&] {
    std::string out;
    const bool more = client->wait_next(out, 60s);
    return std::make_pair(more, out);
  });
  std::this_thread::sleep_for(20ms);
  offer(hub, Level::info, "api", "wake up");
  hub.flush_round();
  REQUIRE(waiting.wait_for(10s) == std::future_status::ready);
  const auto woken = waiting.get();
  CHECK(woken.first);
  CHECK(woken.second.find("wake up") != std::string::npos);

  auto ending = std::async(std::launch::async, [&] {
    std::string out;
    return client->wait_next(out, 60s);
  });
  std::this_thread::sleep_for(20ms);
  hub.close();
  REQUIRE(ending.wait_for(10s) == std::future_status::ready);
  CHECK_FALSE(ending.get());
  CHECK_FALSE(client->wait_next(sse, 0ms));
  auto late = hub.subscribe(filter({}));
  REQUIRE_FALSE(late.ok());
  CHECK(late.error().message == "the sidecar is stopping");
}

TEST_CASE("a raw line break in a line cannot split the event") {
  TailHub hub;
  auto client = subscribe(hub);
  hub.offer("api", Level::info, "{\"message\":\"a\nevent: forged\r\ndata: x\"}\n");
  std::string sse;
  REQUIRE(client->wait_next(sse, 0ms));
  const auto got = events(sse);
  REQUIRE(got.size() == 1);
  CHECK(got[0].type == "record");
}

TEST_CASE("clients may outlive the hub") {
  std::unique_ptr<TailClient> client;
  {
    TailHub hub;
    client = subscribe(hub);
  }
  std::string sse;
  CHECK_FALSE(client->wait_next(sse, 0ms));
  client.reset();
}

TEST_CASE("several clients and a producer at once: every record is delivered or counted") {
  TailHubOptions options;
  options.ring_lines = 256;  // small, so the readers are lapped now and then
  TailHub hub(options);
  struct Reader {
    Query query;
    bool (*wanted)(int i);
    std::unique_ptr<TailClient> client;
    std::vector<int> got;
    std::uint64_t dropped = 0;
  };
  std::vector<Reader> readers;
  readers.push_back({{}, [](int) { return true; }, {}, {}, 0});
  readers.push_back({{{"level", "ERROR"}}, [](int i) { return i % 4 == 3; }, {}, {}, 0});
  readers.push_back({{{"service", "db"}}, [](int i) { return i % 3 == 0; }, {}, {}, 0});
  readers.push_back(
      {{{"service", "db"}, {"level", "WARNING"}}, [](int i) { return i % 3 == 0 && i % 4 >= 2; }, {}, {}, 0});
  for (auto& r : readers) r.client = subscribe(hub, r.query);

  constexpr int kRecords = 200'000;
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (auto& reader : readers) {
    threads.emplace_back([&r = reader, &done] {
      std::string sse;
      int idle_after_done = 0;
      while (r.client->wait_next(sse, 5ms)) {
        if (sse.empty()) {
          if (done.load() && ++idle_after_done > 2) break;
          continue;
        }
        for (const auto& e : events(sse)) {
          if (e.type == "dropped") r.dropped += std::stoull(e.data.substr(e.data.find(':') + 1));
          if (e.type != "record") continue;
          const auto at = e.data.find("\"message\":\"") + 11;
          r.got.push_back(std::stoi(e.data.substr(at)));
        }
      }
    });
  }
  const Level levels[] = {Level::debug, Level::info, Level::warning, Level::error};
  const char* services[] = {"db", "api", "worker"};
  for (int i = 0; i < kRecords; ++i) {
    const Level level = levels[i % 4];
    const char* service = services[i % 3];
    if (hub.active()) hub.offer(service, level, line(level, service, std::to_string(i)));
    if (i % 1000 == 999) hub.flush_round();
  }
  hub.flush_round();
  done.store(true);
  for (auto& t : threads) t.join();

  for (auto& r : readers) {
    int expected = 0;
    for (int i = 0; i < kRecords; ++i) expected += r.wanted(i);
    CAPTURE(r.query.size());
    CHECK(r.got.size() + r.dropped == static_cast<std::uint64_t>(expected));
    CHECK(r.dropped == r.client->dropped());
    bool in_order = true, all_wanted = true;
    for (std::size_t j = 0; j < r.got.size(); ++j) {
      in_order = in_order && (j == 0 || r.got[j] > r.got[j - 1]);
      all_wanted = all_wanted && r.wanted(r.got[j]);
    }
    CHECK(in_order);
    CHECK(all_wanted);
  }
}
