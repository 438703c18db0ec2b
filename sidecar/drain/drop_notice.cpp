#include "drain/drop_notice.hpp"

#include "drain/wall_clock.hpp"

#include <shmlog/json_line.hpp>

#include <cctype>
#include <ctime>
#include <vector>

namespace shmlog::sidecar {
namespace {

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
  rec.timestamp_ns = wall_clock_ns();
  ArgValue text;
  text.type = ring::ArgType::string;
  text.s = message;
  rec.args.push_back(text);
  rec.context = context;
  append_json_line(rec, ring, JsonOptions{}, out);
}

// A notice that counts something per level: "N DEBUG sampled, ..." in the message, and the
// same numbers in context under "<prefix><level>" (sampled_debug, dropped_info, ...).
class CountsNotice {
 public:
  explicit CountsNotice(std::string message) : message_(std::move(message)) {}

  void add(std::string key, std::uint64_t n) { counts_.emplace_back(std::move(key), n); }
  // Every non-zero level of `counts`, as "n LEVEL<suffix>" and `prefix` + the level in lower case.
  void add_levels(const std::array<std::uint64_t, kLevelCount>& counts, std::string_view prefix,
                  std::string_view suffix = {}) {
    for (int i = 0; i < kLevelCount; ++i) {
      const auto n = counts[static_cast<std::size_t>(i)];
      if (n == 0) continue;
      const std::string_view level = level_name(static_cast<Level>(i));
      message_ +=
          (listed_++ == 0 ? " " : ", ") + std::to_string(n) + " " + std::string(level) + std::string(suffix);
      std::string key(prefix);
      for (char c : level) key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
      add(std::move(key), n);
    }
  }
  void append_to(std::string& out, const RingInfo& ring) const {
    std::vector<ContextEntry> context(counts_.size());
    for (std::size_t k = 0; k < counts_.size(); ++k) {
      context[k].key = counts_[k].first;
      context[k].value.type = ring::ArgType::u64;
      context[k].value.u = counts_[k].second;
    }
    append_notice(out, ring, message_, context);
  }

 private:
  std::string message_;
  int listed_ = 0;
  std::vector<std::pair<std::string, std::uint64_t>> counts_;
};

std::uint64_t sum(const std::array<std::uint64_t, kLevelCount>& counts) {
  std::uint64_t total = 0;
  for (auto n : counts) total += n;
  return total;
}

}  // namespace

void append_drop_notice(std::string& out, const RingInfo& ring,
                        const std::array<std::uint64_t, kLevelCount>& dropped) {
  CountsNotice notice(std::to_string(sum(dropped)) + " records dropped by the app (its ring was full):");
  notice.add("dropped", sum(dropped));
  notice.add_levels(dropped, "dropped_");
  notice.append_to(out, ring);
}

void append_thinning_notice(std::string& out, const RingInfo& ring,
                            const std::array<std::uint64_t, kLevelCount>& sampled,
                            const std::array<std::uint64_t, kLevelCount>& limited) {
  CountsNotice notice(std::to_string(sum(sampled)) + " records sampled out and " +
                      std::to_string(sum(limited)) + " over the rate limit were not written:");
  notice.add_levels(sampled, "sampled_", " sampled");
  notice.add_levels(limited, "limited_", " limited");
  notice.append_to(out, ring);
}

void append_problem_notice(std::string& out, const RingInfo& ring, const std::string& text) {
  append_notice(out, ring, text, {});
}

}  // namespace shmlog::sidecar
