// Normalisation, exact dedup survivors, union-find: hand-computed cases.
#include <gtest/gtest.h>

#include <string_view>
#include <vector>

#include "core/errors.h"
#include "core/normalize.h"
#include "dedup/exact.h"
#include "dedup/survivors.h"

using namespace airtune::dedup;

TEST(DedupNormalize, Defaults) {
  NormalizeOptions o;
  EXPECT_EQ(normalize("  Hello\t\nWORLD  ", o), "hello world");
  EXPECT_EQ(normalize("A\xC2\xA0"
                      "B",
                      o),
            "a b");  // no-break space is whitespace
  EXPECT_EQ(normalize("", o), "");
}

TEST(DedupNormalize, PunctuationAndDigits) {
  NormalizeOptions o{true, true, true, true};
  EXPECT_EQ(normalize("Hi, there! It's 2024...", o), "hi there it s 0000");
  EXPECT_EQ(normalize("\xE2\x80\x9CQuoted\xE2\x80\x9D \xE2\x80\x94 dash", o), "quoted dash");  // “Quoted” — dash
  EXPECT_EQ(normalize("caf\xC3\xA9", o), "caf\xC3\xA9");                                       // non-ASCII letters kept
}

TEST(DedupNormalize, NoCollapseKeepsSpacing) {
  NormalizeOptions o{false, false, true, false};
  EXPECT_EQ(normalize("A,b  C", o), "A b  C");
}

TEST(DedupExact, GroupsAndFirstSurvivor) {
  std::vector<std::string_view> t = {"Hello world", "hello   WORLD", "other", "HELLO WORLD ", "other", "x"};
  auto r = exact_duplicates(t, NormalizeOptions{}, SurvivorRule::kFirst, {});
  EXPECT_EQ(r.clusters.cluster, (std::vector<int64_t>{0, 0, 2, 0, 2, 5}));
  EXPECT_EQ(r.clusters.keep, (std::vector<uint8_t>{1, 0, 1, 0, 0, 1}));
  EXPECT_EQ(r.clusters.size, (std::vector<int64_t>{3, 3, 2, 3, 2, 1}));
  EXPECT_EQ(r.clusters.n_clusters, 2);
  EXPECT_EQ(r.clusters.n_removed, 3);
  EXPECT_EQ(r.hash_collisions, 0);
}

TEST(DedupExact, LongestAndScoreSurvivors) {
  std::vector<std::string_view> t = {"a b", "A  B", "a b ", "A B"};
  auto longest = exact_duplicates(t, NormalizeOptions{}, SurvivorRule::kLongest, {});
  EXPECT_EQ(longest.clusters.cluster[0], 1);  // "A  B" and "a b " are both 4 bytes: first of them wins
  std::vector<double> scores = {0.1, 0.5, 0.9, 0.9};
  auto best = exact_duplicates(t, NormalizeOptions{}, SurvivorRule::kScore, scores);
  EXPECT_EQ(best.clusters.cluster, (std::vector<int64_t>{2, 2, 2, 2}));
  EXPECT_THROW(exact_duplicates(t, NormalizeOptions{}, SurvivorRule::kScore, std::vector<double>{1.0}),
               airtune::InvalidArgument);
}

TEST(DedupExact, EmptyInputAndAllIdentical) {
  auto e = exact_duplicates({}, NormalizeOptions{}, SurvivorRule::kFirst, {});
  EXPECT_TRUE(e.clusters.keep.empty());
  std::vector<std::string_view> same(1000, "same text");
  auto r = exact_duplicates(same, NormalizeOptions{}, SurvivorRule::kFirst, {});
  EXPECT_EQ(r.clusters.n_removed, 999);
  EXPECT_EQ(r.clusters.keep[0], 1);
}

TEST(DedupSurvivors, UnionFindTransitive) {
  UnionFind uf(6);
  uf.unite(4, 2);
  uf.unite(2, 0);
  uf.unite(5, 3);
  auto c = resolve_clusters(uf, SurvivorRule::kFirst, {}, {});
  EXPECT_EQ(c.cluster, (std::vector<int64_t>{0, 1, 0, 3, 0, 3}));
  EXPECT_EQ(c.n_clusters, 2);
  EXPECT_EQ(c.n_removed, 3);
  EXPECT_THROW(parse_survivor_rule("best"), airtune::InvalidArgument);
}
