#include "drain/drop_notice.hpp"

#include <shmlog/json_line.hpp>

#include <cctype>
#include <ctime>
#include <vector>

namespace shmlog::sidecar {
namespace {

std::uint64_t realtime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

void append_notice(std::string& out, const RingInfo& ring, const std::string& message,
                   const std::vector<ContextEntry>& context) {
  SiteInfo site;
  site.file = "shmlog-sidecar";
  site.function = "drain";
  site.format = "{}";
  site.level = Level::warning;
  RecordView rec;
  rec.site = &site;
  rec.level = Level::warning;
  rec.timestamp_ns = realtime_ns();
  ArgValue text;
  text.type = ring::ArgType::string;
  text.s = message;
  rec.args.push_back(text);
  rec.context = context;
  append_json_line(rec, ring, JsonOptions{}, out);
}

}  // namespace

void append_drop_notice(std::string& out, const RingInfo& ring,
                        const std::array<std::uint64_t, kLevelCount>& dropped) {
  std::uint64_t total = 0;
  for (auto n : dropped) total += n;
  std::string message = std::to_string(total) + " records dropped by the app (its ring was full):";
  std::vector<std::string> keys;
  keys.reserve(kLevelCount);
  std::vector<ContextEntry> context;
  ContextEntry all;
  all.key = "dropped";
  all.value.type = ring::ArgType::u64;
  all.value.u = total;
  context.push_back(all);
  const char* sep = " ";
  for (int i = 0; i < kLevelCount; ++i) {
    const auto n = dropped[static_cast<std::size_t>(i)];
    if (n == 0) continue;
    const std::string_view level = level_name(static_cast<Level>(i));
    message += sep + std::to_string(n) + " " + std::string(level);
    sep = ", ";
    std::string key = "dropped_";
    for (char c : level) key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    keys.push_back(std::move(key));
  }
  std::size_t k = 0;
  for (int i = 0; i < kLevelCount; ++i) {
    const auto n = dropped[static_cast<std::size_t>(i)];
    if (n == 0) continue;
    ContextEntry e;
    e.key = keys[k++];
    e.value.type = ring::ArgType::u64;
    e.value.u = n;
    context.push_back(e);
  }
  append_notice(out, ring, message, context);
}

void append_thinning_notice(std::string& out, const RingInfo& ring,
                            const std::array<std::uint64_t, kLevelCount>& sampled,
                            const std::array<std::uint64_t, kLevelCount>& limited) {
  std::uint64_t total_sampled = 0, total_limited = 0;
  for (int i = 0; i < kLevelCount; ++i) {
    total_sampled += sampled[static_cast<std::size_t>(i)];
    total_limited += limited[static_cast<std::size_t>(i)];
  }
  std::string message = std::to_string(total_sampled) + " records sampled out and " +
                        std::to_string(total_limited) + " over the rate limit were not written:";
  std::vector<std::string> keys;
  std::vector<std::uint64_t> values;
  const char* sep = " ";
  for (int i = 0; i < kLevelCount; ++i) {
    const std::string_view level = level_name(static_cast<Level>(i));
    std::string lower;
    for (char c : level) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    for (const auto& [what, counts] : {std::pair{"sampled_", &sampled}, std::pair{"limited_", &limited}}) {
      const auto n = (*counts)[static_cast<std::size_t>(i)];
      if (n == 0) continue;
      message += sep + std::to_string(n) + " " + std::string(level) + " " + std::string(what).substr(0, 7);
      sep = ", ";
      keys.push_back(what + lower);
      values.push_back(n);
    }
  }
  std::vector<ContextEntry> context;
  for (std::size_t k = 0; k < keys.size(); ++k) {
    ContextEntry e;
    e.key = keys[k];
    e.value.type = ring::ArgType::u64;
    e.value.u = values[k];
    context.push_back(e);
  }
  append_notice(out, ring, message, context);
}

void append_problem_notice(std::string& out, const RingInfo& ring, const std::string& text) {
  append_notice(out, ring, text, {});
}

}  // namespace shmlog::sidecar
