#include "clean/main_content.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "clean/html_tags.h"

namespace airtune::clean {

namespace {

constexpr size_t kTopCandidates = 5;
constexpr float kMinParagraph = 25.0f;
constexpr float kMaxRemovedShare = 0.5f;

// Class/id vocabulary (lower case, substring match), after Readability's regular expressions.
constexpr std::string_view kUnlikely[] = {
    "-ad-",         "ai2html",   "banner",     "breadcrumb",   "combx",       "comment",    "community",  "cover-wrap",
    "disqus",       "extra",     "footer",     "gdpr",         "header",      "legends",    "menu",       "related",
    "remark",       "replies",   "rss",        "shoutbox",     "sidebar",     "skyscraper", "social",     "sponsor",
    "supplemental", "ad-break",  "agegate",    "pagination",   "pager",       "popup",      "yom-remote", "masthead",
    "navbar",       "subscribe", "signup",     "byline",       "toolbar",     "skip-link",  "skiplink",   "dateline",
    "timestamp",    "post-meta", "entry-meta", "article-meta", "author-info", "author-bio", "tag-list",   "tags-list"};
constexpr std::string_view kMaybe[] = {"and", "article", "body", "column", "content", "main", "shadow"};
// Removed even when a "maybe" word is present (e.g. "article-share").
constexpr std::string_view kAlwaysBoiler[] = {
    "cookie",  "consent",     "share",        "sharing",   "newsletter",      "outbrain",
    "taboola", "recommended", "more-stories", "read-more", "readmore",        "modal",
    "promo",   "advert",      "print-only",   "sr-only",   "visually-hidden", "screen-reader"};
constexpr std::string_view kNegative[] = {
    "-ad-",     "banner",   "combx",  "comment", "com-",   "contact", "footer",   "gdpr",    "masthead",   "media",
    "meta",     "outbrain", "promo",  "related", "scroll", "share",   "shoutbox", "sidebar", "skyscraper", "sponsor",
    "shopping", "tags",     "widget", "caption", "credit", "byline",  "author",   "date"};
constexpr std::string_view kPositive[] = {"article", "body", "content", "entry", "hentry", "h-entry",
                                          "main",    "page", "post",    "text",  "blog",   "story"};

template <size_t N>
bool has_any(std::string_view s, const std::string_view (&words)[N]) {
  for (std::string_view w : words)
    if (s.find(w) != std::string_view::npos) return true;
  return false;
}

float class_weight(std::string_view class_id) {
  if (class_id.empty()) return 0;
  const size_t hash = class_id.find('#');
  const std::string_view cls = class_id.substr(0, hash);
  const std::string_view id = hash == std::string_view::npos ? std::string_view() : class_id.substr(hash + 1);
  float w = 0;
  for (std::string_view part : {cls, id}) {
    if (part.empty()) continue;
    if (has_any(part, kNegative)) w -= 25;
    if (has_any(part, kPositive)) w += 25;
  }
  return w;
}

bool is_blockish(uint32_t tag) {
  return (tag_flags(tag) & (kTagBlock | kTagParagraph | kTagCell | kTagHeading | kTagListItem | kTagList)) != 0;
}

float tag_base_score(uint32_t id) {
  switch (static_cast<Tag>(id)) {
    case Tag::kDiv:
      return 5;
    case Tag::kPre:
    case Tag::kTd:
    case Tag::kBlockquote:
      return 3;
    case Tag::kAddress:
    case Tag::kOl:
    case Tag::kUl:
    case Tag::kDl:
    case Tag::kDd:
    case Tag::kDt:
    case Tag::kLi:
    case Tag::kForm:
      return -3;
    case Tag::kH1:
    case Tag::kH2:
    case Tag::kH3:
    case Tag::kH4:
    case Tag::kH5:
    case Tag::kH6:
    case Tag::kTh:
      return -5;
    default:
      return 0;
  }
}

bool is_boilerplate(const Dom& dom, const DomNode& node) {
  if (node.flags & kNodeArticleBody) return false;
  if (node.flags & (kNodeHidden | kNodeRoleBoiler)) return true;
  const auto tag = static_cast<Tag>(node.tag);
  if (tag_flags(node.tag) & (kTagBoilerplate | kTagFormControl)) return true;
  if (tag == Tag::kHeader || tag == Tag::kFigcaption || tag == Tag::kH1) return true;
  const std::string_view ci = dom.class_id(node);
  if (ci.empty() || tag == Tag::kBody || tag == Tag::kA || tag == Tag::kArticle || tag == Tag::kMain) return false;
  if (has_any(ci, kAlwaysBoiler)) return true;
  return has_any(ci, kUnlikely) && !has_any(ci, kMaybe);
}

// Characters of text that count: non-whitespace code points.
float visible_chars(std::string_view s, int& commas) {
  size_t n = 0;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c & 0xC0) == 0x80 || c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f') continue;
    if (c == ',') ++commas;
    ++n;
  }
  return static_cast<float>(n);
}

}  // namespace

std::vector<NodeVerdict> select_main_content(const Dom& dom) {
  const size_t n = dom.nodes.size();
  std::vector<NodeVerdict> verdict(n, NodeVerdict::kNone);
  if (n == 0) return verdict;
  // Text of every subtree before any removal: a boilerplate rule never removes most of the page
  // (misnested markup can leave the article inside an unclosed <header> or a "sidebar" wrapper).
  std::vector<float> raw_text(n, 0);
  dom.for_each_leaf([&](const DomLeaf& leaf, std::string_view s) {
    if (leaf.kind() != DomLeaf::kText) return;
    const DomNode& node = dom.nodes[static_cast<size_t>(leaf.node)];
    if (node.flags & (kNodeSkipped | kNodeHidden)) return;
    int c = 0;
    raw_text[static_cast<size_t>(leaf.node)] += visible_chars(s, c);
  });
  for (size_t i = n - 1; i >= 1; --i) raw_text[static_cast<size_t>(dom.nodes[i].parent)] += raw_text[i];
  const float page_text = raw_text[0];

  std::vector<uint8_t> removed(n, 0);
  std::vector<int32_t> owner(n, 0);
  for (size_t i = 1; i < n; ++i) {
    const DomNode& node = dom.nodes[i];
    const auto parent = static_cast<size_t>(node.parent);
    bool rem = removed[parent] != 0;
    if (!rem && is_boilerplate(dom, node) &&
        ((node.flags & kNodeHidden) || raw_text[i] < kMaxRemovedShare * page_text)) {
      rem = true;
      verdict[i] = NodeVerdict::kDrop;
    }
    removed[i] = rem ? 1 : 0;
    owner[i] = is_blockish(node.tag) ? static_cast<int32_t>(i) : owner[parent];
  }

  std::vector<float> text = std::move(raw_text);  // its storage: memory is per node (html_to_text.h)
  std::fill(text.begin(), text.end(), 0.0f);
  std::vector<float> link(n, 0), para_text(n, 0), heading(n, 0);
  std::vector<int32_t> commas(n, 0), para_commas(n, 0), images(n, 0), paragraphs(n, 0), items(n, 0);
  dom.for_each_leaf([&](const DomLeaf& leaf, std::string_view s) {
    if (leaf.kind() == DomLeaf::kLineBreak) return;
    const auto i = static_cast<size_t>(leaf.node);
    const DomNode& node = dom.nodes[i];
    if (removed[i] || (node.flags & (kNodeSkipped | kNodeHidden))) return;
    if (leaf.kind() == DomLeaf::kAltText) {
      ++images[i];
      return;
    }
    int c = 0;
    const float len = visible_chars(s, c);
    const bool in_link = (node.flags & kNodeInLink) != 0;
    text[i] += len;
    commas[i] += c;
    if (in_link) link[i] += len;
    const auto b = static_cast<size_t>(owner[i]);
    para_text[b] += len;
    para_commas[b] += c;
    if (heading_level(dom.nodes[b].tag) > 0) heading[b] += len;
  });
  for (size_t i = n - 1; i >= 1; --i) {
    const auto p = static_cast<size_t>(dom.nodes[i].parent);
    if (removed[i]) continue;
    const auto tag = static_cast<Tag>(dom.nodes[i].tag);
    if (tag == Tag::kP) ++paragraphs[i];
    if (tag == Tag::kLi) ++items[i];
    text[p] += text[i];
    link[p] += link[i];
    commas[p] += commas[i];
    images[p] += images[i];
    paragraphs[p] += paragraphs[i];
    items[p] += items[i];
    heading[p] += heading[i];
  }
  auto link_density = [&](size_t i) { return text[i] > 0 ? link[i] / text[i] : 0.0f; };

  // Paragraph scores credited to ancestors.
  std::vector<float> score(n, 0);
  std::vector<uint8_t> scored(n, 0);
  for (size_t b = 1; b < n; ++b) {
    if (removed[b] || para_text[b] < kMinParagraph) continue;
    if (owner[b] != static_cast<int32_t>(b)) continue;
    const float s = 1.0f + static_cast<float>(para_commas[b]) + std::min(para_text[b] / 100.0f, 3.0f);
    // Text directly inside a container (div, section, ...) is an implicit paragraph of it, as in
    // Readability's wrapping of a div's loose text into <p>: the container itself takes the credit.
    const auto btag = static_cast<Tag>(dom.nodes[b].tag);
    const bool container = btag == Tag::kDiv || btag == Tag::kSection || btag == Tag::kArticle || btag == Tag::kMain ||
                           btag == Tag::kCenter || btag == Tag::kForm;
    int32_t anc = container ? static_cast<int32_t>(b) : dom.nodes[b].parent;
    for (int level = 0; anc > 0 && level < 5; ++level) {
      const auto a = static_cast<size_t>(anc);
      if (!scored[a]) {
        scored[a] = 1;
        score[a] = tag_base_score(dom.nodes[a].tag) + class_weight(dom.class_id(dom.nodes[a]));
      }
      const float divider = level == 0 ? 1.0f : level == 1 ? 2.0f : static_cast<float>(level * 3);
      score[a] += s / divider;
      anc = dom.nodes[a].parent;
    }
  }
  std::vector<size_t> candidates;
  for (size_t i = 1; i < n; ++i) {
    if (!scored[i] || removed[i]) continue;
    score[i] *= 1.0f - link_density(i);
    candidates.push_back(i);
  }

  auto inside = [&](size_t node, size_t anc) { return node >= anc && node < static_cast<size_t>(dom.nodes[anc].end); };

  // Elements the page itself marks as the article body win when they hold enough text.
  std::vector<size_t> roots;
  float marked_text = 0;
  for (size_t i = 1; i < n; ++i) {
    if (removed[i] || !(dom.nodes[i].flags & kNodeArticleBody)) continue;
    const auto tag = static_cast<Tag>(dom.nodes[i].tag);
    if (tag == Tag::kBody || tag == Tag::kHtml) continue;
    if (!roots.empty() && inside(i, roots.back())) continue;
    if (text[i] < 100) continue;
    roots.push_back(i);
    marked_text += text[i];
  }
  float best_score = 0;
  size_t top = 0;
  for (size_t c : candidates)
    if (score[c] > best_score) best_score = score[c], top = c;
  if (!roots.empty() && top != 0 && marked_text < 0.3f * text[top]) roots.clear();

  if (roots.empty() && top != 0) {
    std::vector<size_t> best = candidates;
    const size_t k = std::min(kTopCandidates, best.size());
    std::partial_sort(best.begin(), best.begin() + static_cast<std::ptrdiff_t>(k), best.end(),
                      [&](size_t a, size_t b) { return score[a] > score[b] || (score[a] == score[b] && a < b); });
    best.resize(k);
    std::vector<size_t> rivals;
    for (size_t j = 1; j < best.size(); ++j)
      if (score[best[j]] >= 0.75f * score[top]) rivals.push_back(best[j]);
    if (rivals.size() >= 3) {
      for (int32_t anc = dom.nodes[top].parent; anc > 0; anc = dom.nodes[static_cast<size_t>(anc)].parent) {
        const auto a = static_cast<size_t>(anc);
        if (static_cast<Tag>(dom.nodes[a].tag) == Tag::kBody) break;
        size_t containing = 0;
        for (size_t r : rivals) containing += inside(r, a) ? 1 : 0;
        if (containing >= 3) {
          top = a;
          break;
        }
      }
    }
    // Climb while a parent scores higher than its child.
    float last = score[top];
    const float threshold = last / 3.0f;
    for (int32_t anc = dom.nodes[top].parent; anc > 0; anc = dom.nodes[static_cast<size_t>(anc)].parent) {
      const auto a = static_cast<size_t>(anc);
      if (static_cast<Tag>(dom.nodes[a].tag) == Tag::kBody) break;
      if (!scored[a]) continue;
      if (score[a] < threshold) break;
      if (score[a] > last) {
        top = a;
        break;
      }
      last = score[a];
    }
    // Siblings that look like part of the same article join it.
    const auto parent = static_cast<size_t>(std::max(dom.nodes[top].parent, 0));
    const float sibling_threshold = std::max(10.0f, score[top] * 0.2f);
    const std::string_view top_class = dom.class_id(dom.nodes[top]);
    for (size_t s = parent + 1; s < static_cast<size_t>(dom.nodes[parent].end);
         s = static_cast<size_t>(dom.nodes[s].end)) {
      if (s == top) {
        roots.push_back(s);
        continue;
      }
      if (removed[s]) continue;
      float bonus = 0;
      if (!top_class.empty() && dom.class_id(dom.nodes[s]) == top_class) bonus = score[top] * 0.2f;
      bool append = scored[s] && score[s] + bonus >= sibling_threshold;
      if (!append && static_cast<Tag>(dom.nodes[s].tag) == Tag::kP) {
        const float ld = link_density(s);
        append = (text[s] > 80 && ld < 0.25f) || (text[s] > 0 && text[s] <= 80 && ld == 0.0f);
      }
      if (append) roots.push_back(s);
    }
  }
  if (roots.empty()) {
    verdict[0] = NodeVerdict::kKeep;
    return verdict;
  }
  float kept_text = 0;
  for (size_t r : roots) verdict[r] = NodeVerdict::kKeep, kept_text += text[r];

  // Prune link farms, galleries and forms inside the kept roots.
  std::vector<NodeVerdict> effective(n, NodeVerdict::kNone);
  for (size_t i = 1; i < n; ++i) {
    const auto p = static_cast<size_t>(dom.nodes[i].parent);
    const NodeVerdict inherited = effective[p];
    if (verdict[i] != NodeVerdict::kNone) {
      effective[i] = verdict[i];
      continue;
    }
    effective[i] = inherited;
    if (inherited != NodeVerdict::kKeep) continue;
    const auto tag = static_cast<Tag>(dom.nodes[i].tag);
    const bool is_list = tag == Tag::kUl || tag == Tag::kOl;
    if (!(tag == Tag::kDiv || tag == Tag::kSection || is_list || tag == Tag::kTable || tag == Tag::kForm ||
          tag == Tag::kFieldset || (dom.nodes[i].flags & kNodeCustomElement)))
      continue;
    const float weight = class_weight(dom.class_id(dom.nodes[i]));
    bool drop = weight + (scored[i] ? score[i] : 0.0f) < 0;
    if (!drop && commas[i] < 10) {
      const float ld = link_density(i);
      const int p_count = paragraphs[i];
      const int img = images[i];
      const int li = items[i] - 100;
      const float heading_density = text[i] > 0 ? heading[i] / text[i] : 0.0f;
      drop = (img > 1 && static_cast<float>(p_count) / static_cast<float>(img) < 0.5f) || (!is_list && li > p_count) ||
             (!is_list && heading_density < 0.9f && text[i] < 25 && (img == 0 || img > 2) && ld > 0) ||
             (!is_list && weight < 25 && ld > 0.2f) || (weight >= 25 && ld > 0.5f) || (is_list && ld > 0.5f);
    }
    if (drop && text[i] > kMaxRemovedShare * kept_text) drop = false;
    if (drop) {
      verdict[i] = NodeVerdict::kDrop;
      effective[i] = NodeVerdict::kDrop;
    }
  }
  return verdict;
}

}  // namespace airtune::clean
