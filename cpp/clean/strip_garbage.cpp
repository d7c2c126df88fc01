#include "clean/strip_garbage.h"

#include <algorithm>
#include <cstring>

#include "clean/entities.h"
#include "clean/html_tags.h"
#include "clean/text_utf8.h"
#include "core/threading.h"
#include "core/utf8.h"

namespace airtune::clean {

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

bool istarts(std::string_view s, size_t i, std::string_view lower_word) {
  if (i + lower_word.size() > s.size()) return false;
  for (size_t k = 0; k < lower_word.size(); ++k)
    if (lower(s[i + k]) != lower_word[k]) return false;
  return true;
}

size_t ifind(std::string_view s, std::string_view lower_word, size_t from) {
  for (size_t i = from; i + lower_word.size() <= s.size(); ++i)
    if (lower(s[i]) == lower_word[0] && istarts(s, i, lower_word)) return i;
  return std::string_view::npos;
}

// 1. <script>/<style> blocks and comments.
std::string remove_blocks(std::string_view s, GarbageReport& r) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const void* lt = std::memchr(s.data() + i, '<', s.size() - i);
    const size_t k = lt ? static_cast<size_t>(static_cast<const char*>(lt) - s.data()) : s.size();
    out.append(s.data() + i, k - i);
    if (k >= s.size()) break;
    if (s.substr(k, 4) == "<!--") {
      const size_t e = s.find("-->", k + 4);
      i = e == std::string_view::npos ? s.size() : e + 3;
      ++r.script_blocks;
      continue;
    }
    std::string_view name;
    if (istarts(s, k, "<script"))
      name = "script";
    else if (istarts(s, k, "<style"))
      name = "style";
    const size_t after = k + 1 + name.size();
    if (!name.empty() && after < s.size() && (s[after] == '>' || is_space(s[after]) || s[after] == '/')) {
      const std::string close = "</" + std::string(name);
      const size_t e = ifind(s, close, after);
      if (e == std::string_view::npos) {
        i = s.size();
      } else {
        const size_t gt = s.find('>', e);
        i = gt == std::string_view::npos ? s.size() : gt + 1;
      }
      out.push_back('\n');
      ++r.script_blocks;
      continue;
    }
    out.push_back('<');
    i = k + 1;
  }
  return out;
}

// Inline elements html_tags.h has no reason to list.
bool is_inline_tag(std::string_view n) {
  static constexpr std::string_view kInline[] = {
      "abbr",   "acronym",  "b",    "bdi", "bdo",  "big",  "blink", "cite", "code",    "data",  "del",
      "dfn",    "em",       "font", "i",   "ins",  "kbd",  "label", "mark", "marquee", "meter", "nobr",
      "output", "progress", "q",    "rp",  "rt",   "ruby", "s",     "samp", "slot",    "small", "span",
      "strike", "strong",   "sub",  "sup", "time", "tt",   "u",     "var"};
  for (std::string_view t : kInline)
    if (n == t) return true;
  return false;
}

// 2. Tags of known elements.
std::string remove_tags(std::string_view s, GarbageReport& r) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  std::string name;
  while (i < s.size()) {
    const void* lt = std::memchr(s.data() + i, '<', s.size() - i);
    const size_t k = lt ? static_cast<size_t>(static_cast<const char*>(lt) - s.data()) : s.size();
    out.append(s.data() + i, k - i);
    if (k >= s.size()) break;
    size_t j = k + 1;
    if (j < s.size() && s[j] == '/') ++j;
    name.clear();
    while (j < s.size() && (is_alpha(s[j]) || (is_digit(s[j]) && !name.empty())) && name.size() < 16)
      name.push_back(lower(s[j++]));
    const Tag tag = name.empty() ? Tag::kUnknown : lookup_tag(name);
    const bool known = tag != Tag::kUnknown || is_inline_tag(name);
    const bool boundary = j < s.size() && (s[j] == '>' || is_space(s[j]) || s[j] == '/');
    size_t end = std::string_view::npos;
    if (known && boundary) {
      // The tag ends at the next '>' outside quotes, within 2,000 bytes and before another '<'.
      char quote = 0;
      for (size_t m = j; m < s.size() && m < j + 2000; ++m) {
        const char c = s[m];
        if (c == '<') break;  // also inside quotes: keeps every scan short (linear overall)
        if (quote) {
          if (c == quote) quote = 0;
          continue;
        }
        if (c == '"' || c == '\'')
          quote = c;
        else if (c == '>') {
          end = m;
          break;
        }
      }
    }
    if (end == std::string_view::npos) {
      out.push_back('<');
      i = k + 1;
      continue;
    }
    ++r.tags;
    const uint32_t f = tag_flags(static_cast<uint32_t>(tag));
    if (tag == Tag::kBr || (f & (kTagBlock | kTagParagraph | kTagCell))) out.push_back('\n');
    i = end + 1;
  }
  return out;
}

// 3. Entities terminated by ';'.
std::string decode_entities(std::string_view s, GarbageReport& r) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const void* amp = std::memchr(s.data() + i, '&', s.size() - i);
    const size_t k = amp ? static_cast<size_t>(static_cast<const char*>(amp) - s.data()) : s.size();
    out.append(s.data() + i, k - i);
    if (k >= s.size()) break;
    std::string piece;
    const size_t used = decode_entity(s, k, piece);
    if (used > 0 && s[k + used - 1] == ';') {
      // A no-break space from &nbsp; becomes a plain space.
      if (piece == "\xC2\xA0") piece = " ";
      out += piece;
      ++r.entities;
      i = k + used;
    } else {
      out.push_back('&');
      i = k + 1;
    }
  }
  return out;
}

int js_signals(std::string_view line) {
  int n = 0;
  auto has = [&](std::string_view w) { return line.find(w) != std::string_view::npos; };
  if (has("function(") || has("function (") || has("=>")) ++n;
  if (has("var ") || has("let ") || has("const ")) {
    if (has(" = ") || has("=")) ++n;
  }
  if (has("document.") || has("window.") || has("jQuery") || has("$(")) ++n;
  if (has("addEventListener") || has("getElementById") || has("querySelector")) ++n;
  if (has("console.") || has("dataLayer") || has("gtag(") || has("_gaq") || has("fbq(")) ++n;
  size_t code = 0, visible = 0;
  for (char c : line) {
    if (is_space(c)) continue;
    ++visible;
    if (c == '{' || c == '}' || c == '(' || c == ')' || c == ';' || c == '=' || c == '[' || c == ']') ++code;
  }
  if (visible > 0 && code * 6 >= visible) ++n;
  const std::string_view t = line.substr(0, line.find_last_not_of(" \t\r") + 1);
  if (!t.empty() && (t.back() == ';' || t.back() == '{' || t.back() == '}')) ++n;
  return n;
}

// 4. JavaScript lines and javascript:/vbscript: URLs.
std::string remove_js(std::string_view s, GarbageReport& r) {
  std::string out;
  out.reserve(s.size());
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find('\n', start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view line = s.substr(start, end - start);
    if (js_signals(line) >= 3) {
      ++r.js_lines;
      start = end + 1;
      continue;  // the line and its line break go
    } else {
      size_t i = 0;
      while (i < line.size()) {
        // The earliest script URL (entities were decoded by step 3: "javascript&colon;" is one too).
        const size_t pj = ifind(line, "javascript:", i);
        const size_t pv = ifind(line, "vbscript:", i);
        const size_t p = std::min(pj, pv);
        if (p == std::string_view::npos) {
          out.append(line.substr(i));
          break;
        }
        out.append(line.substr(i, p - i));
        size_t q = p + (p == pj ? 11 : 9);
        while (q < line.size() && !is_space(line[q]) && line[q] != '"' && line[q] != '\'') ++q;
        ++r.js_lines;
        i = q;
      }
    }
    if (end < s.size()) out.push_back('\n');
    start = end + 1;
  }
  return out;
}

bool is_b64(char c) { return is_alpha(c) || is_digit(c) || c == '+' || c == '/'; }

// 5. data: URIs and long base64 runs.
std::string remove_base64(std::string_view s, GarbageReport& r) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if ((s[i] == 'd' || s[i] == 'D') && istarts(s, i, "data:") && (i == 0 || !is_alpha(s[i - 1]))) {
      size_t j = i + 5;
      while (j < s.size() && j < i + 100 && !is_space(s[j]) && s[j] != ',') ++j;
      if (j < s.size() && s[j] == ',' && s.substr(i, j - i).find(";base64") != std::string_view::npos) {
        ++j;
        while (j < s.size() && (is_b64(s[j]) || s[j] == '=' || s[j] == '%')) ++j;
        ++r.base64;
        i = j;
        continue;
      }
    }
    if (is_b64(s[i]) && (i == 0 || !is_b64(s[i - 1]))) {
      size_t j = i;
      bool upper = false, low = false, digit = false;
      while (j < s.size() && is_b64(s[j])) {
        const char c = s[j++];
        upper |= c >= 'A' && c <= 'Z';
        low |= c >= 'a' && c <= 'z';
        digit |= is_digit(c);
      }
      size_t pad = j;
      while (pad < s.size() && pad < j + 2 && s[pad] == '=') ++pad;
      if (j - i >= 64 && upper && low && digit) {
        ++r.base64;
        i = pad;
        continue;
      }
      out.append(s.substr(i, j - i));
      i = j;
      continue;
    }
    out.push_back(s[i++]);
  }
  return out;
}

bool tracking_key(std::string_view key) {
  std::string k;
  for (char c : key) k.push_back(lower(c));
  if (k.rfind("utm_", 0) == 0) return true;
  static const char* kKeys[] = {"fbclid",  "gclid",   "dclid",      "msclkid",     "mc_cid",  "mc_eid", "_ga",
                                "_gl",     "yclid",   "igshid",     "wbraid",      "gbraid",  "_hsenc", "_hsmi",
                                "mkt_tok", "ref_src", "oly_enc_id", "oly_anon_id", "vero_id", "s_cid",  "icid"};
  for (const char* t : kKeys)
    if (k == t) return true;
  return false;
}

// 6. Tracking parameters of URLs.
std::string remove_tracking(std::string_view s, GarbageReport& r) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const size_t p = s.find("http", i);
    if (p == std::string_view::npos) {
      out.append(s.substr(i));
      break;
    }
    out.append(s.substr(i, p - i));
    if (!(istarts(s, p, "http://") || istarts(s, p, "https://"))) {
      out.append(s.substr(p, 4));
      i = p + 4;
      continue;
    }
    size_t e = p;
    while (e < s.size() && !is_space(s[e]) && s[e] != '"' && s[e] != '\'' && s[e] != '<' && s[e] != '>' &&
           s[e] != ')' && s[e] != ']')
      ++e;
    // Sentence punctuation right after a URL is not part of it.
    while (e > p && (s[e - 1] == '.' || s[e - 1] == ',' || s[e - 1] == ';' || s[e - 1] == ':' || s[e - 1] == '!' ||
                     s[e - 1] == '?'))
      --e;
    std::string_view url = s.substr(p, e - p);
    const size_t q = url.find('?');
    if (q == std::string_view::npos) {
      out.append(url);
      i = e;
      continue;
    }
    const size_t hash = url.find('#', q);
    const std::string_view query = url.substr(q + 1, (hash == std::string_view::npos ? url.size() : hash) - q - 1);
    std::string kept;
    size_t a = 0;
    while (a <= query.size()) {
      size_t b = query.find('&', a);
      if (b == std::string_view::npos) b = query.size();
      const std::string_view param = query.substr(a, b - a);
      const std::string_view key = param.substr(0, param.find('='));
      if (!param.empty()) {
        if (tracking_key(key)) {
          ++r.tracking_params;
        } else {
          if (!kept.empty()) kept.push_back('&');
          kept.append(param);
        }
      }
      a = b + 1;
    }
    out.append(url.substr(0, q));
    if (!kept.empty()) out += "?" + kept;
    if (hash != std::string_view::npos) out.append(url.substr(hash));
    i = e;
  }
  return out;
}

std::string tidy_whitespace(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  int newlines = 0;
  bool space = false;
  for (char c : s) {
    if (c == '\r') continue;
    if (c == '\n') {
      while (!out.empty() && (out.back() == ' ' || out.back() == '\t')) out.pop_back();
      space = false;
      if (out.empty() || newlines >= 2) continue;
      out.push_back('\n');
      ++newlines;
      continue;
    }
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty() && out.back() != '\n') out.push_back(' ');
    space = false;
    newlines = 0;
    out.push_back(c);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace

GarbageResult strip_garbage(std::string_view text, const GarbageOptions& opt) {
  GarbageResult res;
  std::string s;
  if (core::is_valid_utf8(text))
    s.assign(text);
  else
    append_sanitized_utf8(s, text);
  GarbageReport& r = res.report;
  if (opt.script_blocks) s = remove_blocks(s, r);
  if (opt.tags) s = remove_tags(s, r);
  if (opt.entities) s = decode_entities(s, r);
  if (opt.js_lines) s = remove_js(s, r);
  if (opt.base64) s = remove_base64(s, r);
  if (opt.tracking_params) s = remove_tracking(s, r);
  res.text = tidy_whitespace(s);
  r.bytes_removed = static_cast<int64_t>(text.size()) - static_cast<int64_t>(res.text.size());
  return res;
}

std::vector<GarbageResult> strip_garbage_batch(const std::vector<std::string_view>& texts,
                                               const GarbageOptions& options) {
  std::vector<GarbageResult> out(texts.size());
  core::parallel_for(texts.size(), 16, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) out[i] = strip_garbage(texts[i], options);
  });
  return out;
}

}  // namespace airtune::clean
