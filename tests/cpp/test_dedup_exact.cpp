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

namespace {

// A plain code-point-by-code-point reference of normalize() (the header's rules), for random
// mixes of ASCII, multi-byte letters, Unicode spaces and punctuation.
std::string reference_normalize(std::string_view s, const NormalizeOptions& o) {
  auto is_space = [](uint32_t c) {
    return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0xA0 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0x85;
  };
  auto is_punct = [](uint32_t c) {
    if (c < 0x80)
      return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
             (c >= 0x7B && c <= 0x7E);
    return (c >= 0xA1 && c <= 0xBF) || (c >= 0x2010 && c <= 0x205E) || (c >= 0x3001 && c <= 0x303F);
  };
  std::string out;
  bool pending = false;
  for (size_t i = 0; i < s.size();) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    const size_t len = b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4;  // the test feeds valid UTF-8
    uint32_t cp = len == 1 ? b0 : len == 2 ? (b0 & 0x1F) : len == 3 ? (b0 & 0x0F) : (b0 & 0x07);
    for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    const bool space = is_space(cp) || (o.strip_punctuation && is_punct(cp));
    if (space && o.collapse_whitespace) {
      pending = !out.empty();
    } else {
      if (pending) out += ' ';
      pending = false;
      if (space)
        out += (cp < 0x80 && is_space(cp)) ? static_cast<char>(cp) : ' ';
      else if (o.lowercase && cp >= 'A' && cp <= 'Z')
        out += static_cast<char>(cp - 'A' + 'a');
      else if (o.digits_to_zero && cp >= '0' && cp <= '9')
        out += '0';
      else
        out.append(s.substr(i, len));
    }
    i += len;
  }
  return out;
}

}  // namespace

TEST(DedupNormalize, MatchesReferenceOnRandomMixes) {
  const std::vector<std::string> parts = {
      "a", "B", "z9",       " ",        "  ",           "\t",       "\n",           ",",
      "!", "7", "\xC3\xA9", "\xC2\xA0", "\xE2\x80\x83", "\xC2\xBF", "\xE3\x80\x82", "Qu"};
  uint64_t state = 1;
  auto next = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  for (int flags = 0; flags < 16; ++flags) {
    const NormalizeOptions o{(flags & 1) != 0, (flags & 2) != 0, (flags & 4) != 0, (flags & 8) != 0};
    for (int trial = 0; trial < 300; ++trial) {
      std::string s;
      const int n = static_cast<int>(next() % 40);
      for (int k = 0; k < n; ++k) s += parts[next() % parts.size()];
      ASSERT_EQ(normalize(s, o), reference_normalize(s, o)) << "flags " << flags << " input '" << s << "'";
    }
  }
}
