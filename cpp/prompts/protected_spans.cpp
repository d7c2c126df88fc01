#include "prompts/protected_spans.h"

#include <algorithm>

#include "core/errors.h"

namespace airtune::prompts {

const char* span_kind_name(SpanKind kind) noexcept {
  switch (kind) {
    case SpanKind::kFencedCode:
      return "fenced_code";
    case SpanKind::kInlineCode:
      return "inline_code";
    case SpanKind::kUrl:
      return "url";
    case SpanKind::kPlaceholder:
      return "placeholder";
    case SpanKind::kTag:
      return "tag";
    case SpanKind::kJson:
      return "json";
    case SpanKind::kCaller:
      return "caller";
    case SpanKind::kIdentifier:
      return "identifier";
    case SpanKind::kEmail:
      return "email";
  }
  return "?";
}

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_ident_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool is_ident(char c) { return is_ident_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '-'; }

size_t line_end(std::string_view t, size_t i) {
  const size_t p = t.find('\n', i);
  return p == std::string_view::npos ? t.size() : p;
}

// Fenced code blocks: a line starting (after <= 3 spaces) with >= 3 backticks or tildes, to the
// closing fence line (or the end of the text when unclosed).
void fenced(std::string_view t, std::vector<Span>& out) {
  size_t i = 0;
  while (i < t.size()) {
    const size_t le = line_end(t, i);
    size_t j = i;
    while (j < le && j - i < 3 && t[j] == ' ') ++j;
    if (j < le && (t[j] == '`' || t[j] == '~')) {
      const char f = t[j];
      size_t k = j;
      while (k < le && t[k] == f) ++k;
      const size_t flen = k - j;
      if (flen >= 3) {
        size_t end = t.size();
        size_t m = le < t.size() ? le + 1 : t.size();
        while (m < t.size()) {
          const size_t me = line_end(t, m);
          size_t a = m;
          while (a < me && a - m < 3 && t[a] == ' ') ++a;
          size_t b = a;
          while (b < me && t[b] == f) ++b;
          if (b - a >= flen) {
            size_t c = b;
            while (c < me && is_space(t[c])) ++c;
            if (c == me) {
              end = me;
              break;
            }
          }
          m = me < t.size() ? me + 1 : t.size();
        }
        out.push_back({i, end, SpanKind::kFencedCode});
        i = end < t.size() ? end + 1 : t.size();
        continue;
      }
    }
    i = le < t.size() ? le + 1 : t.size();
  }
}

// Balanced JSON value from t[i] ('{' or '['), string aware. Returns the end (exclusive); the text
// end when unbalanced.
size_t json_end(std::string_view t, size_t i) {
  std::vector<char> stack;
  bool in_str = false;
  for (size_t k = i; k < t.size(); ++k) {
    const char c = t[k];
    if (in_str) {
      if (c == '\\')
        ++k;
      else if (c == '"')
        in_str = false;
      continue;
    }
    if (c == '"')
      in_str = true;
    else if (c == '{' || c == '[')
      stack.push_back(c == '{' ? '}' : ']');
    else if (c == '}' || c == ']') {
      if (stack.empty() || stack.back() != c) return k + 1;  // mismatched: stop here, conservatively
      stack.pop_back();
      if (stack.empty()) return k + 1;
    }
  }
  return t.size();
}

}  // namespace

std::vector<Span> find_protected_spans(std::string_view t, const std::vector<std::pair<size_t, size_t>>& caller) {
  std::vector<Span> spans;
  fenced(t, spans);
  std::vector<Span> fences = spans;
  // One left-to-right scan for the inline kinds, skipping fenced blocks.
  size_t fi = 0;
  size_t i = 0;
  while (i < t.size()) {
    while (fi < fences.size() && fences[fi].end <= i) ++fi;
    if (fi < fences.size() && i >= fences[fi].begin) {
      i = fences[fi].end;
      continue;
    }
    const char c = t[i];
    if (c == '`') {
      size_t k = i;
      while (k < t.size() && t[k] == '`') ++k;
      const size_t run = k - i;
      // the closing run of the same length
      size_t m = k;
      size_t close = std::string_view::npos;
      while (m < t.size()) {
        const size_t p = t.find('`', m);
        if (p == std::string_view::npos) break;
        size_t q = p;
        while (q < t.size() && t[q] == '`') ++q;
        if (q - p == run) {
          close = q;
          break;
        }
        m = q;
      }
      if (close != std::string_view::npos) {
        spans.push_back({i, close, SpanKind::kInlineCode});
        i = close;
      } else {
        i = k;
      }
      continue;
    }
    if ((c == 'h' || c == 'w' || c == 'H' || c == 'W') && (i == 0 || !is_ident(t[i - 1]))) {
      size_t start_len = 0;
      auto starts = [&](std::string_view p) {
        if (t.size() - i < p.size()) return false;
        for (size_t k = 0; k < p.size(); ++k) {
          char a = t[i + k];
          if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
          if (a != p[k]) return false;
        }
        return true;
      };
      if (starts("https://"))
        start_len = 8;
      else if (starts("http://"))
        start_len = 7;
      else if (starts("www."))
        start_len = 4;
      if (start_len) {
        size_t k = i + start_len;
        int parens = 0;
        while (k < t.size() && !is_space(t[k]) && t[k] != '<' && t[k] != '>' && t[k] != '"' && t[k] != '`') {
          if (t[k] == '(') ++parens;
          if (t[k] == ')') {
            if (parens == 0) break;
            --parens;
          }
          ++k;
        }
        while (k > i + start_len && (t[k - 1] == '.' || t[k - 1] == ',' || t[k - 1] == ';' || t[k - 1] == ':' ||
                                     t[k - 1] == '!' || t[k - 1] == '?' || t[k - 1] == '\''))
          --k;
        if (k > i + start_len) {
          spans.push_back({i, k, SpanKind::kUrl});
          i = k;
          continue;
        }
      }
    }
    if (c == '$' && i + 1 < t.size() && t[i + 1] == '{') {
      const size_t p = t.find('}', i + 2);
      if (p != std::string_view::npos && p - i < 200 && t.substr(i, p - i).find('\n') == std::string_view::npos) {
        spans.push_back({i, p + 1, SpanKind::kPlaceholder});
        i = p + 1;
        continue;
      }
    }
    if (c == '{') {
      if (i + 1 < t.size() && t[i + 1] == '{') {  // {{var}}
        const size_t p = t.find("}}", i + 2);
        if (p != std::string_view::npos && p - i < 200 && t.substr(i, p - i).find('\n') == std::string_view::npos) {
          size_t e = p + 2;
          while (e < t.size() && t[e] == '}' && e - p < 3) ++e;  // {{{var}}}
          spans.push_back({i, e, SpanKind::kPlaceholder});
          i = e;
          continue;
        }
      }
      size_t k = i + 1;
      while (k < t.size() && (t[k] == ' ' || t[k] == '\t' || t[k] == '\n' || t[k] == '\r')) ++k;
      if (k < t.size() && (t[k] == '"' || t[k] == '}')) {
        const size_t e = json_end(t, i);
        spans.push_back({i, e, SpanKind::kJson});
        i = e;
        continue;
      }
      if (i + 1 < t.size() && is_ident_start(t[i + 1])) {  // {name} or {name:fmt}
        size_t m = i + 1;
        while (m < t.size() && is_ident(t[m])) ++m;
        if (m < t.size() && t[m] == ':') {
          while (m < t.size() && t[m] != '}' && t[m] != '\n' && m - i < 100) ++m;
        }
        if (m < t.size() && t[m] == '}') {
          spans.push_back({i, m + 1, SpanKind::kPlaceholder});
          i = m + 1;
          continue;
        }
      }
    }
    if (c == '[') {
      size_t k = i + 1;
      while (k < t.size() && (t[k] == ' ' || t[k] == '\t' || t[k] == '\n' || t[k] == '\r')) ++k;
      if (k < t.size() && (t[k] == '"' || t[k] == '{' || t[k] == '[')) {
        const size_t e = json_end(t, i);
        spans.push_back({i, e, SpanKind::kJson});
        i = e;
        continue;
      }
    }
    if ((is_ident_start(c) || (c >= '0' && c <= '9')) && (i == 0 || !(is_ident(t[i - 1]) || t[i - 1] == '@'))) {
      // A word: snake_case identifier (has an inner '_') or an e-mail address (word@domain.tld).
      size_t k = i;
      bool underscore = false;
      while (k < t.size() && (is_ident(t[k]) || t[k] == '+')) {
        underscore = underscore || (t[k] == '_' && k > i && k + 1 < t.size() && is_ident(t[k + 1]) && t[k + 1] != '_');
        ++k;
      }
      if (k < t.size() && t[k] == '@' && k + 1 < t.size() && is_ident_start(t[k + 1])) {
        size_t m = k + 1;
        while (m < t.size() && is_ident(t[m])) ++m;
        while (m > k + 1 && (t[m - 1] == '.' || t[m - 1] == '-')) --m;
        if (t.substr(k + 1, m - k - 1).find('.') != std::string_view::npos) {
          spans.push_back({i, m, SpanKind::kEmail});
          i = m;
          continue;
        }
      }
      size_t e = k;
      while (e > i && (t[e - 1] == '.' || t[e - 1] == '-')) --e;
      if (underscore && e > i) {
        spans.push_back({i, e, SpanKind::kIdentifier});
        i = e;
        continue;
      }
      i = e > i ? e : i + 1;
      continue;
    }
    if (c == '<' && i + 1 < t.size() && (is_ident_start(t[i + 1]) || t[i + 1] == '/' || t[i + 1] == '!')) {
      size_t k = i + 1;
      while (k < t.size() && t[k] != '>' && t[k] != '<' && t[k] != '\n' && k - i < 200) ++k;
      if (k < t.size() && t[k] == '>') {
        spans.push_back({i, k + 1, SpanKind::kTag});
        i = k + 1;
        continue;
      }
    }
    ++i;
  }
  for (size_t r = 0; r < caller.size(); ++r) {
    const auto [b, e] = caller[r];
    if (b > e || e > t.size())
      throw InvalidArgument("protect: range " + std::to_string(r) + " [" + std::to_string(b) + ", " +
                            std::to_string(e) + ") is outside the text of " + std::to_string(t.size()) + " bytes");
    auto cont = [&](size_t p) { return p < t.size() && (static_cast<unsigned char>(t[p]) & 0xC0) == 0x80; };
    if (cont(b) || cont(e))
      throw InvalidArgument("protect: range " + std::to_string(r) + " does not start and end on UTF-8 characters");
    if (e > b) spans.push_back({b, e, SpanKind::kCaller});
  }
  std::stable_sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  std::vector<Span> merged;
  for (const auto& s : spans) {
    if (!merged.empty() && s.begin < merged.back().end) {
      merged.back().end = std::max(merged.back().end, s.end);
    } else {
      merged.push_back(s);
    }
  }
  return merged;
}

}  // namespace airtune::prompts
