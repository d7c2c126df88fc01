#include "clean/html_dom.h"

#include <algorithm>
#include <string>
#include <unordered_map>

#include "clean/entities.h"
#include "clean/html_tags.h"
#include "clean/html_tokenizer.h"

namespace airtune::clean {

namespace {

constexpr size_t kMaxInput = size_t{1} << 30;  // offsets are 32-bit; decoded text can grow a little
constexpr size_t kScanLimit = 256;             // how far an end tag looks for its element
constexpr size_t kImpliedScan = 32;            // how far an implied end tag looks

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

class Builder {
 public:
  explicit Builder(std::string_view html) : html_(html) {}

  Dom build() {
    dom_.nodes.reserve(html_.size() / 40 + 16);
    dom_.events.reserve(html_.size() / 20 + 16);
    dom_.text.reserve(html_.size() / 2);
    dom_.nodes.push_back(DomNode{});
    dom_.events.push_back({DomEvent::kOpen, 0});
    stack_.push_back(0);
    open_count_.assign(kFirstCustomTag, 0);
    HtmlTokenizer tokenizer(html_);
    HtmlToken token;
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
    }
    while (stack_.size() > 1) pop();
    dom_.nodes[0].end = static_cast<int32_t>(dom_.nodes.size());
    dom_.events.push_back({DomEvent::kClose, 0});
    return std::move(dom_);
  }

 private:
  uint32_t tag_id(std::string_view name, bool create) {
    const Tag t = lookup_tag(name);
    if (t != Tag::kUnknown) return static_cast<uint32_t>(t);
    auto it = custom_.find(std::string(name));
    if (it != custom_.end()) return it->second;
    if (!create) return 0;
    const auto id = static_cast<uint32_t>(open_count_.size());
    custom_.emplace(std::string(name), id);
    open_count_.push_back(0);
    return id;
  }

  uint32_t top_tag() const { return dom_.nodes[stack_.back()].tag; }
  bool top_skipped() const { return (dom_.nodes[stack_.back()].flags & kNodeSkipped) != 0; }

  void pop() {
    const int32_t node = stack_.back();
    stack_.pop_back();
    DomNode& n = dom_.nodes[node];
    n.end = static_cast<int32_t>(dom_.nodes.size());
    --open_count_[n.tag];
    if (node == head_) head_ = -1;
    dom_.events.push_back({DomEvent::kClose, node});
  }

  void pop_through(size_t stack_index) {
    while (stack_.size() > stack_index) pop();
  }

  // Index in stack_ of the nearest open element with tag `id`, searching at most `limit` entries and
  // stopping at any tag in `stops`; 0 when not found (index 0 is the root, never a match).
  template <size_t N>
  size_t find_open(uint32_t id, size_t limit, const Tag (&stops)[N]) const {
    if (open_count_[id] == 0) return 0;
    for (size_t k = stack_.size() - 1, seen = 0; k >= 1 && seen < limit; --k, ++seen) {
      const uint32_t t = dom_.nodes[stack_[k]].tag;
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

  uint32_t add_attr_string(std::string_view s) {
    const auto off = static_cast<uint32_t>(dom_.attrs.size());
    dom_.attrs.append(s);
    return off;
  }

  void add_text_event(DomEvent::Kind kind, std::string_view raw, bool decode) {
    const auto off = static_cast<uint32_t>(dom_.text.size());
    if (decode)
      append_unescaped(dom_.text, raw);
    else
      dom_.text.append(raw);
    const auto len = static_cast<uint32_t>(dom_.text.size() - off);
    if (len == 0) return;
    dom_.events.push_back({kind, stack_.back(), off, len});
  }

  void on_text(const HtmlToken& t) {
    if (head_ >= 0 && stack_.back() == head_) {
      if (std::all_of(t.text.begin(), t.text.end(), is_ws)) return;
      pop_through(static_cast<size_t>(std::find(stack_.begin(), stack_.end(), head_) - stack_.begin()));
    }
    if (top_skipped()) return;
    add_text_event(DomEvent::kText, t.text, !t.raw_text);
  }

  void on_start(const HtmlToken& t) {
    const uint32_t id = tag_id(t.name, true);
    const uint32_t flags = tag_flags(id);
    const auto tag = static_cast<Tag>(id);
    if (tag == Tag::kHtml) return;
    if (head_ >= 0 && !(flags & kTagHeadOnly)) {
      pop_through(static_cast<size_t>(std::find(stack_.begin(), stack_.end(), head_) - stack_.begin()));
    }
    if (tag == Tag::kBody) {
      if (have_body_) return;
      have_body_ = true;
    }
    if (tag == Tag::kHead) {
      if (have_head_ || have_body_ || stack_.size() > 1) return;
      have_head_ = true;
    }
    if (tag == Tag::kBr) {
      if (!top_skipped()) dom_.events.push_back({DomEvent::kLineBreak, stack_.back()});
      return;
    }
    if (tag == Tag::kImg) {
      if (top_skipped()) return;
      // Every image leaves an event (an empty one without alt text): main-content scoring counts them.
      const auto off = static_cast<uint32_t>(dom_.text.size());
      append_unescaped(dom_.text, t.attribute("alt"), true);
      dom_.events.push_back({DomEvent::kAltText, stack_.back(), off, static_cast<uint32_t>(dom_.text.size() - off)});
      return;
    }
    if ((flags & kTagVoid) && tag != Tag::kHr) return;
    close_implied(id, flags);

    DomNode node;
    node.parent = stack_.back();
    node.tag = id;
    const DomNode& parent = dom_.nodes[node.parent];
    node.flags = parent.flags & (kNodeSkipped | kNodeInPre | kNodeInLink | kNodeHidden);
    if (flags & kTagSkip) node.flags |= kNodeSkipped;
    if (flags & kTagPre) node.flags |= kNodeInPre;
    if (tag == Tag::kOl) node.flags |= kNodeOrderedList;
    if (id >= kFirstCustomTag && t.name.find('-') != std::string_view::npos) node.flags |= kNodeCustomElement;
    if (tag == Tag::kA) {
      node.flags |= kNodeInLink;
      const std::string_view href = t.attribute("href");
      std::string_view h = href;
      while (!h.empty() && is_ws(h.front())) h.remove_prefix(1);
      if (contains_ci(h.substr(0, std::min<size_t>(h.size(), 11)), "javascript:")) node.flags |= kNodeJavascriptHref;
      node.href_off = add_attr_string(href);
      node.href_len = static_cast<uint32_t>(href.size());
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
    if (!cls.empty() || !ident.empty()) {
      node.attr_off = static_cast<uint32_t>(dom_.attrs.size());
      for (char c : cls) dom_.attrs.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c);
      dom_.attrs.push_back('#');
      for (char c : ident) dom_.attrs.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c);
      node.attr_len = static_cast<uint32_t>(dom_.attrs.size() - node.attr_off);
      const std::string_view ci = dom_.class_id(node);
      for (std::string_view m : kArticleBodyMarks)
        if (ci.find(m) != std::string_view::npos) node.flags |= kNodeArticleBody;
    }
    const auto index = static_cast<int32_t>(dom_.nodes.size());
    dom_.nodes.push_back(node);
    dom_.events.push_back({DomEvent::kOpen, index});
    stack_.push_back(index);
    ++open_count_[id];
    if (tag == Tag::kHead) head_ = index;
    // Void <hr>, and self-closing foreign or custom elements (<svg/>, <my-icon/>), end at once.
    const bool custom = id >= kFirstCustomTag;
    if (tag == Tag::kHr || (t.self_closing && (custom || tag == Tag::kSvg || tag == Tag::kMath))) pop();
  }

  void on_end(const HtmlToken& t) {
    const uint32_t id = tag_id(t.name, false);
    const auto tag = static_cast<Tag>(id);
    if (id == 0 || tag == Tag::kHtml || tag == Tag::kBody) return;
    if (tag == Tag::kBr) {
      if (!top_skipped()) dom_.events.push_back({DomEvent::kLineBreak, stack_.back()});
      return;
    }
    if (open_count_[id] == 0) {
      if (tag == Tag::kP && !top_skipped()) dom_.events.push_back({DomEvent::kLineBreak, stack_.back()});
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

  std::string_view html_;
  Dom dom_;
  std::vector<int32_t> stack_;
  std::vector<int32_t> open_count_;
  std::unordered_map<std::string, uint32_t> custom_;
  int32_t head_ = -1;
  bool have_body_ = false;
  bool have_head_ = false;
};

}  // namespace

Dom build_dom(std::string_view html) {
  if (html.size() > kMaxInput) html = html.substr(0, kMaxInput);
  return Builder(html).build();
}

}  // namespace airtune::clean
