// Hashed n-gram embedder: unit rows, determinism, similarity ordering, bad options.
#include <gtest/gtest.h>

#include <cmath>
#include <string_view>
#include <vector>

#include "core/errors.h"
#include "core/threading.h"
#include "embed/hashed_ngram.h"

using namespace airtune::embed;

namespace {
double dot(const float* a, const float* b, int d) {
  double s = 0;
  for (int j = 0; j < d; ++j) s += double(a[j]) * b[j];
  return s;
}
}  // namespace

TEST(EmbedHashedNgram, UnitRowsAndSimilarityOrder) {
  std::vector<std::string_view> t = {"the quick brown fox jumps", "The quick brown fox jumped",
                                     "completely unrelated words here", ""};
  HashedNgramOptions o;
  auto e = hashed_ngram_embed(t, o);
  ASSERT_EQ(e.size(), 4u * 256);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(dot(&e[i * 256], &e[i * 256], 256), 1.0, 1e-5);
  EXPECT_GT(dot(&e[0], &e[256], 256), 0.7);
  EXPECT_LT(dot(&e[0], &e[512], 256), 0.3);
}

TEST(EmbedHashedNgram, DeterministicAcrossThreads) {
  std::vector<std::string> texts;
  for (int i = 0; i < 500; ++i) texts.push_back("row " + std::to_string(i * 31) + " text");
  std::vector<std::string_view> v(texts.begin(), texts.end());
  airtune::core::set_num_threads(1);
  auto a = hashed_ngram_embed(v, HashedNgramOptions{});
  airtune::core::set_num_threads(2);
  auto b = hashed_ngram_embed(v, HashedNgramOptions{});
  EXPECT_EQ(a, b);
}

TEST(EmbedHashedNgram, RejectsBadOptions) {
  std::vector<std::string_view> t = {"x"};
  HashedNgramOptions o;
  o.dim = 0;
  EXPECT_THROW(hashed_ngram_embed(t, o), airtune::InvalidArgument);
  o = HashedNgramOptions{};
  o.char_min = 0;
  o.word_max = 0;
  EXPECT_THROW(hashed_ngram_embed(t, o), airtune::InvalidArgument);
}
