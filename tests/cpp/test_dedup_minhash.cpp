// MinHash shingles, estimates, bands/rows (datasketch's choices), LSH pairs vs brute force,
// index save/load and corrupt files, determinism across thread counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/hash.h"
#include "core/threading.h"
#include "dedup/lsh_index.h"
#include "dedup/minhash.h"
#include "dedup_test_util.h"

using namespace airtune::dedup;
using airtune::test::near_copies_corpus;

namespace {

std::vector<std::string_view> views(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

}  // namespace

TEST(DedupMinhash, WordAndCharShingles) {
  MinHashOptions o;
  o.ngram = 2;
  EXPECT_EQ(shingles("The cat, the hat!", o), (std::vector<std::string>{"the cat", "cat the", "the hat"}));
  EXPECT_EQ(shingles("one", o), (std::vector<std::string>{"one"}));
  EXPECT_TRUE(shingles("", o).empty());
  o.char_ngrams = true;
  o.ngram = 3;
  EXPECT_EQ(shingles("h\xC3\xA9llo", o), (std::vector<std::string>{"h\xC3\xA9l", "\xC3\xA9ll", "llo"}));
  EXPECT_EQ(shingle_hashes("abc abc", o).size(), 4u);  // "abc","bc ","c a"," ab" ("abc" twice)
}

TEST(DedupMinhash, JaccardAndEstimate) {
  std::vector<uint64_t> a = {1, 2, 3, 4}, b = {3, 4, 5, 6};
  EXPECT_DOUBLE_EQ(jaccard(a, b), 2.0 / 6.0);
  EXPECT_DOUBLE_EQ(jaccard({}, {}), 0.0);
  MinHashOptions o;
  o.num_perm = 1024;
  std::vector<uint64_t> x, y;
  for (uint64_t i = 0; i < 600; ++i) x.push_back(i * 7919);
  for (uint64_t i = 200; i < 800; ++i) y.push_back(i * 7919);
  std::vector<uint64_t> sx(1024), sy(1024);
  signature_of(x, o, sx.data());
  signature_of(y, o, sy.data());
  const double truth = 400.0 / 800.0;
  const double se = std::sqrt(truth * (1 - truth) / 1024);
  EXPECT_NEAR(estimated_jaccard(sx.data(), sy.data(), 1024), truth, 4 * se);
}

// jaccard() counts every common value whatever the sizes and overlaps (the vector kernel compares
// blocks of eight and merges the tails): against std::set_intersection on random sorted sets.
TEST(DedupMinhash, JaccardCountsEveryCommonValue) {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 3000; ++trial) {
    const size_t na = rng() % 70, nb = rng() % 70, universe = 1 + rng() % 200;
    std::set<uint64_t> sa, sb;
    while (sa.size() < std::min<size_t>(na, universe)) sa.insert(rng() % universe);
    while (sb.size() < std::min<size_t>(nb, universe)) sb.insert(rng() % universe);
    const std::vector<uint64_t> a(sa.begin(), sa.end()), b(sb.begin(), sb.end());
    std::vector<uint64_t> common;
    std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(common));
    const double want = a.empty() && b.empty() ? 0.0
                                               : static_cast<double>(common.size()) /
                                                     static_cast<double>(a.size() + b.size() - common.size());
    ASSERT_EQ(jaccard(a, b), want) << "sizes " << a.size() << " " << b.size() << " universe " << universe;
    ASSERT_EQ(jaccard(b, a), want);
  }
}

TEST(DedupMinhash, BandsRowsMatchDatasketch) {
  // datasketch.lsh._optimal_param(threshold, num_perm, 0.5, 0.5) / (0.1, 0.9), datasketch 1.9.x.
  EXPECT_EQ(choose_bands_rows(0.5, 128).bands, 25);
  EXPECT_EQ(choose_bands_rows(0.8, 128).bands, 9);
  EXPECT_EQ(choose_bands_rows(0.8, 128).rows, 13);
  EXPECT_EQ(choose_bands_rows(0.9, 128).rows, 25);
  EXPECT_EQ(choose_bands_rows(0.7, 256).bands, 25);
  EXPECT_EQ(choose_bands_rows(0.8, 128, 0.1, 0.9).bands, 14);
  EXPECT_EQ(choose_bands_rows(0.85, 64, 0.1, 0.9).rows, 9);
  EXPECT_NEAR(candidate_probability(0.8, 9, 13), 1 - std::pow(1 - std::pow(0.8, 13), 9), 1e-15);
  EXPECT_THROW(choose_bands_rows(1.0, 128), airtune::InvalidArgument);
}

TEST(DedupMinhash, LshPairsAreVerifiedAndMatchBruteForce) {
  auto docs = near_copies_corpus(60, 80, 0.08, 7);
  auto v = views(docs);
  MinHashOptions o;
  o.ngram = 3;
  const auto br = choose_bands_rows(0.5, o.num_perm, 0.1, 0.9);
  MinHashIndex idx(o, br.bands, br.rows);
  idx.add(v);
  auto p = idx.self_pairs(0.5, true);
  std::set<std::pair<int64_t, int64_t>> got;
  for (size_t i = 0; i < p.a.size(); ++i) {
    EXPECT_LT(p.a[i], p.b[i]);
    EXPECT_DOUBLE_EQ(p.similarity[i],
                     jaccard(idx.signatures().shingle_set(p.a[i]), idx.signatures().shingle_set(p.b[i])));
    got.insert({p.a[i], p.b[i]});
  }
  // Brute force truth: every pair with exact Jaccard >= 0.5.
  size_t truth = 0, found = 0;
  for (size_t i = 0; i < v.size(); ++i)
    for (size_t j = i + 1; j < v.size(); ++j)
      if (jaccard(idx.signatures().shingle_set(i), idx.signatures().shingle_set(j)) >= 0.5) {
        ++truth;
        found += got.count({int64_t(i), int64_t(j)});
      }
  EXPECT_EQ(got.size(), found);  // precision 1
  EXPECT_GE(double(found), 0.9 * double(truth));
  EXPECT_GT(truth, 60u);
}

// An index without its shingle sets verifies from the texts (only rows that can meet another row are
// shingled again), and pairs_within() without any signatures held, and both find exactly what the
// index with every set finds: near copies, exact copies (collapsed groups), rows whose whole
// signatures agree while their sets differ, empty texts.
TEST(DedupMinhash, VerifyingFromTextsEqualsStoredSets) {
  auto docs = near_copies_corpus(40, 60, 0.05, 21);
  for (int c = 0; c < 6; ++c) docs.push_back(docs[3]);  // a group of exact copies
  std::string longer;
  for (int w = 0; w < 400; ++w) {
    longer += 'w';
    longer += std::to_string(w * 7919 % 1000);
    longer += ' ';
  }
  MinHashOptions o;
  o.ngram = 3;
  o.num_perm = 16;
  // One more word (Jaccard 398/399) whose shingle is no permutation's minimum: equal signatures.
  std::string tail;
  for (int k = 0; k < 50 && tail.empty(); ++k) {
    std::string more = longer;
    more += 't';
    more += std::to_string(k);
    const std::vector<std::string_view> two{longer, more};
    const auto s2 = signatures(two, o, false);
    if (std::equal(s2.row(0), s2.row(0) + 16, s2.row(1))) tail = more.substr(longer.size());
  }
  docs.push_back(longer);
  docs.push_back(longer + tail);
  docs.push_back("");
  docs.push_back("");
  auto v = views(docs);
  MinHashIndex with(o, 8, 2, /*keep_shingles=*/true), without(o, 8, 2, /*keep_shingles=*/false);
  with.add(v);
  without.add(v);
  const size_t l = v.size() - 4;  // the long pair: equal signatures, different sets
  ASSERT_TRUE(std::equal(with.signatures().row(l), with.signatures().row(l) + 16, with.signatures().row(l + 1)));
  ASSERT_NE(with.signatures().shingle_set(l).size(), with.signatures().shingle_set(l + 1).size());
  EXPECT_THROW(without.self_pairs(0.5, true), airtune::InvalidArgument);
  EXPECT_THROW(without.self_pairs(0.5, true, 256, std::span(v).subspan(1)), airtune::InvalidArgument);
  for (double t : {0.3, 0.8, 1.0})
    for (int64_t cap : {2, 256}) {
      const auto a = with.self_pairs(t, true, cap);
      // pairs_within() holds no signatures; called on a filled index, its rows take no part
      for (const auto& b : {without.self_pairs(t, true, cap, v), with.pairs_within(v, t, cap)}) {
        EXPECT_EQ(a.a, b.a) << t << " " << cap;
        EXPECT_EQ(a.b, b.b);
        EXPECT_EQ(a.similarity, b.similarity);
        EXPECT_EQ(a.candidates, b.candidates);
        EXPECT_EQ(a.capped_buckets, b.capped_buckets);
      }
      if (t == 0.3 && cap == 256) {
        EXPECT_GT(a.a.size(), 40u);
      }
    }
  // shingle_sets: the wanted rows' sets as signatures() keeps them, the others empty.
  std::vector<uint8_t> wanted(v.size(), 0);
  for (size_t i = 0; i < v.size(); i += 3) wanted[i] = 1;
  const auto sets = shingle_sets(v, wanted, o);
  for (size_t i = 0; i < v.size(); ++i) {
    const auto got = sets.shingle_set(i);
    const auto want = with.signatures().shingle_set(i);
    if (wanted[i])
      EXPECT_TRUE(std::equal(got.begin(), got.end(), want.begin(), want.end())) << "row " << i;
    else
      EXPECT_TRUE(got.empty()) << "row " << i;
  }
  EXPECT_THROW(shingle_sets(v, std::span(wanted).subspan(1), o), airtune::InvalidArgument);
}

TEST(DedupMinhash, IdenticalCopiesCollapseLinearly) {
  std::vector<std::string_view> v(5000, "the same document over and over again here");
  MinHashIndex idx(MinHashOptions{}, 16, 8);
  idx.add(v);
  auto p = idx.self_pairs(0.8, true);
  EXPECT_EQ(p.a.size(), 4999u);  // star around row 0, not 12.5 M pairs
  EXPECT_EQ(p.candidates, 4999);
}

TEST(DedupMinhash, SaveLoadRoundTripAndQuery) {
  auto docs = near_copies_corpus(30, 60, 0.05, 11);
  auto v = views(docs);
  MinHashOptions o;
  o.ngram = 3;
  MinHashIndex idx(o, 32, 4);
  idx.add(std::span(v).subspan(0, 44));
  const std::string path = testing::TempDir() + "/airtune_mh.idx";
  idx.set_threshold(0.3);
  idx.save(path);
  auto back = MinHashIndex::load(path);
  EXPECT_EQ(back.size(), 44u);
  EXPECT_DOUBLE_EQ(back.threshold(), 0.3);
  EXPECT_THROW(idx.set_threshold(1.5), airtune::InvalidArgument);
  EXPECT_EQ(back.signatures().values, idx.signatures().values);
  auto q1 = idx.query(std::span(v).subspan(44), 0.3, true);
  auto q2 = back.query(std::span(v).subspan(44), 0.3, true);
  EXPECT_EQ(q1.a, q2.a);
  EXPECT_EQ(q1.b, q2.b);
  EXPECT_GT(q1.a.size(), 0u);
  // Corruptions: flipped byte, truncation, wrong magic.
  std::string bytes;
  {
    std::ifstream f(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), {});
  }
  auto write = [&](const std::string& b) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(b.data(), std::streamsize(b.size()));
  };
  std::string flipped = bytes;
  flipped[100] ^= 1;
  write(flipped);
  EXPECT_THROW(MinHashIndex::load(path), airtune::FormatError);
  write(bytes.substr(0, bytes.size() / 2));
  EXPECT_THROW(MinHashIndex::load(path), airtune::FormatError);
  write("not an index at all");
  EXPECT_THROW(MinHashIndex::load(path), airtune::FormatError);
  // A version 2 file (re-checksummed): word shingles are refused by name, character shingles load.
  auto as_version = [&](std::string b, uint32_t version, int32_t char_ngrams) {
    std::memcpy(b.data() + 8, &version, 4);
    std::memcpy(b.data() + 8 + 4 + 4 + 8, &char_ngrams, 4);
    const uint64_t sum = airtune::core::xxh64_bytes(b.data(), b.size() - 8, 0);
    std::memcpy(b.data() + b.size() - 8, &sum, 8);
    return b;
  };
  write(as_version(bytes, 2, 0));
  try {
    MinHashIndex::load(path);
    ADD_FAILURE() << "a version 2 word-shingle index loaded";
  } catch (const airtune::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("version 2 word-shingle index"), std::string::npos) << e.what();
  }
  write(as_version(bytes, 2, 1));
  EXPECT_TRUE(MinHashIndex::load(path).options().char_ngrams);
  EXPECT_THROW(MinHashIndex::load(path + ".missing"), airtune::IoError);
  std::remove(path.c_str());
}

TEST(DedupMinhash, DeterministicAcrossThreadCounts) {
  auto docs = near_copies_corpus(80, 50, 0.1, 3);
  auto v = views(docs);
  auto run = [&](int threads) {
    airtune::core::set_num_threads(threads);
    MinHashIndex idx(MinHashOptions{}, 20, 6);
    idx.add(v);
    auto p = idx.self_pairs(0.3, true);
    auto w = idx.pairs_within(v, 0.3);
    EXPECT_EQ(w.b, p.b);
    EXPECT_EQ(w.similarity, p.similarity);
    return std::make_pair(idx.signatures().values, p.b);
  };
  auto one = run(1);
  auto two = run(2);
  EXPECT_EQ(one, two);
}

// The signature kernels (AVX-512, AVX2 tiles, scalar tail) against the definition in minhash.h,
// for permutation counts that exercise full tiles, single vectors and the scalar remainder.
TEST(DedupMinhash, SignatureMatchesDefinitionForEveryTileShape) {
  std::mt19937_64 rng(7);
  std::vector<uint64_t> set(300);
  for (auto& x : set) x = rng();
  std::sort(set.begin(), set.end());
  for (int np : {1, 7, 8, 15, 16, 31, 33, 63, 64, 100, 128, 129, 200, 256}) {
    MinHashOptions o;
    o.num_perm = np;
    o.seed = 3;
    std::vector<uint64_t> got(np);
    signature_of(set, o, got.data());
    for (int p = 0; p < np; ++p) {
      const uint64_t r = airtune::core::mix64(o.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(p) + 1);
      const uint32_t a = static_cast<uint32_t>(r) | 1u, b = static_cast<uint32_t>(r >> 32);
      uint32_t want = 0xFFFFFFFFu;
      for (const uint64_t x : set) {
        const uint64_t m = airtune::core::mix64(x);
        want = std::min(want, a * static_cast<uint32_t>(m ^ (m >> 32)) + b);
      }
      ASSERT_EQ(got[p], want) << "num_perm " << np << " permutation " << p;
    }
  }
}

// Word hashes read 8 bytes at a time: a word's hash must not depend on the bytes after it, and
// the sorted set (bucket sort for large sets) must equal std::sort + unique of the same hashes.
TEST(DedupMinhash, ShingleHashesIgnoreNeighboursAndAreSortedUnique) {
  MinHashOptions o;
  o.ngram = 1;
  for (int len = 1; len <= 20; ++len) {
    const std::string w(len, static_cast<char>('a' + len));
    const auto alone = shingle_hashes(w, o);
    ASSERT_EQ(alone.size(), 1u);
    const auto with = shingle_hashes(w + " zzzzzzzzzzzzzzzz " + w + "q", o);
    EXPECT_NE(std::find(with.begin(), with.end(), alone[0]), with.end()) << "word length " << len;
  }
  // Every byte of a word counts, whichever branch hashes it (packed, first + last 8 bytes, XXH64):
  // all words one letter apart from a base word, at every length and position, hash apart.
  std::set<uint64_t> seen;
  size_t words = 0;
  for (int len = 1; len <= 24; ++len) {
    const std::string base(len, 'm');
    for (int pos = 0; pos < len; ++pos)
      for (char c : {'a', 'z'}) {
        std::string w = base;
        w[pos] = c;
        seen.insert(shingle_hashes(w, o).at(0));
        ++words;
      }
    seen.insert(shingle_hashes(base, o).at(0));
    ++words;
  }
  EXPECT_EQ(seen.size(), words);
  std::mt19937_64 rng(11);
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "w" + std::to_string(rng() % 700) + (i % 17 ? " " : ",  ");
  o.ngram = 2;
  const auto sorted = shingle_hashes(text, o);
  std::set<std::string> distinct;
  for (const auto& s : shingles(text, o)) distinct.insert(s);
  EXPECT_EQ(sorted.size(), distinct.size());
  EXPECT_TRUE(std::is_sorted(sorted.begin(), sorted.end()));
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());
  // The signature of the text (unsorted hashes with repeats) equals that of its sorted set.
  const std::vector<std::string_view> one{text};
  const auto sig = signatures(one, o, /*keep_shingles=*/false);
  std::vector<uint64_t> want(o.num_perm);
  signature_of(sorted, o, want.data());
  EXPECT_EQ(std::vector<uint64_t>(sig.values.begin(), sig.values.end()), want);
}

// The word scanner reads 64 bytes of space mask at a time: words that start at every offset of a
// chunk, span chunk edges or whole chunks, and runs of spaces (whitespace not collapsed) must give
// the same hashes as the same words anywhere else.
TEST(DedupMinhash, WordHashesDoNotDependOnChunkEdges) {
  std::mt19937_64 rng(5);
  for (const bool collapse : {true, false}) {
    MinHashOptions o;
    o.ngram = 1;
    o.normalize.collapse_whitespace = collapse;
    std::string text;
    std::vector<std::string> words;
    for (int i = 0; i < 60; ++i) {
      const size_t len = 1 + rng() % (i % 9 == 0 ? 90 : 12);
      std::string w;
      for (size_t k = 0; k < len; ++k) w.push_back(static_cast<char>('a' + rng() % 26));
      w += std::to_string(i);  // distinct words
      words.push_back(w);
      text += w + std::string(collapse ? 1 : 1 + rng() % 3, ' ');
    }
    const auto want = shingle_hashes(text, o);
    ASSERT_EQ(want.size(), words.size());
    for (size_t pad = 0; pad <= 140; ++pad) {
      const std::string prefix = std::string(pad / 2, 'x') + std::string(pad - pad / 2, ' ');
      const auto got = shingle_hashes(prefix + text, o);
      EXPECT_EQ(got.size(), want.size() + (pad / 2 > 0 ? 1 : 0)) << "prefix " << pad;
      EXPECT_TRUE(std::includes(got.begin(), got.end(), want.begin(), want.end())) << "prefix " << pad;
    }
    for (const auto& w : words) {  // each word alone hashes as it does inside the text
      const auto alone = shingle_hashes(w, o);
      ASSERT_EQ(alone.size(), 1u);
      EXPECT_TRUE(std::binary_search(want.begin(), want.end(), alone[0])) << w;
    }
  }
}

// Word shingle hashes as minhash.h defines them (the values index files of version 3 hold), from
// a plain reimplementation: every word length the hash treats differently (up to 8, 9 to 16, over
// 16 bytes) and 1 to 14 shingles per text (the two interleaved rolling chains, their odd tail).
TEST(DedupMinhash, WordShingleHashesMatchTheirDefinition) {
  namespace core = airtune::core;
  auto bytes8 = [](const std::string& w, size_t at) {  // little-endian, zero past the word's end
    uint64_t v = 0;
    std::memcpy(&v, w.data() + at, std::min<size_t>(8, w.size() - at));
    return v;
  };
  auto word = [&](const std::string& w) {
    constexpr uint64_t kLen = 0xD6E8FEB86659FD93ULL;
    const uint64_t n = w.size();
    if (n <= 8) return core::mix64(bytes8(w, 0) + n * kLen);
    if (n <= 16) return core::mix64(core::mix64(bytes8(w, 0) + n * kLen) ^ bytes8(w, n - 8));
    return core::xxh64_bytes(w.data(), n, 0);
  };
  MinHashOptions o;
  o.normalize = {.lowercase = false,
                 .collapse_whitespace = false,
                 .strip_punctuation = false,
                 .digits_to_zero = false,
                 .form = airtune::core::UnicodeForm::kNone};
  std::mt19937_64 rng(29);
  int texts = 0;
  for (int ngram : {1, 2, 3, 5}) {
    for (size_t count = 1; count <= 18; ++count) {
      std::vector<std::string> ws;
      std::string text;
      for (size_t k = 0; k < count; ++k) {
        std::string w(1 + rng() % 24, ' ');
        for (auto& c : w) c = static_cast<char>('a' + rng() % 26);
        text += (k ? " " : "") + w;
        ws.push_back(w);
      }
      o.ngram = ngram;
      const size_t m = std::min(count, static_cast<size_t>(ngram));
      std::vector<uint64_t> want;
      for (size_t s = 0; s + m <= count; ++s) {
        uint64_t h = 0;
        for (size_t t = 0; t < m; ++t) h = h * 0x9E3779B97F4A7C15ULL + word(ws[s + t]);
        want.push_back(core::mix64(h ^ m));
      }
      std::sort(want.begin(), want.end());
      want.erase(std::unique(want.begin(), want.end()), want.end());
      EXPECT_EQ(shingle_hashes(text, o), want) << ngram << "-grams of " << count << " words";
      ++texts;
    }
  }
  EXPECT_EQ(texts, 72);
}
