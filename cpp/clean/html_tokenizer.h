// A streaming HTML tokenizer that tolerates real-world markup.
//
// It splits a UTF-8 (or any ASCII-compatible) byte string into text runs, start tags with their
// attributes, end tags, comments and doctypes, following the shape of the WHATWG tokenizer:
//   - <script>, <style>, <textarea>, <title>, <xmp>, <iframe>, <noembed>, <noframes>, <noscript>
//     switch to raw text until the matching end tag; <plaintext> makes the rest of the input text;
//   - comments <!-- -->, bogus comments (<? ...>, </ 1>, <!x>) and <![CDATA[ ... ]]> are skipped as
//     comments; a '<' that does not start a tag is text;
//   - attributes may be double-, single- or un-quoted; a construct left open at the end of the input
//     is dropped (an unterminated tag) or ends the input (an unterminated comment or raw text).
// No tree is built here, nothing recurses, and every step consumes input: time is linear in the input
// and the memory held is one token.
//
// Views in a Token point into the input (which must outlive the tokenizer) or into the token's own
// storage, and stay valid until the next call to next(). Tag and attribute names are lower-cased
// ASCII. Attribute values are what a browser's DOM holds: character references decoded with the
// attribute rule (a legacy name without ';' stays literal before an alphanumeric or '='), CR LF and
// CR read as LF, U+0000 as U+FFFD. Text is raw (the tree builder decodes it). Thread safety: one
// tokenizer per thread; different tokenizers share nothing.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace airtune::clean {

enum class TokenKind { kText, kStartTag, kEndTag, kComment, kDoctype };

struct HtmlAttribute {
  std::string_view name;   ///< lower-cased (view into Token::name_storage)
  std::string_view value;  ///< the value, quotes removed, decoded as in the DOM (see above)
};

struct HtmlToken {
  TokenKind kind = TokenKind::kText;
  std::string_view text;                  ///< kText: the raw text (entities not decoded); kComment: its body
  std::string_view name;                  ///< tags: lower-cased tag name
  std::vector<HtmlAttribute> attributes;  ///< start tags only
  bool self_closing = false;              ///< start tag ended with "/>"
  bool raw_text = false;                  ///< kText from inside a raw-text element (script, style, ...)
  size_t offset = 0;                      ///< byte offset of the token in the input

  /// The value of attribute `lower_name` or an empty view; `found` tells them apart.
  std::string_view attribute(std::string_view lower_name, bool* found = nullptr) const;

  std::string name_storage;   ///< lower-cased names of the tag and attributes (internal)
  std::string value_storage;  ///< decoded attribute values that differ from their source (internal)
};

class HtmlTokenizer {
 public:
  explicit HtmlTokenizer(std::string_view html);

  /// Fills `token` with the next token; false at the end of the input.
  bool next(HtmlToken& token);

  size_t position() const noexcept { return pos_; }

 private:
  bool lex_tag(HtmlToken& token, size_t start);
  bool lex_markup_declaration(HtmlToken& token, size_t start);
  bool emit_raw_text(HtmlToken& token);
  bool needs_decoding(std::string_view value) const;

  std::string_view html_;
  size_t pos_ = 0;
  std::string raw_end_;  ///< while inside a raw-text element: its lower-cased name
  bool plaintext_ = false;
  bool cr_or_nul_;  ///< the input has a CR or NUL (then values are checked for them too)
};

/// Appends the attribute value `raw` (quotes removed) to `out` as the DOM holds it: character
/// references decoded with the attribute rule, CR LF and CR as LF, U+0000 as U+FFFD.
void append_attribute_value(std::string& out, std::string_view raw);

/// True for tags whose content the tokenizer reads as raw text.
bool is_raw_text_tag(std::string_view lower_name) noexcept;

}  // namespace airtune::clean
