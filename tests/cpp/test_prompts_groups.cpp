// Prompt grouping, scaffolds, diversity measures, k-means: hand-computed cases.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "core/errors.h"
#include "prompts/diversity.h"
#include "prompts/prompt_groups.h"
#include "prompts/scaffolds.h"

using namespace airtune::prompts;

TEST(PromptsGroups, ExactAndNearGroups) {
  const std::vector<std::string_view> p = {"You are a helpful assistant.",
                                           "You are a helpful assistant!",
                                           "You are a helpful assistant.",
                                           "Translate to French.",
                                           "",
                                           "You are a helpful assistant."};
  const std::vector<uint8_t> present = {1, 1, 1, 1, 0, 1};
  const auto g = group_prompts(p, present, 0.8, 5, 1000);
  EXPECT_EQ(g.exact_of_row, (std::vector<int64_t>{0, 1, 0, 2, -1, 0}));
  EXPECT_EQ(g.count, (std::vector<int64_t>{3, 1, 1}));
  EXPECT_EQ(g.first_row, (std::vector<int64_t>{0, 1, 3}));
  EXPECT_EQ(g.near_of_distinct, (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(g.n_near, 2);
  // Hand count: 5-shingles of "you are a helpful assistant." (28 chars) = 24; the "!" variant shares 23.
  EXPECT_NEAR(shingle_jaccard("You are a helpful assistant.", "You are a helpful assistant!", 5), 23.0 / 25.0, 1e-12);
  EXPECT_THROW(group_prompts(p, {1, 0}, 0.8, 5, 10), airtune::InvalidArgument);
  EXPECT_THROW(group_prompts(p, present, 0.0, 5, 10), airtune::InvalidArgument);
}

TEST(PromptsGroups, TruncatedPairwisePassKeepsRestSingletons) {
  const std::vector<std::string_view> p = {"aaaa bbbb cccc", "aaaa bbbb cccc", "aaaa bbbb cccd", "zzzz"};
  const auto g = group_prompts(p, {}, 0.5, 3, 1);
  EXPECT_TRUE(g.near_truncated);
  EXPECT_EQ(g.n_near, 3);
}

TEST(PromptsScaffolds, PrefixAndSuffixTemplates) {
  const std::vector<std::string_view> t = {"Classify the sentiment of this review: great phone",
                                           "Summarize: a long text",
                                           "Classify the sentiment of this review: awful battery",
                                           "Classify the sentiment of this review: ok",
                                           "Summarize: another text",
                                           "Question: what is 2+2? Answer in one word.",
                                           "Question: capital of France? Answer in one word."};
  const auto pre = find_scaffolds(t, false, 15, 2);
  ASSERT_GE(pre.size(), 1u);
  EXPECT_EQ(pre[0].text, "Classify the sentiment of this review: ");
  EXPECT_EQ(pre[0].rows, 3);
  EXPECT_EQ(pre[0].members, (std::vector<int64_t>{0, 2, 3}));
  const auto suf = find_scaffolds(t, true, 15, 2);
  ASSERT_EQ(suf.size(), 1u);
  EXPECT_EQ(suf[0].text, "? Answer in one word.");
  EXPECT_EQ(suf[0].members, (std::vector<int64_t>{5, 6}));
  // Identical texts are duplicates, not scaffolds.
  EXPECT_TRUE(find_scaffolds({"same text here!!", "same text here!!", "same text here!!"}, false, 5, 2).empty());
}

TEST(PromptsDiversity, SelfBleuHandComputed) {
  EXPECT_NEAR(self_bleu({"x y z w", "x y z w"}), 1.0, 1e-12);
  EXPECT_EQ(self_bleu({"only one"}), 0.0);
  EXPECT_EQ(self_bleu({"a b", "c d"}), 0.0);
  // "the cat sat" against "the cat sat down": p1=3/3, p2=2/2, p3=1/1, no 4-grams (effective order
  // 3), BP = exp(1 - 4/3). The other way: p = 3/4, 2/3, 1/2 and no 4-gram match, "exp" smoothing
  // gives 1/(2 * 1); BP = 1.
  const double forward = std::exp(1.0 - 4.0 / 3.0);
  const double backward = std::exp((std::log(0.75) + std::log(2.0 / 3.0) + std::log(0.5) + std::log(0.5)) / 4.0);
  EXPECT_NEAR(self_bleu({"the cat sat", "the cat sat down"}), (forward + backward) / 2.0, 1e-12);
  EXPECT_THROW(self_bleu({"ok", "\xff"}), airtune::InvalidArgument);
}

TEST(PromptsDiversity, DistinctN) {
  // tokens: [a b a] [a b]: unigrams a,b,a,a,b -> 2/5; bigrams ab, ba, ab -> 2/3
  EXPECT_NEAR(distinct_n({"a b a", "A b"}, 1), 2.0 / 5.0, 1e-12);
  EXPECT_NEAR(distinct_n({"a b a", "A b"}, 2), 2.0 / 3.0, 1e-12);
  EXPECT_EQ(distinct_n({"a"}, 2), 0.0);
  EXPECT_THROW(distinct_n({"a"}, 0), airtune::InvalidArgument);
}
