// fix_text, quality filters and strip_garbage at the C++ level.
#include <gtest/gtest.h>

#include <string>

#include "clean/fix_text.h"
#include "clean/quality_filter.h"
#include "clean/strip_garbage.h"

namespace airtune::clean {
namespace {

TEST(CleanFixText, Mojibake) {
  FixTextOptions opt;
  EXPECT_EQ(fix_text("caf\xC3\x83\xC2\xA9", opt), "caf\xC3\xA9");                  // cafÃ© -> café
  EXPECT_EQ(fix_text("\xC3\xA2\xE2\x82\xAC\xC5\x93hi", opt), "\xE2\x80\x9Chi");    // â€œ -> “
  EXPECT_EQ(fix_text("CAF\xC3\x89\xE2\x80\xA6", opt), "CAF\xC3\x89\xE2\x80\xA6");  // CAFÉ… unchanged
  EXPECT_EQ(fix_text("5\xE2\x82\xAC", opt), "5\xE2\x82\xAC");                      // 5€ unchanged
}

TEST(CleanFixText, ControlsLinesWhitespace) {
  FixTextOptions opt;
  static const char kRaw[] =
      "a\0b\x07"
      "c\r\nd\xE2\x80\x8B"
      "e  \n\n\n\nf ";
  EXPECT_EQ(fix_text(std::string(kRaw, sizeof(kRaw) - 1), opt), "abc\nde\n\nf");
  opt.normalize_whitespace = false;
  EXPECT_EQ(fix_text("x\xEF\xAC\x81y", opt), "xfiy");  // ligature
}

TEST(CleanQuality, C4LineRules) {
  QualityParams p;
  p.c4 = true;
  const std::string prose = "One sentence here. Two sentences here. Three is here. Four is here too. Five ends it.";
  auto v = quality_check("menu item\n" + prose + "\nWe use cookies to help, ok.", p);
  EXPECT_TRUE(v.keep);
  EXPECT_EQ(v.text, prose);
  v = quality_check("Only. Two sentences here.", p);
  EXPECT_FALSE(v.keep);
  EXPECT_EQ(v.reason, "c4:too_few_sentences");
}

TEST(CleanQuality, GopherStopWords) {
  QualityParams p;
  p.gopher_quality = true;
  std::string text;
  for (int i = 0; i < 60; ++i) text += "alpha beta gamma ";
  auto v = quality_check(text, p);
  EXPECT_FALSE(v.keep);
  EXPECT_EQ(v.reason, "gopher_quality:not_enough_stop_words");
  text += "the cat and the dog";
  EXPECT_TRUE(quality_check(text, p).keep);
}

TEST(CleanGarbage, CountsAndKeeps) {
  GarbageOptions opt;
  auto r = strip_garbage("<p>Hi &amp; bye</p><script>x()</script> https://a.b/c?utm_source=z", opt);
  EXPECT_EQ(r.text, "Hi & bye\n\nhttps://a.b/c");  // </p> and the script block each leave a line break
  EXPECT_EQ(r.report.tags, 2);
  EXPECT_EQ(r.report.entities, 1);
  EXPECT_EQ(r.report.script_blocks, 1);
  EXPECT_EQ(r.report.tracking_params, 1);
  EXPECT_EQ(strip_garbage("a < b, List<T>", opt).text, "a < b, List<T>");
}

}  // namespace
}  // namespace airtune::clean
