// core/enum_names.h: one table per enum, read in both directions.
#include <gtest/gtest.h>

#include <string>

#include "core/enum_names.h"
#include "core/errors.h"
#include "dedup/survivors.h"
#include "metrics/bleu_tokenizers.h"

namespace {

enum class Colour { kRed, kGreen, kBlue };
constexpr airtune::core::EnumName<Colour> kColours[] = {
    {"red", Colour::kRed}, {"green", Colour::kGreen}, {"verde", Colour::kGreen}};

}  // namespace

TEST(CoreEnumNames, FindsNamesAndAliases) {
  EXPECT_EQ(airtune::core::find_enum("red", kColours), Colour::kRed);
  EXPECT_EQ(airtune::core::find_enum("verde", kColours), Colour::kGreen);
  EXPECT_FALSE(airtune::core::find_enum("Red", kColours).has_value());  // exact, case-sensitive
  EXPECT_FALSE(airtune::core::find_enum("", kColours).has_value());
  static_assert(*airtune::core::find_enum("green", kColours) == Colour::kGreen);
}

TEST(CoreEnumNames, NameIsTheFirstRow) {
  EXPECT_EQ(airtune::core::enum_name(Colour::kGreen, kColours), "green");
  EXPECT_EQ(airtune::core::enum_name(Colour::kBlue, kColours), "?");
  EXPECT_EQ(airtune::core::enum_name(Colour::kBlue, kColours, "none"), "none");
}

// The parsers built on it keep their names, aliases and messages.
TEST(CoreEnumNames, ParsersRoundTrip) {
  using airtune::metrics::BleuTokenizer;
  for (const char* name : {"13a", "intl", "char", "none"})
    EXPECT_EQ(std::string(bleu_tokenizer_name(airtune::metrics::parse_bleu_tokenizer(name))), name);
  EXPECT_EQ(airtune::dedup::parse_survivor_rule("priority"), airtune::dedup::SurvivorRule::kScore);
  try {
    airtune::metrics::parse_bleu_tokenizer("13b");
    FAIL();
  } catch (const airtune::InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "unknown tokenizer '13b' (choose 13a, intl, char or none)");
  }
}
