// sort_by_uniform_key against std::stable_sort: equal keys keep their order, crowded keys take the
// fallback, scratch buffers carry nothing between calls.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "core/hash.h"
#include "core/uniform_sort.h"

namespace {

using Item = std::pair<uint64_t, uint32_t>;  // (key, original position)

std::vector<Item> reference(std::vector<Item> v) {
  std::stable_sort(v.begin(), v.end(), [](const Item& a, const Item& b) { return a.first < b.first; });
  return v;
}

void expect_same_as_stable_sort(std::vector<Item> v) {
  const std::vector<Item> want = reference(v);
  std::vector<Item> tmp;
  std::vector<uint32_t> counts;
  airtune::core::sort_by_uniform_key(v, tmp, counts, [](const Item& x) { return x.first; });
  EXPECT_EQ(v, want);
}

TEST(CoreUniformSort, HashKeysWithRepeatsMatchStableSort) {
  for (const size_t n : {0, 1, 2, 63, 64, 65, 1000, 20000}) {
    std::vector<Item> v;
    for (size_t i = 0; i < n; ++i) v.emplace_back(airtune::core::mix64(i % (n / 3 + 1)), static_cast<uint32_t>(i));
    expect_same_as_stable_sort(v);  // every key about three times: the order of equal keys is kept
  }
}

TEST(CoreUniformSort, CrowdedKeysFallBackAndStayStable) {
  // Keys sharing their top bits (one bucket, the insertion budget runs out) and keys in reverse.
  std::mt19937_64 rng(7);
  std::vector<Item> crowded, reversed;
  for (uint32_t i = 0; i < 5000; ++i) {
    crowded.emplace_back(rng() % 97, i);
    reversed.emplace_back(~uint64_t{0} - (uint64_t{i} << 40), i);
  }
  expect_same_as_stable_sort(crowded);
  expect_same_as_stable_sort(reversed);
}

TEST(CoreUniformSort, ScratchBuffersAreReusable) {
  std::vector<uint64_t> tmp;
  std::vector<uint32_t> counts;
  for (size_t n : {5000, 100, 70000}) {
    std::vector<uint64_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = airtune::core::mix64(i + n);
    std::vector<uint64_t> want = v;
    std::sort(want.begin(), want.end());
    airtune::core::sort_by_uniform_key(v, tmp, counts, [](uint64_t x) { return x; });
    EXPECT_EQ(v, want) << n;
  }
}

}  // namespace
