#include "metrics/bleu_tokenizers.h"

#include "core/enum_names.h"
#include "core/errors.h"
#include "metrics/text.h"

namespace airtune::metrics {

namespace {

// Python's str.replace: non-overlapping, left to right.
void replace_all(std::string& s, std::string_view from, std::string_view to, std::string& tmp) {
  size_t pos = s.find(from);
  if (pos == std::string::npos) return;
  tmp.clear();
  size_t last = 0;
  while (pos != std::string::npos) {
    tmp.append(s, last, pos - last);
    tmp.append(to);
    last = pos + from.size();
    pos = s.find(from, last);
  }
  tmp.append(s, last, std::string::npos);
  s.swap(tmp);
}

inline bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// ([\{-\~\[-\` -\&\(-\+\:-\@\/])
inline bool rule1_class(char c) noexcept {
  const auto b = static_cast<unsigned char>(c);
  return (b >= 0x7B && b <= 0x7E) || (b >= 0x5B && b <= 0x60) || (b >= 0x20 && b <= 0x26) || (b >= 0x28 && b <= 0x2B) ||
         (b >= 0x3A && b <= 0x40) || b == 0x2F;
}

// The four regular expressions of sacreBLEU's TokenizerRegexp, each as one left-to-right scan with
// re.sub's leftmost non-overlapping semantics. Working on bytes is exact: every class is ASCII
// and `[^0-9]` on a multi-byte character can only match (or fail) as its last byte would.
// Two shortcuts keep the result identical: a space (in rule 1's class) is emitted once instead of
// padded, since no rule can match a pair of spaces and the final split collapses runs; and rules
// 2-4 copy the stretches between candidate characters ('.', ',', '-') in bulk.
void tokenize_13a(std::string_view raw, std::string& a, std::string& b) {
  a.assign(raw);
  if (a.find('<') != std::string::npos) replace_all(a, "<skipped>", "", b);
  if (a.find('\n') != std::string::npos) {
    replace_all(a, "-\n", "", b);
    replace_all(a, "\n", " ", b);
  }
  if (a.find('&') != std::string::npos) {
    replace_all(a, "&quot;", "\"", b);
    replace_all(a, "&amp;", "&", b);
    replace_all(a, "&lt;", "<", b);
    replace_all(a, "&gt;", ">", b);
  }
  b.resize(a.size() * 3 + 2);
  char* out = b.data();
  *out++ = ' ';
  bool has_dot = false, has_dash = false;
  for (char c : a) {
    if (c == ' ') {
      *out++ = ' ';
    } else if (rule1_class(c)) {
      *out++ = ' ';
      *out++ = c;
      *out++ = ' ';
    } else {
      has_dot = has_dot || c == '.' || c == ',';
      has_dash = has_dash || c == '-';
      *out++ = c;
    }
  }
  *out++ = ' ';
  b.resize(static_cast<size_t>(out - b.data()));
  if (has_dot) {
    // ([^0-9])([\.,]) -> \1 \2 (space after); a match can only end on '.' or ','.
    a.clear();
    a.reserve(b.size() * 2);
    size_t i = 0;
    const size_t n = b.size();
    while (i < n) {
      size_t p = i + 1;
      while (p < n && b[p] != '.' && b[p] != ',') ++p;
      if (p >= n) {
        a.append(b, i, n - i);
        break;
      }
      a.append(b, i, p - 1 - i);  // positions i .. p-2 cannot start a match
      if (!is_digit(b[p - 1])) {
        a.push_back(b[p - 1]);
        a.push_back(' ');
        a.push_back(b[p]);
        a.push_back(' ');
        i = p + 1;
      } else {
        a.push_back(b[p - 1]);
        i = p;
      }
    }
    // ([\.,])([^0-9]) -> ' \1 \2'; a match can only start on '.' or ','.
    b.clear();
    b.reserve(a.size() * 2);
    i = 0;
    const size_t m = a.size();
    while (i < m) {
      size_t p = i;
      while (p < m && a[p] != '.' && a[p] != ',') ++p;
      b.append(a, i, p - i);
      if (p >= m) break;
      if (p + 1 < m && !is_digit(a[p + 1])) {
        b.push_back(' ');
        b.push_back(a[p]);
        b.push_back(' ');
        b.push_back(a[p + 1]);
        i = p + 2;
      } else {
        b.push_back(a[p]);
        i = p + 1;
      }
    }
  }
  if (has_dash) {
    // ([0-9])(-) -> \1 \2 (space after)
    a.clear();
    a.reserve(b.size() * 2);
    for (size_t i = 0; i < b.size();) {
      if (i + 1 < b.size() && is_digit(b[i]) && b[i + 1] == '-') {
        a.push_back(b[i]);
        a.push_back(' ');
        a.push_back('-');
        a.push_back(' ');
        i += 2;
      } else {
        a.push_back(b[i++]);
      }
    }
  } else {
    a.swap(b);
  }
}

// mteval-v14 (regex module): (\P{N})(\p{P}) -> '\1 \2 ', (\p{P})(\P{N}) -> ' \1 \2', (\p{S}) -> ' \1 '.
void tokenize_intl(std::string_view raw, std::string& a) {
  std::u32string cps, out;
  cps.reserve(raw.size());
  for (size_t i = 0; i < raw.size();) cps.push_back(next_code_point(raw, i));
  out.reserve(cps.size() * 2);
  for (size_t i = 0; i < cps.size();) {
    if (i + 1 < cps.size() && !is_unicode_number(cps[i]) && is_unicode_punct(cps[i + 1])) {
      out.push_back(cps[i]);
      out.push_back(U' ');
      out.push_back(cps[i + 1]);
      out.push_back(U' ');
      i += 2;
    } else {
      out.push_back(cps[i++]);
    }
  }
  cps.swap(out);
  out.clear();
  for (size_t i = 0; i < cps.size();) {
    if (i + 1 < cps.size() && is_unicode_punct(cps[i]) && !is_unicode_number(cps[i + 1])) {
      out.push_back(U' ');
      out.push_back(cps[i]);
      out.push_back(U' ');
      out.push_back(cps[i + 1]);
      i += 2;
    } else {
      out.push_back(cps[i++]);
    }
  }
  a.clear();
  for (char32_t c : out) {
    if (is_unicode_symbol(c)) {
      a.push_back(' ');
      append_utf8(a, c);
      a.push_back(' ');
    } else {
      append_utf8(a, c);
    }
  }
}

}  // namespace

namespace {
constexpr core::EnumName<BleuTokenizer> kTokenizers[] = {{"13a", BleuTokenizer::k13a},
                                                         {"intl", BleuTokenizer::kIntl},
                                                         {"char", BleuTokenizer::kChar},
                                                         {"none", BleuTokenizer::kNone}};
}  // namespace

BleuTokenizer parse_bleu_tokenizer(std::string_view name) {
  if (const auto tok = core::find_enum(name, kTokenizers)) return *tok;
  throw InvalidArgument("unknown tokenizer '" + std::string(name) + "' (choose 13a, intl, char or none)");
}

// The table's names are string literals, so the view's data is NUL-terminated.
const char* bleu_tokenizer_name(BleuTokenizer t) noexcept { return core::enum_name(t, kTokenizers).data(); }

void bleu_tokenize(std::string_view raw, BleuTokenizer tok, bool rstrip, std::string& buf, std::string& buf2,
                   std::vector<std::string_view>& tokens) {
  tokens.clear();
  std::string_view line = rstrip ? py_rstrip(raw) : raw;
  switch (tok) {
    case BleuTokenizer::k13a:
      tokenize_13a(line, buf, buf2);
      py_split(buf, tokens);
      break;
    case BleuTokenizer::kIntl:
      tokenize_intl(line, buf);
      py_split(buf, tokens);
      break;
    case BleuTokenizer::kChar:
      for (size_t i = 0; i < line.size();) {
        const size_t at = i;
        if (!is_py_space(next_code_point(line, i))) tokens.push_back(line.substr(at, i - at));
      }
      break;
    case BleuTokenizer::kNone:
      py_split(line, tokens);
      break;
  }
}

std::string bleu_tokenized_line(std::string_view raw, BleuTokenizer tok) {
  std::string buf, buf2, out;
  std::vector<std::string_view> tokens;
  bleu_tokenize(raw, tok, false, buf, buf2, tokens);
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) out.push_back(' ');
    out.append(tokens[i]);
  }
  return out;
}

}  // namespace airtune::metrics
