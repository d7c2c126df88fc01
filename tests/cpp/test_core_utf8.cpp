#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "core/string_column.h"
#include "core/utf8.h"

namespace core = airtune::core;

TEST(Utf8, ValidatesLikeTheStandard) {
  EXPECT_TRUE(core::is_valid_utf8("plain ascii"));
  EXPECT_TRUE(core::is_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(core::is_valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(core::is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(core::is_valid_utf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(core::is_valid_utf8("abc\xe2\x82"));       // truncated
}

TEST(Utf8, FirstInvalidAgreesWithValidation) {
  const std::string cases[] = {"ok", "ab\xffz", "\xc3\xa9\xc3", "\xe0\x80\x80", "x\xed\xbf\xbf", "\xf0\x9f\x98\x80!"};
  for (const auto& s : cases) {
    const size_t pos = core::first_invalid_utf8(s);
    EXPECT_EQ(pos == s.size(), core::is_valid_utf8(s)) << s;
  }
  EXPECT_EQ(core::first_invalid_utf8("ab\xffz"), 2u);
}

// The one decoder against an independent validator (simdjson's) on random bytes biased towards
// lead and continuation bytes: a text is valid exactly when decode_utf8 never reads U+FFFD of
// length 1 at a non-ASCII byte, first_invalid_utf8 is where it first does, and on valid text
// the trusted decoder reads the same code points with the same lengths.
TEST(Utf8, OneDecoderAgreesWithAValidator) {
  std::mt19937 rng(7);
  const unsigned char pool[] = {'a',  ' ',  0x7F, 0x80, 0xBF, 0xC2, 0xC3, 0xDF, 0xE0, 0xE2,
                                0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF, 0xA0, 0x9F, 0x8F, 0x90};
  for (int trial = 0; trial < 20000; ++trial) {
    std::string s(rng() % 9, ' ');
    for (auto& c : s) c = static_cast<char>(pool[rng() % sizeof(pool)]);
    const bool valid = core::is_valid_utf8(s);
    size_t first_bad = s.size();
    for (size_t i = 0, len = 0; i < s.size(); i += len) {
      const char32_t cp = core::decode_utf8(s, i, len);
      if (len == 1 && static_cast<unsigned char>(s[i]) >= 0x80) {
        EXPECT_EQ(cp, core::kReplacementChar);
        first_bad = std::min(first_bad, i);
      }
    }
    ASSERT_EQ(first_bad == s.size(), valid) << trial;
    EXPECT_EQ(core::first_invalid_utf8(s), first_bad) << trial;
    if (!valid) continue;
    EXPECT_EQ(core::to_utf8(core::to_u32(s)), s);
    for (size_t i = 0, len = 0; i < s.size(); i += len) {
      const char32_t want = core::decode_utf8(s, i, len);
      size_t j = i;
      EXPECT_EQ(core::next_code_point(s, j), want);
      EXPECT_EQ(j, i + len);
    }
  }
}

TEST(Utf8, CodePointStarts) {
  std::vector<size_t> starts = {99};
  core::code_point_starts("", starts);
  EXPECT_EQ(starts, (std::vector<size_t>{0}));
  core::code_point_starts("a\xe2\x82\xac\xc3\xa9z", starts);  // "a€éz"
  EXPECT_EQ(starts, (std::vector<size_t>{0, 1, 4, 6, 7}));
  const std::string stray = {'\x80', 'a'};  // a stray continuation byte starts nothing
  core::code_point_starts(stray, starts);
  EXPECT_EQ(starts, (std::vector<size_t>{1, 2}));
}

TEST(Utf8, TruncateNeverCutsASequence) {
  const std::string s = "a\xe2\x82\xac";  // "a€"
  EXPECT_EQ(core::utf8_truncate(s, 3), "a");
  EXPECT_EQ(core::utf8_truncate(s, 4), s);
  EXPECT_EQ(core::utf8_length(s), 2u);
}

TEST(StringColumn, AppendKeepsOffsetsAndNulls) {
  core::StringColumn a, b;
  a.push_back("x");
  b.push_null();
  b.push_back("yz");
  a.append(b);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[2], "yz");
  EXPECT_FALSE(a.is_valid(1));
  EXPECT_TRUE(a.is_valid(0));
}
