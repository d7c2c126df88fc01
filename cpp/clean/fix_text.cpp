#include "clean/fix_text.h"

#include "clean/entities.h"
#include "clean/text_utf8.h"
#include "core/threading.h"

namespace airtune::clean {

namespace {

std::u32string to_u32(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t len = 1;
    out.push_back(decode_utf8(s, i, len));
    i += len;
  }
  return out;
}

std::string to_utf8(const std::u32string& s) {
  std::string out;
  out.reserve(s.size() + s.size() / 4);
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

bool plausible_two_byte(char32_t cp) {
  return (cp >= 0x80 && cp <= 0x17F) || (cp >= 0x370 && cp <= 0x52F) || (cp >= 0x590 && cp <= 0x6FF);
}

// One pass of mojibake repair; returns true when something changed.
bool fix_mojibake_pass(std::u32string& s) {
  std::u32string out;
  out.reserve(s.size());
  bool changed = false;
  std::string bytes;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] < 0x80 || cp1252_byte(s[i]) < 0) {
      out.push_back(s[i++]);
      continue;
    }
    size_t j = i;
    bytes.clear();
    while (j < s.size() && s[j] >= 0x80) {
      const int b = cp1252_byte(s[j]);
      if (b < 0) break;
      bytes.push_back(static_cast<char>(b));
      ++j;
    }
    // bytes[k] stands for s[i + k].
    size_t k = 0;
    while (k < bytes.size()) {
      size_t len = 1;
      const char32_t cp = decode_utf8(bytes, k, len);
      if (len >= 3 || (len == 2 && plausible_two_byte(cp))) {
        out.push_back(cp);
        changed = true;
        k += len;
      } else {
        out.push_back(s[i + k]);
        ++k;
      }
    }
    i = j;
  }
  if (changed) s.swap(out);
  return changed;
}

bool is_control(char32_t c) {
  return (c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
         (c >= 0xFFF9 && c <= 0xFFFC) || (c >= 0xE0000 && c <= 0xE007F);
}

const char32_t* ligature(char32_t c) {
  switch (c) {
    case 0x0132:
      return U"IJ";
    case 0x0133:
      return U"ij";
    case 0x0149:
      return U"\u02BCn";
    case 0x01C4:
      return U"D\u017D";
    case 0x01C5:
      return U"D\u017E";
    case 0x01C6:
      return U"d\u017E";
    case 0x01C7:
      return U"LJ";
    case 0x01C8:
      return U"Lj";
    case 0x01C9:
      return U"lj";
    case 0x01CA:
      return U"NJ";
    case 0x01CB:
      return U"Nj";
    case 0x01CC:
      return U"nj";
    case 0x01F1:
      return U"DZ";
    case 0x01F2:
      return U"Dz";
    case 0x01F3:
      return U"dz";
    case 0xFB00:
      return U"ff";
    case 0xFB01:
      return U"fi";
    case 0xFB02:
      return U"fl";
    case 0xFB03:
      return U"ffi";
    case 0xFB04:
      return U"ffl";
    case 0xFB05:
      return U"\u017Ft";
    case 0xFB06:
      return U"st";
    default:
      return nullptr;
  }
}

bool is_other_space(char32_t c) {
  return c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x202F || c == 0x205F || c == 0x3000;
}

void normalize_whitespace(std::u32string& s) {
  std::u32string out;
  out.reserve(s.size());
  int newlines = 0;  // consecutive line breaks just written (blank lines collapse)
  for (char32_t c : s) {
    if (is_other_space(c)) c = U' ';
    if (c == U'\n') {
      while (!out.empty() && (out.back() == U' ' || out.back() == U'\t')) out.pop_back();
      if (out.empty() || newlines >= 2) continue;
      out.push_back(c);
      ++newlines;
      continue;
    }
    if ((c == U' ' || c == U'\t') && (out.empty())) continue;
    if (c != U' ' && c != U'\t') newlines = 0;
    out.push_back(c);
  }
  while (!out.empty() && (out.back() == U' ' || out.back() == U'\t' || out.back() == U'\n')) out.pop_back();
  s.swap(out);
}

}  // namespace

std::string fix_text(std::string_view text, const FixTextOptions& opt) {
  std::string unescaped;
  if (opt.unescape_html == UnescapeHtml::kYes ||
      (opt.unescape_html == UnescapeHtml::kAuto && text.find('<') == std::string_view::npos &&
       text.find('&') != std::string_view::npos)) {
    append_unescaped(unescaped, text);
    text = unescaped;
  }
  std::u32string s = to_u32(text);
  if (opt.fix_encoding)
    for (int pass = 0; pass < 3 && fix_mojibake_pass(s); ++pass) {
    }
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char32_t c = s[i];
    if (opt.fix_c1_controls && c >= 0x80 && c < 0xA0) c = cp1252_char(static_cast<uint8_t>(c));
    if (opt.fix_line_breaks) {
      if (c == U'\r') {
        if (i + 1 < s.size() && s[i + 1] == U'\n') ++i;
        c = U'\n';
      } else if (c == 0x85 || c == 0x2028 || c == 0x2029) {
        c = U'\n';
      }
    }
    if (opt.remove_control_chars && is_control(c)) continue;
    if (opt.remove_zero_width && (c == 0x200B || c == 0x2060 || c == 0xFEFF)) continue;
    if (opt.fix_latin_ligatures) {
      if (const char32_t* lig = ligature(c)) {
        out += lig;
        continue;
      }
    }
    if (opt.uncurl_quotes) {
      if (c == 0x2018 || c == 0x2019 || c == 0x201A || c == 0x201B)
        c = U'\'';
      else if (c == 0x201C || c == 0x201D || c == 0x201E || c == 0x201F)
        c = U'"';
    }
    out.push_back(c);
  }
  if (opt.normalize_whitespace) normalize_whitespace(out);
  if (opt.normalization == core::UnicodeForm::kNone) return to_utf8(out);
  return core::unicode_normalize(to_utf8(out), opt.normalization);
}

std::vector<std::string> fix_text_batch(const std::vector<std::string_view>& texts, const FixTextOptions& options) {
  std::vector<std::string> out(texts.size());
  core::parallel_for(texts.size(), 16, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) out[i] = fix_text(texts[i], options);
  });
  return out;
}

}  // namespace airtune::clean
