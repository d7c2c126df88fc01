// A flat, tolerant element tree built from HtmlTokenizer tokens, for text extraction.
//
// Nodes live in one vector in document order, so a node's descendants are the index range
// (i, nodes[i].end) and its parent has a smaller index: bottom-up passes are a reverse loop, top-down
// passes a forward loop, and nothing recurses however deep the nesting (100,000 levels cost
// 100,000 nodes, no stack). The document's reading order is kept as a flat event list (open,
// close, text, line break) that is always properly nested.
//
// Tree construction follows the browser rules that matter for text: void elements, implied end
// tags (p, li, dt/dd, td/th, tr, option, a, headings), end tags that close back to the matching open
// element (or are ignored when none is open), <head> closed by body content, duplicate <html>/<body>
// merged, and everything left open closed at the end. Each end tag pops at most the elements pushed
// before it, so the whole build is linear in the input.
//
// Text is stored with character references decoded but whitespace as in the source. Content of
// elements that are never text (script, style, svg, template, head, form selects, ...) is dropped
// while building. Memory: O(input) (nodes + events + decoded text).
//
// Thread safety: build_dom is a pure function; a Dom is immutable after building.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace airtune::clean {

/// Per-node bit flags computed while building.
enum NodeFlag : uint32_t {
  kNodeHidden = 1u << 0,          ///< hidden attribute, aria-hidden=true, display:none, visibility:hidden
  kNodeSkipped = 1u << 1,         ///< inside an element whose content is never text
  kNodeInPre = 1u << 2,           ///< inside <pre> (whitespace kept)
  kNodeInLink = 1u << 3,          ///< inside <a>
  kNodeArticleBody = 1u << 4,     ///< itemprop=articleBody or a well-known article-body class/id
  kNodeRoleBoiler = 1u << 5,      ///< role = navigation, banner, contentinfo, complementary, dialog, menu...
  kNodeOrderedList = 1u << 6,     ///< <ol>
  kNodeJavascriptHref = 1u << 7,  ///< <a href="javascript:...">
  kNodeCustomElement = 1u << 8,   ///< a custom element (its name has a '-', e.g. <share-bar>)
};

struct DomNode {
  int32_t parent = -1;    ///< -1 for the root (the document)
  int32_t end = 0;        ///< one past the index of the last descendant
  uint32_t tag = 0;       ///< Tag id (see html_tags.h) or a custom id >= kFirstCustomTag
  uint32_t flags = 0;     ///< NodeFlag bits
  uint32_t attr_off = 0;  ///< lower-cased "<class>#<id>": Dom::attrs[attr_off, +attr_len)
  uint32_t attr_len = 0;
  uint32_t href_off = 0;  ///< href of <a> (raw): Dom::attrs[href_off, +href_len)
  uint32_t href_len = 0;
};

struct DomEvent {
  enum Kind : uint8_t { kOpen, kClose, kText, kLineBreak, kAltText };
  Kind kind;
  int32_t node;           ///< kOpen/kClose: that node; kText/kLineBreak/kAltText: the enclosing node
  uint32_t text_off = 0;  ///< kText/kAltText: Dom::text[text_off, +text_len)
  uint32_t text_len = 0;
};

struct Dom {
  std::vector<DomNode> nodes;    ///< nodes[0] is the document root
  std::vector<DomEvent> events;  ///< reading order
  std::string text;              ///< decoded text of all text events
  std::string attrs;             ///< class/id strings and hrefs

  std::string_view class_id(const DomNode& n) const { return std::string_view(attrs).substr(n.attr_off, n.attr_len); }
  std::string_view href(const DomNode& n) const { return std::string_view(attrs).substr(n.href_off, n.href_len); }
  std::string_view event_text(const DomEvent& e) const { return std::string_view(text).substr(e.text_off, e.text_len); }
};

/// Builds the tree of valid UTF-8 `html`. Never throws on any input (only std::bad_alloc).
/// Inputs over 1 GiB are cut at 1 GiB (offsets are 32-bit and decoding can grow the text).
Dom build_dom(std::string_view html);

}  // namespace airtune::clean
