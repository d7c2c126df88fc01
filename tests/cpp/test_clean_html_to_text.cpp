// Tree building and text extraction: layout, robustness (deep nesting, broken markup), main content.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "clean/html_dom.h"
#include "clean/html_to_text.h"
#include "clean/url_scheme.h"
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

// Records the events of a page as a string: "<i" open, ">i" close, "t:x" text, "|" break, "@x" image.
// merge_text: adjacent text runs as one (what the stored tree keeps; the rendering is the same).
class EventLog final : public DomVisitor {
 public:
  explicit EventLog(bool merge = true) : merge_text(merge) {}
  void open(int32_t i, const DomNode& n, std::string_view) override {
    EXPECT_EQ(n.parent, stack.empty() ? -1 : stack.back());
    stack.push_back(i);
    log += '<';
    log += std::to_string(i);
  }
  void close(int32_t i, const DomNode&, std::string_view) override {
    EXPECT_FALSE(stack.empty());
    EXPECT_EQ(stack.back(), i);
    stack.pop_back();
    log += '>';
    log += std::to_string(i);
  }
  void leaf(DomLeaf::Kind k, int32_t i, const DomNode&, std::string_view t) override {
    EXPECT_EQ(stack.back(), i);
    if (k == DomLeaf::kText && merge_text && last_text == log.size()) {
      log += t;
    } else {
      // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string.
      log += k == DomLeaf::kText ? "t:" : k == DomLeaf::kLineBreak ? "|" : "@";
      if (k != DomLeaf::kLineBreak) log += t;
    }
    if (k == DomLeaf::kText) last_text = log.size();
  }
  bool merge_text;
  size_t last_text = std::string::npos;
  std::vector<int32_t> stack;
  std::string log;
};

TEST(CleanDom, EventsBalancedOnBrokenInput) {
  const Dom dom = build_dom("<div><span><b>x</div></i></table><td>y<tr>z</p>");
  EventLog log;
  replay_dom(dom, log);
  EXPECT_TRUE(log.stack.empty());
}

TEST(CleanDom, ReplayedTreeAndStreamGiveTheSameEvents) {
  // Leaves do not store the open/close events: the replay rebuilds them from the nodes; streaming
  // never stores them. Both must be the build's own sequence.
  for (std::string_view html :
       {"<div><span><b>x</div></i></table><td>y<tr>z</p>", "<p>a<p>b<br>c<img alt=q><ul><li>1<li>2</ul>d",
        "a<!-- c -->b<i>c</i>d<wbr>e", "<head><title>t</title></head>x<html><body>y</body><p>z",
        "<table><tr><td>1<td>2<tr><td>3</table><h1>h<h2>i</h2>", "<b><i>x</b>y</i>z<svg/>w<x-y/>v"}) {
    EventLog replayed, streamed;
    replay_dom(build_dom(html), replayed);
    stream_dom(html, streamed);
    EXPECT_EQ(replayed.log, streamed.log) << html;
    EXPECT_TRUE(replayed.stack.empty());
  }
  EventLog log(/*merge=*/false);
  stream_dom("<p>a<!-- c -->b<i>c</i>d", log);
  EXPECT_EQ(log.log, "<0<1t:at:b<2t:c>2t:d>1>0");  // the tree merges "a" "b": same text
  EventLog merged(/*merge=*/false);
  replay_dom(build_dom("<p>a<!-- c -->b<i>c</i>d"), merged);
  EXPECT_EQ(merged.log, "<0<1t:ab<2t:c>2t:d>1>0");
}

TEST(CleanDom, DepthAndTreeSizeAreCapped) {
  std::string html;
  for (size_t i = 0; i < kMaxDomDepth + 100; ++i) html += "<div>";
  html += "x";
  const Dom dom = build_dom(html);
  ASSERT_EQ(dom.nodes.size(), kMaxDomDepth + 101);
  EventLog log;
  replay_dom(dom, log);
  size_t depth = 0;
  for (int32_t i = dom.nodes.back().parent; i >= 0; i = dom.nodes[static_cast<size_t>(i)].parent) ++depth;
  EXPECT_EQ(depth, kMaxDomDepth - 1);  // the root and its descendants: kMaxDomDepth open at most
  const Dom part = build_dom("<p>a<p>b<p>c<p>d", 4);
  EXPECT_FALSE(part.complete);
  EXPECT_LE(part.nodes.size() + part.leaves.size(), 5u);
  EXPECT_TRUE(build_dom("<p>a<p>b<p>c<p>d", 9).complete);
}

TEST(CleanUrlScheme, AsTheWhatwgUrlParserReadsIt) {
  EXPECT_EQ(url_scheme("HTTPS://x.org"), "https");
  EXPECT_EQ(url_scheme(" \x01\x1F javascript:x"), "javascript");
  EXPECT_EQ(url_scheme("java\tscr\nip\rt:x"), "javascript");
  EXPECT_EQ(url_scheme("jav ascript:x"), "");  // a space inside: a relative URL
  EXPECT_EQ(url_scheme("javascript :x"), "");
  EXPECT_EQ(url_scheme("1http:x"), "");  // a scheme starts with a letter
  EXPECT_EQ(url_scheme("a+b-c.d:x"), "a+b-c.d");
  EXPECT_EQ(url_scheme("/path:x"), "");
  EXPECT_EQ(url_scheme(":x"), "");
  EXPECT_EQ(url_scheme("no colon"), "");
  EXPECT_TRUE(is_script_url("\x0Ejavascript:alert(1)"));
  EXPECT_TRUE(is_script_url("VBScript:msgbox(1)"));
  EXPECT_TRUE(is_script_url("data:text/html;base64,PHNjcmlwdD4="));
  EXPECT_FALSE(is_script_url("https://example.org/javascript:x"));
  EXPECT_FALSE(is_script_url("\xEF\xBF\xBDjavascript:x"));  // U+FFFD (a NUL in the source) is not stripped
  EXPECT_EQ(url_as_parsed(" \t/a\n/b?c=d e\r\n "), "/a/b?c=d e");
}

TEST(CleanHtmlToText, LinksAreDecodedAndScriptUrlsNeverWritten) {
  HtmlToTextOptions opt;
  opt.mode = ExtractMode::kFull;
  opt.links = true;
  EXPECT_EQ(html_to_text("<a href='https://x.org/?a=1&amp;b=2&#x26;c'>t</a>", opt), "[t](https://x.org/?a=1&b=2&c)");
  EXPECT_EQ(html_to_text("<a href=' /p\n/q '>t</a>", opt), "[t](/p/q)");
  for (std::string_view href :
       {"&#x6A;avascript:alert(1)", "java\tscript:alert(1)", "\x01javascript:alert(1)", "javascript&colon;alert(1)",
        "&#106&#97&#118&#97&#115&#99&#114&#105&#112&#116&#58;x", "jav&#x09;ascript:x", "java&NewLine;script:x",
        " &#14; javascript:x", "vbscript:msgbox(1)", "data:text/html,<script>alert(1)</script>"}) {
    const std::string html = "<a href=\"" + std::string(href) + "\">t</a>";
    EXPECT_EQ(html_to_text(html, opt), "t") << href;
  }
}

TEST(CleanHtmlToText, MainContentOverTheTreeCapIsTheFullText) {
  std::string html = "<nav><a href=/>Home</a></nav>";
  for (int i = 0; i < 50; ++i) html += "<p>Paragraph " + std::to_string(i) + ", with commas, and words.</p>";
  HtmlToTextOptions opt;
  opt.mode = ExtractMode::kFull;
  const std::string full_text = html_to_text(html, opt);
  opt.mode = ExtractMode::kMainContent;
  const std::string main_text = html_to_text(html, opt);
  EXPECT_EQ(main_text.find("Home"), std::string::npos);
  opt.max_tree_items = 20;
  EXPECT_EQ(html_to_text(html, opt), full_text);
  opt.max_tree_items = 1000;
  EXPECT_EQ(html_to_text(html, opt), main_text);
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
