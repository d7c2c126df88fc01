// Tree building and text extraction: layout, robustness (deep nesting, broken markup), main content.
#include <gtest/gtest.h>

#include <string>

#include "clean/html_dom.h"
#include "clean/html_to_text.h"
#include "core/utf8.h"

namespace airtune::clean {
namespace {

std::string full(std::string_view html) {
  HtmlToTextOptions opt;
  opt.mode = ExtractMode::kFull;
  return html_to_text(html, opt);
}

TEST(CleanDom, ImpliedEndTagsAndNesting) {
  const Dom dom = build_dom("<ul><li>a<li>b</ul><p>x<p>y");
  // root, ul, li, li, p, p: the second li and p are siblings, not children.
  ASSERT_EQ(dom.nodes.size(), 6u);
  EXPECT_EQ(dom.nodes[3].parent, 1);
  EXPECT_EQ(dom.nodes[5].parent, 0);
  for (size_t i = 1; i < dom.nodes.size(); ++i) {
    EXPECT_LT(dom.nodes[i].parent, static_cast<int32_t>(i));
    EXPECT_LE(dom.nodes[i].end, dom.nodes[static_cast<size_t>(dom.nodes[i].parent)].end);
  }
}

TEST(CleanDom, EventsBalancedOnBrokenInput) {
  const Dom dom = build_dom("<div><span><b>x</div></i></table><td>y<tr>z</p>");
  int depth = 0;
  for (const auto& e : dom.events) {
    if (e.kind == DomEvent::kOpen) ++depth;
    if (e.kind == DomEvent::kClose) --depth;
    ASSERT_GE(depth, 0);
  }
  EXPECT_EQ(depth, 0);
}

TEST(CleanHtmlToText, Layout) {
  EXPECT_EQ(full("<h2>T</h2><p>a <i>b</i></p><ul><li>1<li>2</ul><table><tr><td>x<td>y</table>"),
            "T\n\na b\n\n\xE2\x80\xA2 1\n\xE2\x80\xA2 2\n\nx\ty");
  EXPECT_EQ(full("<p>&lt;tag&gt; &amp;&nbsp;x</p>"), "<tag> & x");
  EXPECT_EQ(full("<script>a</script><style>b</style><svg><p>c</p></svg><p>d</p>"), "d");
}

TEST(CleanHtmlToText, DeepNestingIsLinearAndRecursionFree) {
  std::string html;
  const int depth = 200000;
  for (int i = 0; i < depth; ++i) html += "<div><span>";
  html += "bottom";
  EXPECT_EQ(full(html), "bottom");
  HtmlToTextOptions opt;  // main content
  EXPECT_EQ(html_to_text(html, opt), "bottom");
}

TEST(CleanHtmlToText, InvalidUtf8InStrAndBytes) {
  const std::string bad = "<p>a\xFF\xC3(b</p>";
  HtmlToTextOptions opt;
  opt.mode = ExtractMode::kFull;
  const std::string as_text = html_to_text(bad, opt, false);
  EXPECT_TRUE(core::is_valid_utf8(as_text));
  EXPECT_EQ(as_text, "a\xEF\xBF\xBD\xEF\xBF\xBD(b");
  EXPECT_TRUE(core::is_valid_utf8(html_to_text(bad, opt, true)));
}

TEST(CleanHtmlToText, MainContentPicksTheArticle) {
  std::string html = "<body><div class='menu'><a href=/>Home</a> <a href=/x>X</a></div><div class='story'>";
  for (int i = 0; i < 6; ++i)
    html += "<p>Paragraph of the story, with commas, and many words to make it long enough to score.</p>";
  html += "</div><div class='footer'>Contact us</div></body>";
  HtmlToTextOptions opt;
  const std::string text = html_to_text(html, opt);
  EXPECT_EQ(text.find("Home"), std::string::npos);
  EXPECT_EQ(text.find("Contact"), std::string::npos);
  EXPECT_NE(text.find("Paragraph of the story"), std::string::npos);
}

TEST(CleanHtmlToText, BatchMatchesSingle) {
  std::vector<std::string> pages = {"<p>a</p>", "<meta charset=latin1><p>caf\xE9</p>", ""};
  std::vector<std::string_view> views(pages.begin(), pages.end());
  HtmlToTextOptions opt;
  const auto out = html_to_text_batch(views, {0, 1, 0}, opt);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], "a");
  EXPECT_EQ(out[1], "caf\xC3\xA9");
  EXPECT_EQ(out[2], "");
}

}  // namespace
}  // namespace airtune::clean
