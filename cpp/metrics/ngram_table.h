// Small open-addressing hash tables reused per item: token interning (string -> dense id) and
// n-gram counting on exact packed keys (no hash collisions change a count: keys are compared whole).
//
// Both keep the list of used slots so that reset() costs O(used), not O(capacity).
// Thread safety: one instance per thread/task.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "metrics/ngram.h"

namespace airtune::metrics {

inline uint64_t hash_bytes(std::string_view s) noexcept {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ s.size();
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
  }
  uint64_t tail = 0;
  if (i < s.size()) std::memcpy(&tail, s.data() + i, s.size() - i);
  h = (h ^ tail) * 0x94D049BB133111EBull;
  return h ^ (h >> 31);
}

inline uint64_t hash_key(NgramKey k) noexcept {
  uint64_t lo = static_cast<uint64_t>(k), hi = static_cast<uint64_t>(k >> 64);
  uint64_t h = (lo ^ (hi * 0x9E3779B97F4A7C15ull)) * 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 32);
}

inline uint64_t hash_key(uint64_t k) noexcept {
  uint64_t h = k * 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 32);
}

inline size_t capacity_for(size_t expected) noexcept {
  size_t cap = 16;
  while (cap < 2 * expected + 2) cap <<= 1;
  return cap;
}

/// Dense ids for distinct strings, in order of first appearance. Views must outlive the interner's use.
class TokenInterner {
 public:
  void reset(size_t expected) {
    const size_t cap = capacity_for(expected);
    if (slots_.size() < cap) {
      slots_.assign(cap, Slot{});
    } else {
      for (uint32_t s : used_) slots_[s].id = kEmpty;
    }
    mask_ = slots_.size() - 1;
    used_.clear();
  }

  uint32_t id(std::string_view s) {
    if (2 * (used_.size() + 1) > slots_.size()) grow();
    const uint64_t h = hash_bytes(s);
    size_t i = h & mask_;
    while (slots_[i].id != kEmpty) {
      if (slots_[i].hash == h && slots_[i].text == s) return slots_[i].id;
      i = (i + 1) & mask_;
    }
    slots_[i] = Slot{h, s, static_cast<uint32_t>(used_.size())};
    used_.push_back(static_cast<uint32_t>(i));
    return slots_[i].id;
  }

  uint32_t size() const noexcept { return static_cast<uint32_t>(used_.size()); }

 private:
  static constexpr uint32_t kEmpty = 0xFFFFFFFFu;
  struct Slot {
    uint64_t hash = 0;
    std::string_view text;
    uint32_t id = kEmpty;
  };

  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    std::vector<uint32_t> old_used;
    old_used.swap(used_);
    slots_.assign(old.size() * 2, Slot{});
    mask_ = slots_.size() - 1;
    used_.resize(old_used.size());
    for (uint32_t s : old_used) {
      const Slot& o = old[s];
      size_t i = o.hash & mask_;
      while (slots_[i].id != kEmpty) i = (i + 1) & mask_;
      slots_[i] = o;
      used_[o.id] = static_cast<uint32_t>(i);
    }
  }

  std::vector<Slot> slots_;
  std::vector<uint32_t> used_;
  size_t mask_ = 0;
};

/// Counts of n-grams of one side (h), with a second counter (tmp) and a running max (r) for the
/// other side, on exact packed keys (uint64_t when n * bits <= 64, else 128 bits).
template <typename Key>
class NgramTableT {
 public:
  struct Entry {
    Key key;
    uint32_t h;
    uint32_t r;
    uint32_t tmp;
    uint32_t used;
  };

  void reset(size_t expected) {
    const size_t cap = capacity_for(expected);
    if (slots_.size() < cap) {
      slots_.assign(cap, Entry{0, 0, 0, 0, 0});
    } else {
      for (uint32_t s : used_) slots_[s].used = 0;
    }
    mask_ = slots_.size() - 1;
    used_.clear();
  }

  /// Adds one occurrence of `k` to h (inserting it). Capacity is fixed by reset(expected): callers
  /// insert at most `expected` distinct keys.
  void add(Key k) {
    size_t i = hash_key(k) & mask_;
    while (slots_[i].used) {
      if (slots_[i].key == k) {
        ++slots_[i].h;
        return;
      }
      i = (i + 1) & mask_;
    }
    slots_[i] = Entry{k, 1, 0, 0, 1};
    used_.push_back(static_cast<uint32_t>(i));
  }

  /// The entry of `k`, or nullptr.
  Entry* find(Key k) {
    size_t i = hash_key(k) & mask_;
    while (slots_[i].used) {
      if (slots_[i].key == k) return &slots_[i];
      i = (i + 1) & mask_;
    }
    return nullptr;
  }

  /// Sum over entries of min(h, tmp), then tmp folded into r as max and reset to 0.
  uint64_t clip_tmp_and_fold() {
    uint64_t m = 0;
    for (uint32_t s : used_) {
      Entry& e = slots_[s];
      m += e.h < e.tmp ? e.h : e.tmp;
      if (e.tmp > e.r) e.r = e.tmp;
      e.tmp = 0;
    }
    return m;
  }

  /// Sum over entries of min(h, r).
  uint64_t clip_r() const {
    uint64_t m = 0;
    for (uint32_t s : used_) m += slots_[s].h < slots_[s].r ? slots_[s].h : slots_[s].r;
    return m;
  }

 private:
  std::vector<Entry> slots_;
  std::vector<uint32_t> used_;
  size_t mask_ = 0;
};

using NgramTable = NgramTableT<NgramKey>;
using NgramTable64 = NgramTableT<uint64_t>;

/// Both widths, so that callers pick the narrow one when n * bits <= 64.
struct NgramTables {
  NgramTable64 narrow;
  NgramTable wide;
};

/// Packs the n ids starting at ids[i] (each < 2^bits).
template <typename Key>
inline Key pack_ngram(const uint32_t* ids, size_t i, int n, int bits) noexcept {
  Key k = 0;
  for (int j = 0; j < n; ++j) k = (k << bits) | ids[i + static_cast<size_t>(j)];
  return k;
}

/// Counts the n-grams of ids[0..len) into `t` (h counts).
template <typename Key>
inline void table_count(NgramTableT<Key>& t, const uint32_t* ids, size_t len, int n, int bits) {
  const size_t order = static_cast<size_t>(n);
  t.reset(len >= order ? len - order + 1 : 0);
  for (size_t i = 0; i + order <= len; ++i) t.add(pack_ngram<Key>(ids, i, n, bits));
}

/// Counts the n-grams of ids[0..len) found in `t` into their tmp counters.
template <typename Key>
inline void table_probe(NgramTableT<Key>& t, const uint32_t* ids, size_t len, int n, int bits) {
  const size_t order = static_cast<size_t>(n);
  for (size_t i = 0; i + order <= len; ++i) {
    if (auto* e = t.find(pack_ngram<Key>(ids, i, n, bits))) ++e->tmp;
  }
}

}  // namespace airtune::metrics
