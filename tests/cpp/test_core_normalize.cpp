// core/normalize: the shared text identity (utf8proc), hand-computed cases and the flag round trip.
#include <gtest/gtest.h>

#include "core/errors.h"
#include "core/normalize.h"

using namespace airtune::core;

TEST(CoreNormalize, UnicodeFormsAndCaseFolding) {
  NormalizeOptions o;  // NFKC, case folding, whitespace
  EXPECT_EQ(normalize("\xEF\xBC\xA6\xEF\xBC\xB5\xEF\xBC\xAC\xEF\xBC\xAC", o), "full");  // ＦＵＬＬ
  EXPECT_EQ(normalize("Stra\xC3\x9F"
                      "e",
                      o),
            "strasse");                                                                   // ß folds to ss
  EXPECT_EQ(normalize("\xEF\xAC\x81ne \xC3\x89T\xC3\x89", o), "fine \xC3\xA9t\xC3\xA9");  // ﬁne ÉTÉ
  EXPECT_EQ(normalize("Cafe\xCC\x81", o), "caf\xC3\xA9");                                 // composed
  NormalizeOptions nfc = o;
  nfc.form = UnicodeForm::kNFC;
  EXPECT_EQ(normalize("\xEF\xAC\x81", nfc), "fi");  // full case folding maps the ligature
  nfc.lowercase = false;
  EXPECT_EQ(normalize("\xEF\xAC\x81", nfc), "\xEF\xAC\x81");  // NFC alone keeps it
  NormalizeOptions none{false, true, false, false, UnicodeForm::kNone};
  EXPECT_EQ(normalize("  A\xE2\x80\x83"
                      "B  ",
                      none),
            "A B");  // em space is whitespace
}

TEST(CoreNormalize, PunctuationSymbolsDigits) {
  NormalizeOptions o{true, true, true, true};
  EXPECT_EQ(normalize("\xE2\x80\x9EQuoted\xE2\x80\x9C \xE2\x80\x94 \xE2\x82\xAC"
                      "5!",
                      o),
            "quoted 0");                                   // „Quoted“ — €5!
  EXPECT_EQ(normalize("\xD9\xA3 apples", o), "0 apples");  // Arabic-Indic three is a digit
  EXPECT_EQ(normalize("", o), "");
}

TEST(CoreNormalize, InvalidUtf8IsKeptDeterministically) {
  NormalizeOptions o;
  EXPECT_EQ(normalize("AB\xFF  C", o), "ab\xFF c");
}

TEST(CoreNormalize, FlagsRoundTripAndRejectUnknownBits) {
  NormalizeOptions o{false, true, true, false, UnicodeForm::kNFC};
  const NormalizeOptions back = NormalizeOptions::from_flags(o.flags());
  EXPECT_EQ(back.flags(), o.flags());
  EXPECT_EQ(back.form, UnicodeForm::kNFC);
  EXPECT_THROW(NormalizeOptions::from_flags(1u << 9), airtune::InvalidArgument);
  EXPECT_THROW(NormalizeOptions::from_flags(3u << 4), airtune::InvalidArgument);  // NFD is no identity
}

TEST(CoreNormalize, UnicodeNormalizeForms) {
  EXPECT_EQ(unicode_normalize("e\xCC\x81", UnicodeForm::kNFC), "\xC3\xA9");
  EXPECT_EQ(unicode_normalize("\xC3\xA9", UnicodeForm::kNFD), "e\xCC\x81");
  EXPECT_EQ(unicode_normalize("\xEF\xAC\x81", UnicodeForm::kNFKD), "fi");
  EXPECT_EQ(unicode_normalize("plain", UnicodeForm::kNFKC), "plain");
  ASSERT_TRUE(parse_unicode_form("nfkc"));
  EXPECT_FALSE(parse_unicode_form("NFX"));
}
