#include "clean/html_tokenizer.h"

#include <algorithm>
#include <cstring>

#include "clean/entities.h"

namespace airtune::clean {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool contains(std::string_view v, char c) { return !v.empty() && std::memchr(v.data(), c, v.size()); }

size_t find(std::string_view s, std::string_view needle, size_t from) {
  const size_t k = s.find(needle, from);
  return k == std::string_view::npos ? s.size() : k;
}

}  // namespace

bool is_raw_text_tag(std::string_view n) noexcept {
  return n == "script" || n == "style" || n == "textarea" || n == "title" || n == "xmp" || n == "iframe" ||
         n == "noembed" || n == "noframes" || n == "noscript";
}

void append_attribute_value(std::string& out, std::string_view raw) {
  size_t i = 0;
  while (i < raw.size()) {
    size_t k = i;
    while (k < raw.size() && raw[k] != '&' && raw[k] != '\r' && raw[k] != '\0') ++k;
    out.append(raw.data() + i, k - i);
    if (k >= raw.size()) break;
    if (raw[k] == '&') {
      const size_t used = decode_entity(raw, k, out, /*in_attribute=*/true);
      if (used == 0) out.push_back('&');
      i = k + std::max<size_t>(used, 1);
    } else if (raw[k] == '\r') {
      out.push_back('\n');
      i = k + (k + 1 < raw.size() && raw[k + 1] == '\n' ? 2 : 1);
    } else {
      out += "\xEF\xBF\xBD";
      i = k + 1;
    }
  }
}

HtmlTokenizer::HtmlTokenizer(std::string_view html)
    : html_(html), cr_or_nul_(contains(html, '\r') || contains(html, '\0')) {}

bool HtmlTokenizer::needs_decoding(std::string_view value) const {
  return contains(value, '&') || (cr_or_nul_ && (contains(value, '\r') || contains(value, '\0')));
}

std::string_view HtmlToken::attribute(std::string_view lower_name, bool* found) const {
  for (const auto& a : attributes) {
    if (a.name == lower_name) {
      if (found) *found = true;
      return a.value;
    }
  }
  if (found) *found = false;
  return {};
}

bool HtmlTokenizer::emit_raw_text(HtmlToken& token) {
  // Inside <script> etc.: text until "</name" followed by a space, '/' or '>'.
  const size_t start = pos_;
  size_t i = pos_;
  const size_t n = html_.size();
  while (true) {
    const void* lt = i < n ? std::memchr(html_.data() + i, '<', n - i) : nullptr;
    if (!lt) {
      i = n;
      break;
    }
    i = static_cast<size_t>(static_cast<const char*>(lt) - html_.data());
    if (i + 2 + raw_end_.size() <= n && html_[i + 1] == '/') {
      bool match = true;
      for (size_t k = 0; k < raw_end_.size() && match; ++k) match = lower(html_[i + 2 + k]) == raw_end_[k];
      const size_t after = i + 2 + raw_end_.size();
      if (match && (after == n || is_space(html_[after]) || html_[after] == '/' || html_[after] == '>')) break;
    }
    ++i;
  }
  pos_ = i;
  if (i == n) raw_end_.clear();  // unterminated: the rest of the input was its content
  if (i == start) return false;
  token.kind = TokenKind::kText;
  token.text = html_.substr(start, i - start);
  token.raw_text = true;
  token.offset = start;
  return true;
}

bool HtmlTokenizer::next(HtmlToken& token) {
  token.attributes.clear();
  token.name = {};
  token.text = {};
  token.self_closing = false;
  token.raw_text = false;
  const size_t n = html_.size();
  if (plaintext_) {
    if (pos_ >= n) return false;
    token.kind = TokenKind::kText;
    token.text = html_.substr(pos_);
    token.offset = pos_;
    pos_ = n;
    return true;
  }
  if (!raw_end_.empty()) {
    if (emit_raw_text(token)) return true;
    raw_end_.clear();
  }
  while (pos_ < n) {
    const size_t start = pos_;
    if (html_[pos_] != '<') {
      const void* lt = std::memchr(html_.data() + pos_, '<', n - pos_);
      const size_t end = lt ? static_cast<size_t>(static_cast<const char*>(lt) - html_.data()) : n;
      token.kind = TokenKind::kText;
      token.text = html_.substr(start, end - start);
      token.offset = start;
      pos_ = end;
      return true;
    }
    if (pos_ + 1 >= n) {  // a lone '<' at the end is text
      token.kind = TokenKind::kText;
      token.text = html_.substr(start, 1);
      token.offset = start;
      pos_ = n;
      return true;
    }
    const char c = html_[pos_ + 1];
    if (is_alpha(c) || (c == '/' && pos_ + 2 < n && is_alpha(html_[pos_ + 2]))) {
      if (lex_tag(token, start)) return true;
      continue;  // an unterminated tag at the end of the input: dropped
    }
    if (c == '!' || c == '?' || c == '/') {
      if (lex_markup_declaration(token, start)) return true;
      continue;
    }
    // '<' not starting markup: literal text up to the next '<'.
    const void* lt = pos_ + 1 < n ? std::memchr(html_.data() + pos_ + 1, '<', n - pos_ - 1) : nullptr;
    const size_t end = lt ? static_cast<size_t>(static_cast<const char*>(lt) - html_.data()) : n;
    token.kind = TokenKind::kText;
    token.text = html_.substr(start, end - start);
    token.offset = start;
    pos_ = end;
    return true;
  }
  return false;
}

bool HtmlTokenizer::lex_markup_declaration(HtmlToken& token, size_t start) {
  const size_t n = html_.size();
  std::string_view rest = html_.substr(start);
  size_t body_start, body_end, end;
  if (rest.substr(0, 4) == "<!--") {
    body_start = start + 4;
    size_t k = find(html_, "-->", body_start);
    // "<!-->" and "<!--->" are (empty) comments too.
    if (start + 4 < n && html_[start + 4] == '>')
      k = start + 2;
    else if (start + 5 < n && html_.substr(start + 4, 2) == "->")
      k = start + 3;
    body_end = std::max(k, body_start);
    end = k >= n ? n : k + 3;
    token.kind = TokenKind::kComment;
  } else if (rest.substr(0, 9) == "<![CDATA[") {
    body_start = start + 9;
    const size_t k = find(html_, "]]>", body_start);
    body_end = k;
    end = k >= n ? n : k + 3;
    token.kind = TokenKind::kComment;
  } else {
    body_start = start + 2;
    const void* gt = std::memchr(html_.data() + body_start - 1, '>', n - body_start + 1);
    const size_t k = gt ? static_cast<size_t>(static_cast<const char*>(gt) - html_.data()) : n;
    body_end = std::max(k, body_start);
    end = k >= n ? n : k + 1;
    bool doctype = rest.size() >= 9 && rest[1] == '!';
    for (size_t j = 0; doctype && j < 7; ++j) doctype = lower(rest[2 + j]) == "doctype"[j];
    token.kind = doctype ? TokenKind::kDoctype : TokenKind::kComment;
  }
  token.text = html_.substr(body_start, body_end - body_start);
  token.offset = start;
  pos_ = end;
  return true;
}

bool HtmlTokenizer::lex_tag(HtmlToken& token, size_t start) {
  const size_t n = html_.size();
  const bool end_tag = html_[start + 1] == '/';
  size_t i = start + (end_tag ? 2 : 1);
  std::string& names = token.name_storage;
  names.clear();
  while (i < n && !is_space(html_[i]) && html_[i] != '/' && html_[i] != '>') names.push_back(lower(html_[i++]));
  const size_t tag_len = names.size();
  // A value that needs decoding goes to value_storage, which may grow: views are made at the end.
  struct Span {
    size_t name_off, name_len;
    std::string_view value;  ///< raw, or empty with decoded_len > 0 for a value in value_storage
    size_t decoded_off, decoded_len;
    bool decoded;
  };
  thread_local std::vector<Span> spans;
  spans.clear();
  std::string& values = token.value_storage;
  values.clear();
  bool self_closing = false;
  while (true) {
    while (i < n && (is_space(html_[i]) || html_[i] == '/')) {
      self_closing = html_[i] == '/';
      ++i;
    }
    if (i >= n) {  // end of input inside a tag: the tag is dropped
      pos_ = n;
      return false;
    }
    if (html_[i] == '>') {
      ++i;
      break;
    }
    self_closing = false;
    const size_t name_off = names.size();
    // The first character may be '=' (the spec makes it part of the name).
    names.push_back(lower(html_[i++]));
    while (i < n && !is_space(html_[i]) && html_[i] != '/' && html_[i] != '>' && html_[i] != '=')
      names.push_back(lower(html_[i++]));
    const size_t name_len = names.size() - name_off;
    size_t j = i;
    while (j < n && is_space(html_[j])) ++j;
    std::string_view value;
    if (j < n && html_[j] == '=') {
      ++j;
      while (j < n && is_space(html_[j])) ++j;
      if (j < n && (html_[j] == '"' || html_[j] == '\'')) {
        const char q = html_[j];
        const void* close = std::memchr(html_.data() + j + 1, q, n - j - 1);
        if (!close) {  // an unterminated quoted value runs to the end of the input
          pos_ = n;
          return false;
        }
        const size_t k = static_cast<size_t>(static_cast<const char*>(close) - html_.data());
        value = html_.substr(j + 1, k - j - 1);
        i = k + 1;
      } else {
        size_t k = j;
        while (k < n && !is_space(html_[k]) && html_[k] != '>') ++k;
        value = html_.substr(j, k - j);
        i = k;
      }
    }
    if (end_tag || !needs_decoding(value)) {
      spans.push_back({name_off, name_len, value, 0, 0, false});
    } else {
      const size_t off = values.size();
      append_attribute_value(values, value);
      spans.push_back({name_off, name_len, {}, off, values.size() - off, true});
    }
  }
  pos_ = i;
  token.kind = end_tag ? TokenKind::kEndTag : TokenKind::kStartTag;
  token.offset = start;
  token.self_closing = self_closing;
  token.name = std::string_view(names).substr(0, tag_len);
  if (!end_tag) {
    token.attributes.reserve(spans.size());
    for (const auto& s : spans)
      token.attributes.push_back({std::string_view(names).substr(s.name_off, s.name_len),
                                  s.decoded ? std::string_view(values).substr(s.decoded_off, s.decoded_len) : s.value});
    if (token.name == "plaintext")
      plaintext_ = true;
    else if (is_raw_text_tag(token.name))
      raw_end_.assign(token.name);
  }
  return true;
}

}  // namespace airtune::clean
