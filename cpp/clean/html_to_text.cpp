#include "clean/html_to_text.h"

#include <algorithm>

#include "clean/charset.h"
#include "clean/html_dom.h"
#include "clean/html_tags.h"
#include "clean/main_content.h"
#include "clean/text_utf8.h"
#include "clean/url_scheme.h"
#include "core/threading.h"
#include "core/utf8.h"

namespace airtune::clean {

namespace {

// Accumulates output text, turning pending breaks and collapsed whitespace into the final layout.
class TextWriter {
 public:
  void line_break(int level) {
    pending_break_ = std::max(pending_break_, level);
    space_ = false;
  }
  void set_prefix(std::string prefix) { prefix_ = std::move(prefix); }
  void set_separator(std::string_view sep) { separator_ = sep; }
  void open_link() { link_open_ = true, link_written_ = false; }
  void close_link(std::string_view href) {
    if (link_written_) {
      out_ += "](";
      out_.append(href);
      out_ += ')';
    }
    link_open_ = link_written_ = false;
  }

  // Collapsed text: runs of whitespace (including no-break spaces) become one space.
  void text(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f') {
        space_ = true;
        ++i;
        continue;
      }
      if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xA0) {
        space_ = true;
        i += 2;
        continue;
      }
      size_t j = i + 1;
      while (j < s.size()) {
        const auto d = static_cast<unsigned char>(s[j]);
        if (d == ' ' || d == '\n' || d == '\t' || d == '\r' || d == '\f') break;
        if (d == 0xC2 && j + 1 < s.size() && static_cast<unsigned char>(s[j + 1]) == 0xA0) break;
        ++j;
      }
      begin_word();
      out_.append(s.data() + i, j - i);
      i = j;
    }
  }

  // Preformatted text: kept as is (CR LF and CR become LF).
  void pre(std::string_view s) {
    if (s.empty()) return;
    begin_word();
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\r') {
        out_ += '\n';
        if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
      } else {
        out_ += s[i];
      }
    }
  }

  std::string finish() {
    trim_trailing_spaces();
    size_t start = 0;
    while (start < out_.size() && (out_[start] == '\n' || out_[start] == ' ')) ++start;
    out_.erase(0, start);
    return std::move(out_);
  }

 private:
  void trim_trailing_spaces() {
    while (!out_.empty() && (out_.back() == ' ' || out_.back() == '\t' || out_.back() == '\n')) out_.pop_back();
  }

  void begin_word() {
    if (pending_break_ > 0) {
      if (!out_.empty()) {
        while (!out_.empty() && (out_.back() == ' ' || out_.back() == '\t' || out_.back() == '\n')) out_.pop_back();
        out_.append(static_cast<size_t>(pending_break_), '\n');
      }
      pending_break_ = 0;
      space_ = false;
      separator_ = {};
    }
    if (!separator_.empty()) {
      if (!out_.empty() && out_.back() != '\n') out_.append(separator_);
      separator_ = {};
      space_ = false;
    }
    if (space_ && !out_.empty() && out_.back() != '\n' && out_.back() != ' ') out_ += ' ';
    space_ = false;
    if (!prefix_.empty()) {
      out_ += prefix_;
      prefix_.clear();
    }
    if (link_open_ && !link_written_) {
      out_ += '[';
      link_written_ = true;
    }
  }

  std::string out_;
  std::string prefix_;
  std::string_view separator_;
  int pending_break_ = 0;
  bool space_ = false;
  bool link_open_ = false;
  bool link_written_ = false;
};

bool usable_href(std::string_view href) { return !href.empty() && href.front() != '#'; }

// Turns the reading-order events of a page into its text. `verdicts`: main-content selection's
// verdict per node (null: the whole page).
class Renderer final : public DomVisitor {
 public:
  Renderer(const std::vector<NodeVerdict>* verdicts, const HtmlToTextOptions& opt)
      : verdicts_(verdicts),
        opt_(opt),
        hide_flags_(kNodeSkipped | (opt.keep_hidden ? 0u : static_cast<uint32_t>(kNodeHidden))),
        keep_depth_(verdicts ? 0 : 1) {}

  void open(int32_t index, const DomNode& node, std::string_view href) override {
    if (skip_until_ >= 0) return;
    const NodeVerdict v = verdict(index);
    if ((node.flags & hide_flags_) || v == NodeVerdict::kDrop) {
      skip_until_ = index;
      return;
    }
    if (v == NodeVerdict::kKeep) ++keep_depth_;
    const uint32_t f = tag_flags(node.tag);
    if (f & kTagParagraph)
      w_.line_break(2);
    else if (f & kTagBlock)
      w_.line_break(1);
    if (keep_depth_ <= 0) return;
    if (f & kTagList) ol_counters_.push_back((node.flags & kNodeOrderedList) ? 1 : 0);
    if ((f & kTagListItem) && opt_.list_bullets) {
      if (!ol_counters_.empty() && ol_counters_.back() > 0)
        w_.set_prefix(std::to_string(ol_counters_.back()++) + ". ");
      else
        w_.set_prefix("\xE2\x80\xA2 ");
    }
    if (f & kTagRow) row_cells_.push_back(0);
    if (f & kTagCell) {
      if (!row_cells_.empty() && row_cells_.back()++ > 0) w_.set_separator("\t");
    }
    if (opt_.headings == HeadingStyle::kMarkdown) {
      if (const int level = heading_level(node.tag)) w_.set_prefix(std::string(static_cast<size_t>(level), '#') + " ");
    }
    if ((f & kTagLink) && opt_.links && !(node.flags & kNodeScriptHref) && usable_href(url_as_parsed(href)))
      w_.open_link();
  }

  void close(int32_t index, const DomNode& node, std::string_view href) override {
    if (skip_until_ >= 0) {
      if (index == skip_until_) skip_until_ = -1;
      return;
    }
    const NodeVerdict v = verdict(index);
    const uint32_t f = tag_flags(node.tag);
    if (keep_depth_ > 0) {
      if (f & kTagList && !ol_counters_.empty()) ol_counters_.pop_back();
      if (f & kTagRow && !row_cells_.empty()) row_cells_.pop_back();
      if ((f & kTagLink) && opt_.links) w_.close_link(url_as_parsed(href));
    }
    if (f & kTagParagraph)
      w_.line_break(2);
    else if (f & (kTagBlock | kTagHeading))
      w_.line_break(1);
    if (v == NodeVerdict::kKeep) --keep_depth_;
  }

  void leaf(DomLeaf::Kind kind, int32_t, const DomNode& node, std::string_view text) override {
    if (skip_until_ >= 0 || keep_depth_ <= 0) return;
    switch (kind) {
      case DomLeaf::kText:
        if (node.flags & kNodeInPre)
          w_.pre(text);
        else
          w_.text(text);
        break;
      case DomLeaf::kLineBreak:
        w_.line_break(1);
        break;
      case DomLeaf::kAltText:
        if (opt_.alt_texts && !text.empty()) {
          w_.text(" ");
          w_.text(text);
          w_.text(" ");
        }
        break;
    }
  }

  std::string finish() { return w_.finish(); }

 private:
  NodeVerdict verdict(int32_t index) const {
    return verdicts_ ? (*verdicts_)[static_cast<size_t>(index)] : NodeVerdict::kNone;
  }

  const std::vector<NodeVerdict>* verdicts_;
  const HtmlToTextOptions& opt_;
  TextWriter w_;
  uint32_t hide_flags_;
  int32_t skip_until_ = -1;  // the close of this node ends a skipped subtree
  int keep_depth_;
  std::vector<int32_t> ol_counters_;  // one per open list; 0 for <ul>
  std::vector<int32_t> row_cells_;
};

}  // namespace

std::string html_to_text(std::string_view html, const HtmlToTextOptions& options, bool is_bytes) {
  std::string storage;
  std::string_view utf8;
  if (is_bytes) {
    utf8 = decode_to_utf8(html, storage);
  } else if (core::is_valid_utf8(html)) {
    utf8 = html;
  } else {
    append_sanitized_utf8(storage, html);
    utf8 = storage;
  }
  std::string out;
  bool streamed = options.mode == ExtractMode::kFull;
  if (!streamed) {
    const Dom dom = build_dom(utf8, options.max_tree_items);
    if (dom.complete) {
      const std::vector<NodeVerdict> verdicts = select_main_content(dom);
      Renderer r(&verdicts, options);
      replay_dom(dom, r);
      out = r.finish();
    } else {
      streamed = true;  // too large to hold: the whole text, as in full mode
    }
  }
  if (streamed) {
    Renderer r(nullptr, options);
    stream_dom(utf8, r);
    out = r.finish();
  }
  if (!core::is_valid_utf8(out)) {  // cannot happen by construction; kept as a guarantee
    std::string fixed;
    append_sanitized_utf8(fixed, out);
    out.swap(fixed);
  }
  return out;
}

std::vector<std::string> html_to_text_batch(const std::vector<std::string_view>& pages,
                                            const std::vector<uint8_t>& is_bytes, const HtmlToTextOptions& options) {
  std::vector<std::string> out(pages.size());
  core::parallel_for(pages.size(), 1, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i)
      out[i] = html_to_text(pages[i], options, !is_bytes.empty() && is_bytes[i] != 0);
  });
  return out;
}

}  // namespace airtune::clean
