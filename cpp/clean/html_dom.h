// A flat, tolerant element tree built from HtmlTokenizer tokens, for text extraction.
//
// Nodes live in one vector in document order, so a node's descendants are the index range
// (i, nodes[i].end) and its parent has a smaller index: bottom-up passes are a reverse loop, top-down
// passes a forward loop, and nothing recurses however deep the nesting. The document's content
// (text runs, line breaks, images) is a flat list of leaves in reading order; each leaf names its
// enclosing element and how many elements were opened before it, which is all it takes to replay
// the open/close events around it (replay_dom), so they are not stored.
//
// Tree construction follows the browser rules that matter for text: void elements, implied end
// tags (p, li, dt/dd, td/th, tr, option, a, headings), end tags that close back to the matching open
// element (or are ignored when none is open), <head> closed by body content, duplicate <html>/<body>
// merged, and everything left open closed at the end. Each end tag pops at most the elements pushed
// before it, so the whole build is linear in the input. As in browsers, nesting is capped
// (kMaxDomDepth): an element that would be deeper becomes a sibling of the deepest open one.
// Distinct custom element names get ids up to a cap (kMaxCustomTags); further names share one id.
//
// Text is stored with character references decoded but whitespace as in the source; attribute values
// are decoded by the tokenizer. Content of elements that are never text (script, style, svg,
// template, head, form selects, ...) is dropped while building.
//
// Memory: build_dom holds 16 bytes per element, 12 per leaf, the decoded text and the class/id and
// href strings (at most the input plus 8 bytes per element), and stops once `max_items` elements +
// leaves are exceeded (Dom::complete is then false). stream_dom holds only the open elements (at most
// kMaxDomDepth) and the current token: O(1) in the size of the input.
//
// Thread safety: build_dom, stream_dom and replay_dom are pure functions; a Dom is immutable after
// building.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace airtune::clean {

/// Per-node bit flags computed while building.
enum NodeFlag : uint16_t {
  kNodeHidden = 1u << 0,         ///< hidden attribute, aria-hidden=true, display:none, visibility:hidden
  kNodeSkipped = 1u << 1,        ///< inside an element whose content is never text
  kNodeInPre = 1u << 2,          ///< inside <pre> (whitespace kept)
  kNodeInLink = 1u << 3,         ///< inside <a>
  kNodeArticleBody = 1u << 4,    ///< itemprop=articleBody or a well-known article-body class/id
  kNodeRoleBoiler = 1u << 5,     ///< role = navigation, banner, contentinfo, complementary, dialog, menu...
  kNodeOrderedList = 1u << 6,    ///< <ol>
  kNodeScriptHref = 1u << 7,     ///< <a href> with a javascript:, vbscript: or data: URL (url_scheme.h)
  kNodeCustomElement = 1u << 8,  ///< a custom element (its name has a '-', e.g. <share-bar>)
};

constexpr size_t kMaxDomDepth = 4096;      ///< open elements at most (Blink's cap is 512)
constexpr uint32_t kMaxCustomTags = 4096;  ///< distinct custom element names with their own id

struct DomNode {
  int32_t parent = -1;    ///< -1 for the root (the document)
  int32_t end = 0;        ///< one past the index of the last descendant
  uint16_t tag = 0;       ///< Tag id (see html_tags.h) or a custom id >= kFirstCustomTag
  uint16_t flags = 0;     ///< NodeFlag bits
  uint32_t attr_off = 0;  ///< its class/id and href record in Dom::attrs (0: none; see Dom::class_id)
};

/// Content in reading order: a text run, a line break (<br>, a stray </p>) or an image (its alt text,
/// possibly empty).
struct DomLeaf {
  enum Kind : uint32_t { kText = 0, kLineBreak = 1, kAltText = 2 };
  static constexpr uint32_t kLenBits = 30;
  static constexpr uint32_t kMaxLen = (1u << kLenBits) - 1;  ///< longer runs are split

  int32_t node;       ///< the enclosing element
  uint32_t pos;       ///< elements opened before it: it comes after the open event of node pos - 1
  uint32_t kind_len;  ///< kind << kLenBits | bytes of text (kText, kAltText)

  Kind kind() const { return static_cast<Kind>(kind_len >> kLenBits); }
  uint32_t len() const { return kind_len & kMaxLen; }
};

/// Attribute strings of an element: "<class>#<id>" lower-cased, and the decoded href. Both are stored
/// as a 4-byte length and the bytes, at DomNode::attr_off.
struct NodeStrings {
  std::string_view class_id;
  std::string_view href;

  static NodeStrings read(std::string_view attrs, uint32_t off) {
    if (off == 0) return {};
    uint32_t n;
    std::memcpy(&n, attrs.data() + off, 4);
    const std::string_view class_id = attrs.substr(off + 4, n);
    uint32_t m;
    std::memcpy(&m, attrs.data() + off + 4 + n, 4);
    return {class_id, attrs.substr(off + 8 + n, m)};
  }
};

struct Dom {
  std::vector<DomNode> nodes;   ///< nodes[0] is the document root
  std::vector<DomLeaf> leaves;  ///< reading order
  std::string text;             ///< decoded text of all leaves, back to back in leaf order
  std::string attrs;            ///< NodeStrings records (offset 0 is never a record)
  bool complete = true;         ///< false: the build stopped at max_items (the tree covers a prefix)

  std::string_view class_id(const DomNode& n) const { return NodeStrings::read(attrs, n.attr_off).class_id; }
  std::string_view href(const DomNode& n) const { return NodeStrings::read(attrs, n.attr_off).href; }

  /// Calls f(leaf, text) for every leaf in order (the text offsets are the running sum of lengths).
  template <class F>
  void for_each_leaf(F&& f) const {
    size_t off = 0;
    for (const DomLeaf& leaf : leaves) {
      f(leaf, std::string_view(text).substr(off, leaf.len()));
      off += leaf.len();
    }
  }
};

/// The reading-order events of a page: every element opened and closed (properly nested, the root
/// first and last) with leaves in between. `node` is the element's record with `end` final on close;
/// `index` its position in document order; `href` its decoded href (empty if none).
class DomVisitor {
 public:
  virtual ~DomVisitor() = default;
  virtual void open(int32_t index, const DomNode& node, std::string_view href) = 0;
  virtual void close(int32_t index, const DomNode& node, std::string_view href) = 0;
  /// A leaf inside the element `node` (its index: `index`).
  virtual void leaf(DomLeaf::Kind kind, int32_t index, const DomNode& node, std::string_view text) = 0;
};

/// Inputs over 1 GiB are cut at 1 GiB (offsets are 32-bit).
constexpr size_t kMaxDomInput = size_t{1} << 30;

/// Builds the tree of valid UTF-8 `html`, stopping once it holds more than `max_items` elements + leaves
/// (then Dom::complete is false). Never throws on any input (only std::bad_alloc).
Dom build_dom(std::string_view html, size_t max_items = SIZE_MAX);

/// The events build_dom + replay_dom would give, without storing the tree (memory: see above).
void stream_dom(std::string_view html, DomVisitor& visitor);

/// The events of a built tree, in reading order.
void replay_dom(const Dom& dom, DomVisitor& visitor);

}  // namespace airtune::clean
