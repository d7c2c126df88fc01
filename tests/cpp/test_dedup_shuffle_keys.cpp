// Keys of deduplication across machines (dedup/shuffle_keys.h) against the single-machine kernels:
// exact_keys' hash is exact_hashes', and band keys -> buckets (split over partitions) -> Jaccard
// give the verified pairs of MinHashIndex::self_pairs.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/errors.h"
#include "dedup/exact.h"
#include "dedup/lsh_index.h"
#include "dedup/shuffle_keys.h"

using namespace airtune::dedup;

namespace {

std::vector<std::string> corpus(int docs, int words, double edit, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> vocab(0, 5000);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<std::string> out;
  for (int d = 0; d < docs; ++d) {
    std::vector<int> w(words);
    for (auto& x : w) x = vocab(rng);
    for (int v = 0; v < 3; ++v) {
      std::string s;
      for (int x : w) s += "w" + std::to_string(u(rng) < edit * v ? vocab(rng) : x) + " ";
      out.push_back(s);
    }
  }
  return out;
}

}  // namespace

TEST(DedupShuffleKeys, ExactKeysAreTheExactHashes) {
  std::vector<std::string_view> v = {"Hello  World", "hello world", "HELLO world!", ""};
  airtune::core::NormalizeOptions o;
  const auto k = exact_keys(v, o);
  EXPECT_EQ(k.hash, exact_hashes(v, o));
  EXPECT_EQ(k.hash[0], k.hash[1]);
  EXPECT_EQ(k.check[0], k.check[1]);
  EXPECT_NE(k.hash[0], k.check[0]);  // a second, independent hash
  EXPECT_NE(k.hash[1], k.hash[2]);
}

TEST(DedupShuffleKeys, PartitionedBucketsGiveTheSelfPairs) {
  const auto docs = corpus(50, 60, 0.1, 3);
  std::vector<std::string_view> v(docs.begin(), docs.end());
  MinHashOptions o;
  o.ngram = 3;
  const auto br = choose_bands_rows(0.5, o.num_perm, 0.1, 0.9);
  const int bands = br.bands, rows = br.rows;
  MinHashIndex idx(o, bands, rows);
  idx.add(v);
  const auto want = idx.self_pairs(0.5, true);
  const auto k = minhash_keys(v, o, bands, rows);
  ASSERT_EQ(k.band_keys.size(), v.size() * bands);
  for (int b = 0; b < bands; ++b)  // the keys MinHashIndex buckets on
    EXPECT_EQ(k.band_keys[b], band_key(idx.signatures().row(0), b, rows));
  // two partitions by key, as the shuffle routes them; pairs of both, verified by Jaccard
  std::set<std::pair<int64_t, int64_t>> got;
  for (int part = 0; part < 2; ++part) {
    std::vector<int32_t> band;
    std::vector<uint64_t> key;
    std::vector<int64_t> row;
    for (size_t i = 0; i < v.size(); ++i)
      for (int b = 0; b < bands; ++b)
        if (static_cast<int>(k.band_keys[i * bands + b] % 2) == part) {
          band.push_back(b);
          key.push_back(k.band_keys[i * bands + b]);
          row.push_back(static_cast<int64_t>(i));
        }
    const auto p = bucket_pairs(band, key, row, 256);
    std::vector<uint64_t> ad, bd;
    std::vector<int64_t> ao{0}, bo{0};
    for (size_t j = 0; j < p.a.size(); ++j) {
      for (int64_t r : {p.a[j], p.b[j]}) {
        auto& d = r == p.a[j] ? ad : bd;
        auto& off = r == p.a[j] ? ao : bo;
        for (int64_t s = k.shingle_offsets[r]; s < k.shingle_offsets[r + 1]; ++s) d.push_back(k.shingle_data[s]);
        off.push_back(static_cast<int64_t>(d.size()));
      }
    }
    const auto sim = jaccard_rows(ad, ao, bd, bo);
    for (size_t j = 0; j < p.a.size(); ++j)
      if (sim[j] >= 0.5) got.insert({p.a[j], p.b[j]});
  }
  std::set<std::pair<int64_t, int64_t>> expect;
  for (size_t j = 0; j < want.a.size(); ++j) expect.insert({want.a[j], want.b[j]});
  EXPECT_GT(expect.size(), 40u);
  EXPECT_EQ(got, expect);
}

TEST(DedupShuffleKeys, LargeBucketsAreAStarAndAChain) {
  std::vector<int32_t> band(300, 0);
  std::vector<uint64_t> key(300, 42);
  std::vector<int64_t> row(300);
  for (int i = 0; i < 300; ++i) row[i] = 1000 - i;  // any order: sorted inside
  const auto p = bucket_pairs(band, key, row, 256);
  EXPECT_EQ(p.capped_buckets, 1);
  EXPECT_EQ(p.a.size(), 299u + 298u);  // star from the first row, chain through the others
  EXPECT_EQ(p.a.front(), 701);
  EXPECT_THROW(bucket_pairs(band, key, std::vector<int64_t>(3), 256), airtune::InvalidArgument);
  std::vector<uint64_t> d = {1, 2};
  std::vector<int64_t> bad = {0, 3};
  EXPECT_THROW(jaccard_rows(d, bad, d, bad), airtune::InvalidArgument);
}
