#include "clean/html_dom.h"

#include <algorithm>
#include <string>
#include <unordered_map>

#include "clean/entities.h"
#include "clean/html_tags.h"
#include "clean/html_tokenizer.h"
#include "clean/url_scheme.h"

namespace airtune::clean {

namespace {

constexpr size_t kScanLimit = 256;   // how far an end tag looks for its element
constexpr size_t kImpliedScan = 32;  // how far an implied end tag looks

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

bool contains_ci(std::string_view hay, std::string_view needle_lower) {
  if (needle_lower.size() > hay.size()) return false;
  for (size_t i = 0; i + needle_lower.size() <= hay.size(); ++i) {
    size_t k = 0;
    while (k < needle_lower.size()) {
      char c = hay[i + k];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
      if (c != needle_lower[k]) break;
      ++k;
    }
    if (k == needle_lower.size()) return true;
  }
  return false;
}

std::string squeeze_lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (is_ws(c)) continue;
    out.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c);
  }
  return out;
}

constexpr std::string_view kArticleBodyMarks[] = {
    "articlebody",      "article-body",   "article_body", "article__body", "article-content",
    "article__content", "articlecontent", "post-content", "post-body",     "postbody",
    "entry-content",    "story-body",     "storybody",    "story-content", "article-text",
    "articletext",      "body-text",      "post_content", "entry_content",
};

constexpr std::string_view kBoilerRoles[] = {"navigation", "banner",  "contentinfo", "complementary", "dialog",
                                             "menu",       "menubar", "search",      "alertdialog",   "toolbar"};

// Where the builder's output goes. TreeSink stores the tree (build_dom); StreamSink hands every event
// to a visitor and keeps nothing (stream_dom). A sink provides:
//   std::string& text()      buffer the builder appends decoded leaf text to
//   std::string& attrs()     buffer for NodeStrings records (kScopedAttrs: dropped when the element closes)
//   void open(i, node, href) / close(i, node, href) / leaf(kind, i, node, off, len) / bool full()
class TreeSink {
 public:
  static constexpr bool kScopedAttrs = false;

  TreeSink(size_t input_size, size_t max_items) : max_items_(max_items) {
    const size_t guess = std::min(input_size / 32 + 16, max_items);
    dom_.nodes.reserve(guess);
    dom_.leaves.reserve(guess);
    dom_.text.reserve(input_size / 4);
    dom_.attrs.push_back('\0');  // offset 0 is "no record"
  }

  std::string& text() { return dom_.text; }
  std::string& attrs() { return dom_.attrs; }
  bool full() const { return dom_.nodes.size() + dom_.leaves.size() > max_items_; }

  void open(int32_t, const DomNode& node, std::string_view) { dom_.nodes.push_back(node); }
  void close(int32_t index, const DomNode& node, std::string_view) {
    dom_.nodes[static_cast<size_t>(index)].end = node.end;
  }

  void leaf(DomLeaf::Kind kind, int32_t index, const DomNode&, size_t, size_t len) {
    const auto pos = static_cast<uint32_t>(dom_.nodes.size());
    // Adjacent runs of one element (split by a comment or an ignored tag) render as one run.
    if (kind == DomLeaf::kText && !dom_.leaves.empty()) {
      DomLeaf& last = dom_.leaves.back();
      if (last.kind() == DomLeaf::kText && last.node == index && last.pos == pos &&
          last.len() + len <= DomLeaf::kMaxLen) {
        last.kind_len += static_cast<uint32_t>(len);
        return;
      }
    }
    do {
      const auto part = static_cast<uint32_t>(std::min<size_t>(len, DomLeaf::kMaxLen));
      dom_.leaves.push_back({index, pos, static_cast<uint32_t>(kind) << DomLeaf::kLenBits | part});
      len -= part;
    } while (len > 0);
  }

  Dom take(bool complete) {
    dom_.complete = complete;
    return std::move(dom_);
  }

 private:
  Dom dom_;
  size_t max_items_;
};

class StreamSink {
 public:
  static constexpr bool kScopedAttrs = true;

  explicit StreamSink(DomVisitor& visitor) : visitor_(visitor) { attrs_.push_back('\0'); }

  std::string& text() { return text_; }
  std::string& attrs() { return attrs_; }
  bool full() const { return false; }

  void open(int32_t index, const DomNode& node, std::string_view href) { visitor_.open(index, node, href); }
  void close(int32_t index, const DomNode& node, std::string_view href) { visitor_.close(index, node, href); }
  void leaf(DomLeaf::Kind kind, int32_t index, const DomNode& node, size_t off, size_t len) {
    visitor_.leaf(kind, index, node, std::string_view(text_).substr(off, len));
    text_.clear();
  }

 private:
  DomVisitor& visitor_;
  std::string text_;
  std::string attrs_;
};

template <class Sink>
class Builder {
 public:
  Builder(std::string_view html, Sink& sink) : html_(html), sink_(sink) {}

  /// False when the sink filled up before the end of the input.
  bool build() {
    open_count_.assign(kFirstCustomTag + kMaxCustomTags + 1, 0);
    push(DomNode{});
    HtmlTokenizer tokenizer(html_);
    HtmlToken token;
    bool complete = true;
    while (tokenizer.next(token)) {
      switch (token.kind) {
        case TokenKind::kText:
          on_text(token);
          break;
        case TokenKind::kStartTag:
          on_start(token);
          break;
        case TokenKind::kEndTag:
          on_end(token);
          break;
        default:
          break;
      }
      if (sink_.full()) {
        complete = false;
        break;
      }
    }
    while (!stack_.empty()) pop();
    return complete;
  }

 private:
  struct Open {
    int32_t index;
    DomNode node;
  };

  uint16_t tag_id(std::string_view name, bool create) {
    const Tag t = lookup_tag(name);
    if (t != Tag::kUnknown) return static_cast<uint16_t>(t);
    auto it = custom_.find(name);
    if (it != custom_.end()) return it->second;
    if (custom_.size() >= kMaxCustomTags) return static_cast<uint16_t>(kFirstCustomTag + kMaxCustomTags);
    if (!create) return 0;
    const auto id = static_cast<uint16_t>(kFirstCustomTag + custom_.size());
    custom_.emplace(std::string(name), id);
    return id;
  }

  const Open& top() const { return stack_.back(); }
  uint32_t top_tag() const { return top().node.tag; }
  bool top_skipped() const { return (top().node.flags & kNodeSkipped) != 0; }

  std::string_view href(const DomNode& n) const { return NodeStrings::read(sink_.attrs(), n.attr_off).href; }

  void push(const DomNode& node) {
    const int32_t index = next_index_++;
    stack_.push_back({index, node});
    ++open_count_[node.tag];
    sink_.open(index, node, href(node));
  }

  void pop() {
    Open& o = stack_.back();
    o.node.end = next_index_;
    --open_count_[o.node.tag];
    if (o.index == head_) head_ = -1;
    sink_.close(o.index, o.node, href(o.node));
    if constexpr (Sink::kScopedAttrs) {
      if (o.node.attr_off != 0) sink_.attrs().resize(o.node.attr_off);
    }
    stack_.pop_back();
  }

  void pop_through(size_t stack_index) {
    while (stack_.size() > stack_index) pop();
  }

  size_t stack_index_of(int32_t index) const {
    for (size_t k = stack_.size(); k-- > 0;)
      if (stack_[k].index == index) return k;
    return stack_.size();
  }

  // Index in stack_ of the nearest open element with tag `id`, searching at most `limit` entries and
  // stopping at any tag in `stops`; 0 when not found (index 0 is the root, never a match).
  template <size_t N>
  size_t find_open(uint32_t id, size_t limit, const Tag (&stops)[N]) const {
    if (open_count_[id] == 0) return 0;
    for (size_t k = stack_.size() - 1, seen = 0; k >= 1 && seen < limit; --k, ++seen) {
      const uint32_t t = stack_[k].node.tag;
      if (t == id) return k;
      for (Tag s : stops)
        if (t == static_cast<uint32_t>(s)) return 0;
    }
    return 0;
  }

  void close_implied(uint32_t id, uint32_t flags) {
    static constexpr Tag kListStops[] = {Tag::kUl, Tag::kOl, Tag::kMenu, Tag::kDir, Tag::kTable, Tag::kTd, Tag::kTh};
    static constexpr Tag kDlStops[] = {Tag::kDl, Tag::kTable, Tag::kTd, Tag::kTh};
    static constexpr Tag kTableStops[] = {Tag::kTable};
    static constexpr Tag kCellStops[] = {Tag::kTable, Tag::kTr};
    static constexpr Tag kPStops[] = {Tag::kTable, Tag::kTd, Tag::kTh, Tag::kButton, Tag::kCaption, Tag::kTemplate};
    static constexpr Tag kNoStops[] = {Tag::kTable};
    const auto tag = static_cast<Tag>(id);
    if (flags & (kTagBlock | kTagParagraph | kTagList)) {
      if (size_t k = find_open(static_cast<uint32_t>(Tag::kP), kImpliedScan, kPStops)) pop_through(k);
    }
    if (tag == Tag::kLi) {
      if (size_t k = find_open(id, kImpliedScan, kListStops)) pop_through(k);
    } else if (tag == Tag::kDt || tag == Tag::kDd) {
      size_t k = find_open(static_cast<uint32_t>(Tag::kDt), kImpliedScan, kDlStops);
      const size_t k2 = find_open(static_cast<uint32_t>(Tag::kDd), kImpliedScan, kDlStops);
      k = std::max(k, k2);
      if (k) pop_through(k);
    } else if (tag == Tag::kTd || tag == Tag::kTh) {
      size_t k = find_open(static_cast<uint32_t>(Tag::kTd), kImpliedScan, kCellStops);
      const size_t k2 = find_open(static_cast<uint32_t>(Tag::kTh), kImpliedScan, kCellStops);
      k = std::max(k, k2);
      if (k) pop_through(k);
    } else if (tag == Tag::kTr) {
      if (size_t k = find_open(id, kImpliedScan, kTableStops)) pop_through(k);
    } else if (tag == Tag::kTbody || tag == Tag::kThead || tag == Tag::kTfoot) {
      for (Tag s : {Tag::kTbody, Tag::kThead, Tag::kTfoot})
        if (size_t k = find_open(static_cast<uint32_t>(s), kImpliedScan, kTableStops)) pop_through(k);
    } else if (tag == Tag::kA) {
      if (size_t k = find_open(id, kImpliedScan, kNoStops)) pop_through(k);
    } else if (flags & kTagHeading) {
      if (heading_level(top_tag()) > 0) pop();
    }
  }

  void emit_leaf(DomLeaf::Kind kind, size_t off) {
    const size_t len = sink_.text().size() - off;
    sink_.leaf(kind, top().index, top().node, off, len);
  }

  void on_text(const HtmlToken& t) {
    if (head_ >= 0 && top().index == head_) {
      if (std::all_of(t.text.begin(), t.text.end(), is_ws)) return;
      pop_through(stack_index_of(head_));
    }
    if (top_skipped()) return;
    std::string& text = sink_.text();
    const size_t off = text.size();
    if (t.raw_text)
      text.append(t.text);
    else
      append_unescaped(text, t.text);
    if (text.size() > off) emit_leaf(DomLeaf::kText, off);
  }

  void line_break() {
    if (!top_skipped()) emit_leaf(DomLeaf::kLineBreak, sink_.text().size());
  }

  // Appends the NodeStrings record of a new element; returns its offset.
  uint32_t add_strings(std::string_view cls, std::string_view ident, std::string_view href) {
    std::string& a = sink_.attrs();
    const auto off = static_cast<uint32_t>(a.size());
    uint32_t n = 0;
    a.append(4, '\0');
    if (!cls.empty() || !ident.empty()) {
      for (char c : cls) a.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c);
      a.push_back('#');
      for (char c : ident) a.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c);
      n = static_cast<uint32_t>(a.size() - off - 4);
    }
    std::memcpy(a.data() + off, &n, 4);
    const auto m = static_cast<uint32_t>(href.size());
    a.append(reinterpret_cast<const char*>(&m), 4);
    a.append(href);
    return off;
  }

  void on_start(const HtmlToken& t) {
    const uint16_t id = tag_id(t.name, true);
    const uint32_t flags = tag_flags(id);
    const auto tag = static_cast<Tag>(id);
    if (tag == Tag::kHtml) return;
    if (head_ >= 0 && !(flags & kTagHeadOnly)) pop_through(stack_index_of(head_));
    if (tag == Tag::kBody) {
      if (have_body_) return;
      have_body_ = true;
    }
    if (tag == Tag::kHead) {
      if (have_head_ || have_body_ || stack_.size() > 1) return;
      have_head_ = true;
    }
    if (tag == Tag::kBr) return line_break();
    if (tag == Tag::kImg) {
      if (top_skipped()) return;
      // Every image leaves a leaf (an empty one without alt text): main-content scoring counts them.
      const size_t off = sink_.text().size();
      sink_.text().append(t.attribute("alt"));
      return emit_leaf(DomLeaf::kAltText, off);
    }
    if ((flags & kTagVoid) && tag != Tag::kHr) return;
    close_implied(id, flags);
    if (stack_.size() >= kMaxDomDepth) pop();  // too deep: a sibling of the deepest open element

    DomNode node;
    node.parent = top().index;
    node.tag = id;
    node.flags = top().node.flags & (kNodeSkipped | kNodeInPre | kNodeInLink | kNodeHidden);
    if (flags & kTagSkip) node.flags |= kNodeSkipped;
    if (flags & kTagPre) node.flags |= kNodeInPre;
    if (tag == Tag::kOl) node.flags |= kNodeOrderedList;
    if (id >= kFirstCustomTag && t.name.find('-') != std::string_view::npos) node.flags |= kNodeCustomElement;
    std::string_view href;
    if (tag == Tag::kA) {
      node.flags |= kNodeInLink;
      href = t.attribute("href");
      if (is_script_url(href)) node.flags |= kNodeScriptHref;
    }
    bool found = false;
    t.attribute("hidden", &found);
    if (found) node.flags |= kNodeHidden;
    if (contains_ci(t.attribute("aria-hidden"), "true")) node.flags |= kNodeHidden;
    const std::string_view style = t.attribute("style");
    if (!style.empty()) {
      const std::string s = squeeze_lower(style);
      if (s.find("display:none") != std::string::npos || s.find("visibility:hidden") != std::string::npos)
        node.flags |= kNodeHidden;
    }
    if (contains_ci(t.attribute("itemprop"), "articlebody")) node.flags |= kNodeArticleBody;
    const std::string_view role = t.attribute("role");
    if (!role.empty()) {
      const std::string r = squeeze_lower(role);
      for (std::string_view b : kBoilerRoles)
        if (r == b) node.flags |= kNodeRoleBoiler;
    }
    const std::string_view cls = t.attribute("class");
    const std::string_view ident = t.attribute("id");
    if (!cls.empty() || !ident.empty() || !href.empty()) {
      node.attr_off = add_strings(cls, ident, href);
      const std::string_view ci = NodeStrings::read(sink_.attrs(), node.attr_off).class_id;
      for (std::string_view m : kArticleBodyMarks)
        if (ci.find(m) != std::string_view::npos) node.flags |= kNodeArticleBody;
    }
    push(node);
    if (tag == Tag::kHead) head_ = top().index;
    // Void <hr>, and self-closing foreign or custom elements (<svg/>, <my-icon/>), end at once.
    const bool custom = id >= kFirstCustomTag;
    if (tag == Tag::kHr || (t.self_closing && (custom || tag == Tag::kSvg || tag == Tag::kMath))) pop();
  }

  void on_end(const HtmlToken& t) {
    const uint16_t id = tag_id(t.name, false);
    const auto tag = static_cast<Tag>(id);
    if (id == 0 || tag == Tag::kHtml || tag == Tag::kBody) return;
    if (tag == Tag::kBr) return line_break();
    if (open_count_[id] == 0) {
      if (tag == Tag::kP) line_break();
      return;
    }
    static constexpr Tag kScopeStops[] = {Tag::kTable, Tag::kTd, Tag::kTh, Tag::kCaption, Tag::kTemplate};
    static constexpr Tag kTableStops[] = {Tag::kTemplate};
    const uint32_t flags = tag_flags(id);
    size_t k;
    if (tag == Tag::kTable || (flags & (kTagCell | kTagRow)) || tag == Tag::kTbody || tag == Tag::kThead ||
        tag == Tag::kTfoot || tag == Tag::kCaption)
      k = find_open(id, kScanLimit, kTableStops);
    else
      k = find_open(id, kScanLimit, kScopeStops);
    if (k) pop_through(k);
  }

  // Heterogeneous lookup: no std::string is built to look a name up.
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  std::string_view html_;
  Sink& sink_;
  std::vector<Open> stack_;
  std::vector<int32_t> open_count_;
  std::unordered_map<std::string, uint16_t, NameHash, std::equal_to<>> custom_;
  int32_t next_index_ = 0;
  int32_t head_ = -1;
  bool have_body_ = false;
  bool have_head_ = false;
};

}  // namespace

Dom build_dom(std::string_view html, size_t max_items) {
  if (html.size() > kMaxDomInput) html = html.substr(0, kMaxDomInput);
  TreeSink sink(html.size(), max_items);
  const bool complete = Builder<TreeSink>(html, sink).build();
  return sink.take(complete);
}

void stream_dom(std::string_view html, DomVisitor& visitor) {
  if (html.size() > kMaxDomInput) html = html.substr(0, kMaxDomInput);
  StreamSink sink(visitor);
  Builder<StreamSink>(html, sink).build();
}

void replay_dom(const Dom& dom, DomVisitor& visitor) {
  // The open elements at a leaf are exactly its element's ancestors-or-self, and an element opens
  // once all elements before it in document order that are not its ancestors have closed: so the
  // events are the leaves merged with a walk over the nodes (see DomLeaf::pos).
  const auto& nodes = dom.nodes;
  if (nodes.empty()) return;
  std::vector<int32_t> stack;
  auto open = [&](int32_t i) {
    const DomNode& n = nodes[static_cast<size_t>(i)];
    visitor.open(i, n, dom.href(n));
    stack.push_back(i);
  };
  auto close_to = [&](int32_t keep) {
    while (!stack.empty() && stack.back() != keep) {
      const DomNode& n = nodes[static_cast<size_t>(stack.back())];
      visitor.close(stack.back(), n, dom.href(n));
      stack.pop_back();
    }
  };
  int32_t next = 0;
  auto open_until = [&](int32_t pos) {
    for (; next < pos; ++next) {
      if (next > 0) close_to(nodes[static_cast<size_t>(next)].parent);
      open(next);
    }
  };
  dom.for_each_leaf([&](const DomLeaf& leaf, std::string_view text) {
    open_until(static_cast<int32_t>(leaf.pos));
    close_to(leaf.node);
    visitor.leaf(leaf.kind(), leaf.node, nodes[static_cast<size_t>(leaf.node)], text);
  });
  open_until(static_cast<int32_t>(nodes.size()));
  close_to(-1);
}

}  // namespace airtune::clean
