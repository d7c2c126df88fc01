// core/normalize: the shared text identity (utf8proc), hand-computed cases and the flag round trip.
#include <gtest/gtest.h>

#include <cctype>
#include <random>
#include <string>
#include <vector>

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

// The ASCII kernels against a plain reference (map each byte, split on separators, join the
// words with one space) on random texts of every length around the 64-byte block, under all 16
// switch combinations; the AVX-512 kernel where this CPU has it (and against the scalar one).
TEST(CoreNormalize, AsciiKernelsEqualTheReference) {
  using detail::AsciiKernel;
  auto reference = [](std::string_view text, const NormalizeOptions& o) {
    std::string out, word;
    auto flush = [&] {
      if (word.empty()) return;
      if (!out.empty()) out.push_back(' ');
      out += word;
      word.clear();
    };
    for (const char ch : text) {
      const bool space = ch == ' ' || (ch >= '\t' && ch <= '\r');
      const bool punct = o.strip_punctuation && ch > ' ' && ch < 0x7F && !std::isalnum(static_cast<unsigned char>(ch));
      char c = ch;
      if (o.lowercase && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (o.digits_to_zero && c >= '0' && c <= '9') c = '0';
      if (space || punct) {
        if (o.collapse_whitespace) {
          flush();
          continue;
        }
        c = space ? ch : ' ';
      }
      if (o.collapse_whitespace)
        word.push_back(c);
      else
        out.push_back(c);
    }
    flush();
    return out;
  };
  std::mt19937_64 rng(7);
  const std::string alphabet = "aB3 \t\n  .,!-xyZ09\r\v\f~";
  std::vector<AsciiKernel> kernels{AsciiKernel::kScalar};
  if (detail::ascii_kernel_available(AsciiKernel::kAvx512)) kernels.push_back(AsciiKernel::kAvx512);
  int checked = 0;
  for (int len = 0; len < 300; ++len) {
    for (int rep = 0; rep < 4; ++rep) {
      std::string text(static_cast<size_t>(len), ' ');
      const int mode = rep % 4;  // mixed, all spaces, long words, all punctuation-free letters
      for (auto& c : text) {
        const size_t r = rng();
        c = mode == 1 ? " \t"[r % 2] : mode == 3 ? "abCD"[r % 4] : alphabet[r % (mode == 2 ? 4 : alphabet.size())];
      }
      for (uint32_t f = 0; f < 16; ++f) {
        const NormalizeOptions o = NormalizeOptions::from_flags(f);
        const std::string want = reference(text, o);
        ASSERT_EQ(normalize(text, o), want) << "flags " << f << " text '" << text << "'";
        for (const auto k : kernels) {
          std::string out(text.size(), '\0');
          out.resize(detail::normalize_ascii(text, o, out.data(), k));
          ASSERT_EQ(out, want) << "kernel " << static_cast<int>(k) << " flags " << f << " len " << len;
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 300 * 4 * 16 - 1);
}
