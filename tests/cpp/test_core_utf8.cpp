#include <gtest/gtest.h>

#include <string>

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
