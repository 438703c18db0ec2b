// The keys of a stream's recent entries, in fixed memory and with no allocation per key: what
// the count-only mode dedups against when millions of entries go by.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace shmlog::loki {

// Two open-addressing tables: the newer takes inserts, both answer lookups. When the newer holds
// `window` keys the older is wiped and they trade places, so a key is remembered for at least
// `window` and at most 2 * `window` later inserts. Tables grow lazily up to twice `window`
// slots, so a quiet stream stays small.
class RecentKeys {
 public:
  explicit RecentKeys(std::size_t window) : window_(std::max<std::size_t>(window, 1)) {}

  bool contains(std::uint64_t key) const {
    key = nonzero(key);
    return tables_[0].contains(key) || tables_[1].contains(key);
  }

  void insert(std::uint64_t key) {
    key = nonzero(key);
    if (tables_[current_].count >= window_) {
      current_ ^= 1;
      tables_[current_].clear();
    }
    tables_[current_].insert(key);
  }

 private:
  static std::uint64_t nonzero(std::uint64_t key) { return key == 0 ? 1 : key; }  // 0: empty slot

  struct Table {
    std::vector<std::uint64_t> slots;  // a power of two in size, at most half full
    std::size_t count = 0;

    bool contains(std::uint64_t key) const {
      if (slots.empty()) return false;
      const std::size_t mask = slots.size() - 1;
      for (std::size_t i = key & mask;; i = (i + 1) & mask) {
        if (slots[i] == key) return true;
        if (slots[i] == 0) return false;
      }
    }
    void insert(std::uint64_t key) {
      if ((count + 1) * 2 > slots.size()) grow();
      place(key);
      ++count;
    }
    void place(std::uint64_t key) {
      const std::size_t mask = slots.size() - 1;
      std::size_t i = key & mask;
      while (slots[i] != 0) i = (i + 1) & mask;
      slots[i] = key;
    }
    void grow() {
      std::vector<std::uint64_t> old = std::move(slots);
      slots.assign(std::max<std::size_t>(64, old.size() * 2), 0);
      for (std::uint64_t k : old) {
        if (k != 0) place(k);
      }
    }
    void clear() {  // keeps the memory: a full table is reused, not reallocated
      std::fill(slots.begin(), slots.end(), 0);
      count = 0;
    }
  };

  std::size_t window_;
  Table tables_[2];
  int current_ = 0;
};

}  // namespace shmlog::loki
