// HTML to plain text: the whole visible text of a page, or only its main content.
//
// Always removed: script, style, noscript, template, svg, math, iframe, object, head/title, form
// selects and text areas, comments, CDATA, JSON-LD (it lives in <script>), CSS, event-handler
// attributes and javascript: URLs (attributes never become text). Block elements become line breaks,
// paragraphs and headings become blank-line separated paragraphs, list items get a bullet (or their
// number in <ol>), table cells are separated by a tab and rows by a line break. Whitespace is collapsed
// except inside <pre>; the result has no trailing spaces on lines and no leading/trailing blank lines.
//
// Robustness: any bytes are accepted. Raw bytes are decoded by charset.h (BOM, <meta charset>,
// windows-1252 fallback); the output is always valid UTF-8. Time is linear in the input (no
// recursion: 100,000 nested tags are fine), and the extraction never throws on any input.
//
// Memory, besides the output and one decoded copy of the input (for bytes in another charset or
// invalid UTF-8): full mode streams the page (html_dom.h's stream_dom: the open elements, the current
// token) and holds nothing per element. Main-content selection needs the page's tree: about 80 bytes
// per element and per text run together with its scores, at most max_tree_items of them; a page
// with more is extracted as in full mode (such a page is not an article: a whole site dump, a
// generated listing, an attack).
//
// Thread safety: pure functions. html_to_text_batch runs documents in parallel inside airtune's
// oneTBB arena; results do not depend on the number of threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace airtune::clean {

enum class ExtractMode { kFull, kMainContent };
enum class HeadingStyle { kPlain, kMarkdown };

struct HtmlToTextOptions {
  ExtractMode mode = ExtractMode::kMainContent;
  bool links = false;                            ///< write links as [text](url) (never javascript:, vbscript:, data:)
  bool alt_texts = false;                        ///< write the alt text of images
  HeadingStyle headings = HeadingStyle::kPlain;  ///< kMarkdown prefixes headings with '#' x level
  bool list_bullets = true;                      ///< prefix list items with "• " (ul) or "N. " (ol)
  bool keep_hidden = false;                      ///< keep elements hidden by attributes or inline display:none
  /// kMainContent: elements + text runs of the tree it may hold; a larger page is extracted in full.
  size_t max_tree_items = size_t{1} << 22;
};

/// Text of one page. `is_bytes` = the input is raw page bytes whose charset must be sniffed;
/// false = the input is already UTF-8 text (a Python str): invalid sequences become U+FFFD.
std::string html_to_text(std::string_view html, const HtmlToTextOptions& options, bool is_bytes = false);

/// Text of many pages, in parallel. `is_bytes` is empty (all text) or one flag per page.
std::vector<std::string> html_to_text_batch(const std::vector<std::string_view>& pages,
                                            const std::vector<uint8_t>& is_bytes, const HtmlToTextOptions& options);

}  // namespace airtune::clean
