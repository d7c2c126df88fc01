// HtmlTokenizer, character references and charset sniffing.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "clean/charset.h"
#include "clean/entities.h"
#include "clean/html_tokenizer.h"

namespace airtune::clean {
namespace {

std::vector<std::string> kinds(std::string_view html) {
  HtmlTokenizer t(html);
  HtmlToken tok;
  std::vector<std::string> out;
  while (t.next(tok)) {
    switch (tok.kind) {
      case TokenKind::kText:
        out.push_back("T:" + std::string(tok.text));
        break;
      case TokenKind::kStartTag:
        out.push_back("S:" + std::string(tok.name) + (tok.self_closing ? "/" : ""));
        break;
      case TokenKind::kEndTag:
        out.push_back("E:" + std::string(tok.name));
        break;
      case TokenKind::kComment:
        out.push_back("C:" + std::string(tok.text));
        break;
      case TokenKind::kDoctype:
        out.push_back("D");
        break;
    }
  }
  return out;
}

TEST(CleanTokenizer, BasicStream) {
  using V = std::vector<std::string>;
  EXPECT_EQ(kinds("<!DOCTYPE html><P Class=x>Hi<BR/></p><!-- c -->"), (V{"D", "S:p", "T:Hi", "S:br/", "E:p", "C: c "}));
  EXPECT_EQ(kinds("a < b <3 </ x>"), (V{"T:a ", "T:< b ", "T:<3 ", "C: x"}));
  EXPECT_EQ(kinds("<![CDATA[x<y]]>z"), (V{"C:x<y", "T:z"}));
  EXPECT_EQ(kinds("<?xml version='1.0'?>t"), (V{"C:xml version='1.0'?", "T:t"}));
}

TEST(CleanTokenizer, Attributes) {
  HtmlTokenizer t(R"(<a HREF="x y" data-k='v>w' flag checked=yes title=a&amp;b>)");
  HtmlToken tok;
  ASSERT_TRUE(t.next(tok));
  EXPECT_EQ(tok.kind, TokenKind::kStartTag);
  EXPECT_EQ(tok.attribute("href"), "x y");
  EXPECT_EQ(tok.attribute("data-k"), "v>w");
  bool found = false;
  EXPECT_EQ(tok.attribute("flag", &found), "");
  EXPECT_TRUE(found);
  EXPECT_EQ(tok.attribute("checked"), "yes");
  EXPECT_EQ(tok.attribute("title"), "a&b");  // decoded, as the DOM holds it
  EXPECT_FALSE(t.next(tok));
}

TEST(CleanTokenizer, AttributeValuesAreDecodedAsInTheDom) {
  auto value = [](std::string_view tag) {
    HtmlTokenizer t(tag);
    HtmlToken tok;
    EXPECT_TRUE(t.next(tok));
    return std::string(tok.attribute("v"));
  };
  EXPECT_EQ(value("<a v='https://x.org/?a=1&amp;b=2&lt;3'>"), "https://x.org/?a=1&b=2<3");
  // Numeric references need no ';'; named legacy ones stay literal before an alphanumeric or '='.
  EXPECT_EQ(value("<a v=&#x6A&#97;vascript&colon;>"), "javascript:");
  EXPECT_EQ(value("<a v='?x=1&copy=2&copyz&copy;&copy-&notin;&notit'>"),
            "?x=1&copy=2&copyz\xC2\xA9\xC2\xA9-\xE2\x88\x89&notit");
  EXPECT_EQ(value("<a v=\"&amp&ampx &amp \">"), "&&ampx & ");
  // Input-stream preprocessing: CR LF and CR are LF, NUL is U+FFFD; a reference to CR stays CR.
  EXPECT_EQ(value(std::string_view("<a v='a\r\nb\rc\0d&#13;'>", 22)),
            "a\nb\nc\xEF\xBF\xBD"
            "d\r");
  // End tags have no attributes; a value without references is a view into the input.
  const std::string html = "<a v='plain' w='&amp;'>";
  HtmlTokenizer t(html);
  HtmlToken tok;
  ASSERT_TRUE(t.next(tok));
  EXPECT_EQ(tok.attribute("v").data(), html.data() + 6);
  EXPECT_EQ(tok.attribute("w"), "&");
}

TEST(CleanTokenizer, RawTextElements) {
  using V = std::vector<std::string>;
  EXPECT_EQ(kinds("<script>if (a<b) x='</div>';</script>t"),
            (V{"S:script", "T:if (a<b) x='</div>';", "E:script", "T:t"}));
  EXPECT_EQ(kinds("<style>p{}</STYLE >x"), (V{"S:style", "T:p{}", "E:style", "T:x"}));
  EXPECT_EQ(kinds("<script>never closed <p>"), (V{"S:script", "T:never closed <p>"}));
  EXPECT_EQ(kinds("<plaintext><b>all text"), (V{"S:plaintext", "T:<b>all text"}));
}

TEST(CleanTokenizer, UnterminatedConstructsEndTheInput) {
  using V = std::vector<std::string>;
  EXPECT_EQ(kinds("x<div class='a"), (V{"T:x"}));
  EXPECT_EQ(kinds("x<!-- open"), (V{"T:x", "C: open"}));
  EXPECT_EQ(kinds("x<"), (V{"T:x", "T:<"}));
  EXPECT_EQ(kinds("<a"), V{});
}

TEST(CleanEntities, NamedNumericLegacy) {
  std::string out;
  append_unescaped(out, "&amp;&lt;&eacute;&#233;&#xE9;&#X2014;&copy &notit; &bogus; &#0; &#x110000; &#150;");
  EXPECT_EQ(
      out, "&<\xC3\xA9\xC3\xA9\xC3\xA9\xE2\x80\x94\xC2\xA9 \xC2\xACit; &bogus; \xEF\xBF\xBD \xEF\xBF\xBD \xE2\x80\x93");
  out.clear();
  append_unescaped(out, "?a=1&copy=2", /*in_attribute=*/true);
  EXPECT_EQ(out, "?a=1&copy=2");
}

TEST(CleanCharset, SniffAndDecode) {
  bool declared = false;
  EXPECT_EQ(sniff_charset("<meta charset=\"ISO-8859-1\">", declared), Charset::kWindows1252);
  EXPECT_TRUE(declared);
  EXPECT_EQ(sniff_charset("<meta http-equiv=content-type content='text/html; charset=utf-8'>", declared),
            Charset::kUtf8);
  EXPECT_EQ(sniff_charset("no declaration", declared), Charset::kUtf8);
  EXPECT_FALSE(declared);
  std::string storage;
  EXPECT_EQ(decode_to_utf8("<meta charset=windows-1252>caf\xE9 \x80", storage),
            "<meta charset=windows-1252>caf\xC3\xA9 \xE2\x82\xAC");
  EXPECT_EQ(decode_to_utf8("na\xEFve", storage), "na\xC3\xAFve");  // undeclared, invalid UTF-8
  EXPECT_EQ(decode_to_utf8("<meta charset=utf-8>a\xFF", storage), "<meta charset=utf-8>a\xEF\xBF\xBD");
  EXPECT_EQ(decode_to_utf8(std::string_view("\xFF\xFE"
                                            "a\0\xE9\0",
                                            6),
                           storage),
            "a\xC3\xA9");
  // Single-byte legacy encodings: windows-1251 and koi8-r Cyrillic, iso-8859-2 Polish.
  EXPECT_EQ(decode_to_utf8("<meta charset=windows-1251>\xCC\xEE\xF1\xEA\xE2\xE0", storage),
            "<meta charset=windows-1251>\xD0\x9C\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0");  // Москва
  EXPECT_EQ(decode_to_utf8("<meta charset=KOI8-R>\xED\xCF\xD3\xCB\xD7\xC1", storage),
            "<meta charset=KOI8-R>\xD0\x9C\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0");
  EXPECT_EQ(decode_to_utf8("<meta charset=iso-8859-2>\xB3\xF3"
                           "d\xBC",
                           storage),
            "<meta charset=iso-8859-2>\xC5\x82\xC3\xB3"
            "d\xC5\xBA");  // łódź
  EXPECT_EQ(sniff_charset("<meta charset=shift_jis>", declared), Charset::kOther);
  // Valid UTF-8 wins over a latin-1 declaration.
  EXPECT_EQ(decode_to_utf8("<meta charset=latin1>\xC3\xA9", storage), "<meta charset=latin1>\xC3\xA9");
}

}  // namespace
}  // namespace airtune::clean
