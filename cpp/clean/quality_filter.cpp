#include "clean/quality_filter.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "clean/text_utf8.h"
#include "core/threading.h"

namespace airtune::clean {

namespace {

using U32 = std::u32string;
using U32View = std::u32string_view;

bool is_space(char32_t c) { return is_unicode_space(c) || c == 0x1C || c == 0x1D || c == 0x1E || c == 0x1F; }

bool is_punct(char32_t c) {
  if (c < 0x80)
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
  return (c >= 0xA1 && c <= 0xBF && c != 0xAA && c != 0xB5 && c != 0xBA) || c == 0xD7 || c == 0xF7 ||
         (c >= 0x2010 && c <= 0x2027) || (c >= 0x2030 && c <= 0x205E) || (c >= 0x3001 && c <= 0x3003) ||
         (c >= 0x3008 && c <= 0x3011) || (c >= 0xFF01 && c <= 0xFF0F) || (c >= 0xFF1A && c <= 0xFF20) ||
         (c >= 0x2190 && c <= 0x27FF) || c == 0x00B7;
}

bool is_alpha(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  return !is_space(c) && !is_punct(c) && !(c >= 0xFF10 && c <= 0xFF19);
}

struct Word {
  size_t start, len;
};

// Words: runs of non-space non-punctuation characters; each run of punctuation is its own token.
std::vector<Word> split_words(U32View s) {
  std::vector<Word> words;
  size_t i = 0;
  while (i < s.size()) {
    if (is_space(s[i])) {
      ++i;
      continue;
    }
    const bool punct = is_punct(s[i]);
    size_t j = i + 1;
    while (j < s.size() && !is_space(s[j]) && is_punct(s[j]) == punct) ++j;
    words.push_back({i, j - i});
    i = j;
  }
  return words;
}

std::vector<U32View> split_lines(U32View s) {
  std::vector<U32View> lines;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == U'\n') {
      lines.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return lines;
}

U32View strip(U32View s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool ends_with(U32View s, U32View suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
bool starts_with(U32View s, U32View prefix) { return s.substr(0, prefix.size()) == prefix; }

size_t count_sub(U32View s, U32View needle) {
  size_t n = 0;
  for (size_t pos = s.find(needle); pos != U32View::npos; pos = s.find(needle, pos + needle.size())) ++n;
  return n;
}

U32 lower_ascii(U32View s) {
  U32 out(s);
  for (auto& c : out)
    if (c >= U'A' && c <= U'Z') c += 32;
  return out;
}

// (duplicate elements, their characters), as datatrove's find_duplicates.
std::pair<size_t, size_t> find_duplicates(const std::vector<U32View>& items) {
  std::unordered_set<U32View> seen;
  size_t elements = 0, chars = 0;
  for (U32View x : items) {
    if (!seen.insert(x).second) ++elements, chars += x.size();
  }
  return {elements, chars};
}

uint64_t hash_word(U32View w) {
  uint64_t h = 1469598103934665603ull;
  for (char32_t c : w) h = (h ^ c) * 1099511628211ull;
  return h;
}

uint64_t hash_gram(const std::vector<uint64_t>& wh, size_t i, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ull * (n + 1);
  for (size_t k = 0; k < n; ++k) h = (h ^ wh[i + k]) * 0x100000001B3ull + (h >> 29);
  return h;
}

const char32_t kTerminal[] =
    U".!?"
    U"\u2026\u0589\u061F\u06D4\u0964\u0965\u104B\u1362\u3002\uFF01\uFF1F\uFF0E\uFF61\uFE52\uFE56\uFE57\u203C\u203D"
    U"\u2047\u2048\u2049";

bool ends_with_terminal(U32View line) {
  if (line.empty()) return false;
  for (const char32_t* p = kTerminal; *p; ++p)
    if (line.back() == *p) return true;
  return false;
}

size_t count_sentences(U32View line) {
  size_t n = 0;
  bool in_sentence = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char32_t c = line[i];
    if (!is_space(c)) in_sentence = true;
    if (c == U'.' || c == U'!' || c == U'?' || c == 0x2026) {
      size_t j = i + 1;
      while (j < line.size() && (line[j] == U'.' || line[j] == U'!' || line[j] == U'?' || line[j] == U'"' ||
                                 line[j] == U'\'' || line[j] == U')' || line[j] == 0x201D || line[j] == 0x2019))
        ++j;
      if (j == line.size()) break;
      if (is_space(line[j])) {
        size_t k = j;
        while (k < line.size() && is_space(line[k])) ++k;
        if (k < line.size() && ((line[k] >= U'A' && line[k] <= U'Z') || (line[k] >= U'0' && line[k] <= U'9') ||
                                line[k] == U'"' || line[k] == 0x201C || line[k] > 0x7F)) {
          ++n;
          in_sentence = false;
        }
      }
      i = j - 1;
    }
  }
  return n + (in_sentence ? 1 : 0);
}

// Python's str.split(): runs of non-whitespace.
std::vector<U32View> split_ws(U32View s) {
  std::vector<U32View> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    size_t j = i;
    while (j < s.size() && !is_space(s[j])) ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// Removes [123], [], [edit] and [citation needed].
U32 remove_citations(U32View s) {
  U32 out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == U'[') {
      size_t j = i + 1;
      while (j < s.size() && s[j] >= U'0' && s[j] <= U'9') ++j;
      if (j < s.size() && s[j] == U']') {
        i = j + 1;
        continue;
      }
      if (starts_with(s.substr(i), U"[edit]")) {
        i += 6;
        continue;
      }
      if (starts_with(s.substr(i), U"[citation needed]")) {
        i += 17;
        continue;
      }
    }
    out.push_back(s[i++]);
  }
  return out;
}

bool run_c4(U32& text, const QualityParams& p, std::string& reason) {
  static const U32View kPolicy[] = {U"terms of use", U"privacy policy", U"cookie policy",
                                    U"uses cookies", U"use of cookies", U"use cookies"};
  std::vector<U32> kept;
  size_t sentences = 0;
  for (U32View raw_line : split_lines(text)) {
    if (!raw_line.empty() && raw_line.back() == U'\r') raw_line.remove_suffix(1);
    U32View stripped = strip(raw_line);
    const auto words = split_ws(stripped);
    if (p.c4_max_word_length >= 0 && std::any_of(words.begin(), words.end(), [&](U32View w) {
          return w.size() > static_cast<size_t>(p.c4_max_word_length);
        }))
      continue;
    U32 line = p.c4_remove_citations ? remove_citations(stripped) : U32(stripped);
    if (p.c4_filter_no_terminal_punct) {
      const bool terminal = ends_with(line, U".") || ends_with(line, U"?") || ends_with(line, U"!") ||
                            ends_with(line, U"\"") || ends_with(line, U"'");
      if (!terminal || ends_with(line, U"...")) continue;
    }
    if (words.size() < static_cast<size_t>(std::max(p.c4_min_words_per_line, 0))) continue;
    const U32 low = lower_ascii(line);
    if (p.c4_filter_lorem_ipsum && low.find(U"lorem ipsum") != U32::npos) {
      reason = "c4:lorem_ipsum";
      return false;
    }
    if (p.c4_filter_javascript && low.find(U"javascript") != U32::npos) continue;
    if (p.c4_filter_curly_bracket && line.find(U'{') != U32::npos) {
      reason = "c4:curly_bracket";
      return false;
    }
    if (p.c4_filter_policy &&
        std::any_of(std::begin(kPolicy), std::end(kPolicy), [&](U32View ph) { return low.find(ph) != U32::npos; }))
      continue;
    if (p.c4_min_sentences >= 0) sentences += count_sentences(line);
    kept.push_back(std::move(line));
  }
  if (p.c4_min_sentences >= 0 && sentences < static_cast<size_t>(p.c4_min_sentences)) {
    reason = "c4:too_few_sentences";
    return false;
  }
  U32 joined;
  for (size_t i = 0; i < kept.size(); ++i) {
    if (i) joined.push_back(U'\n');
    joined += kept[i];
  }
  text = U32(strip(joined));
  return true;
}

bool run_gopher_quality(U32View text, const QualityParams& p, std::string& reason) {
  static const U32View kStopWords[] = {U"the", U"be", U"to", U"of", U"and", U"that", U"have", U"with"};
  const auto words = split_words(text);
  const size_t n_words = words.size();
  size_t n_non_symbol = 0, total_len = 0;
  for (const Word& w : words) {
    if (!is_punct(text[w.start])) ++n_non_symbol, total_len += w.len;
  }
  auto fail = [&](const char* why) {
    reason = std::string("gopher_quality:") + why;
    return false;
  };
  if (p.min_doc_words >= 0 && n_non_symbol < static_cast<size_t>(p.min_doc_words)) return fail("short_doc");
  if (p.max_doc_words >= 0 && n_non_symbol > static_cast<size_t>(p.max_doc_words)) return fail("long_doc");
  if (n_non_symbol > 0) {
    const double avg = static_cast<double>(total_len) / static_cast<double>(n_non_symbol);
    if (p.min_avg_word_length >= 0 && avg < p.min_avg_word_length) return fail("below_avg_word_length");
    if (p.max_avg_word_length >= 0 && avg > p.max_avg_word_length) return fail("above_avg_word_length");
  }
  if (n_words == 0) return fail("short_doc");
  const double nw = static_cast<double>(n_words);
  if (p.max_symbol_word_ratio >= 0 && static_cast<double>(count_sub(text, U"#")) / nw > p.max_symbol_word_ratio)
    return fail("too_many_hashes");
  if (p.max_symbol_word_ratio >= 0 &&
      static_cast<double>(count_sub(text, U"...") + count_sub(text, U"\u2026")) / nw > p.max_symbol_word_ratio)
    return fail("too_many_ellipsis");
  // str.splitlines() drops the empty piece after a final newline.
  auto lines = split_lines(text);
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (!lines.empty()) {
    size_t bullets = 0, end_ellipsis = 0;
    for (U32View l : lines) {
      U32View ls = l;
      while (!ls.empty() && is_space(ls.front())) ls.remove_prefix(1);
      U32View rs = l;
      while (!rs.empty() && is_space(rs.back())) rs.remove_suffix(1);
      if (starts_with(ls, U"\u2022") || starts_with(ls, U"-")) ++bullets;
      if (ends_with(rs, U"...") || ends_with(rs, U"\u2026")) ++end_ellipsis;
    }
    const double nl = static_cast<double>(lines.size());
    if (p.max_bullet_lines_ratio >= 0 && static_cast<double>(bullets) / nl > p.max_bullet_lines_ratio)
      return fail("too_many_bullets");
    if (p.max_ellipsis_lines_ratio >= 0 && static_cast<double>(end_ellipsis) / nl > p.max_ellipsis_lines_ratio)
      return fail("too_many_end_ellipsis");
  }
  size_t alpha_words = 0, stop = 0;
  for (const Word& w : words) {
    const U32View v = text.substr(w.start, w.len);
    if (std::any_of(v.begin(), v.end(), is_alpha)) ++alpha_words;
    for (U32View sw : kStopWords)
      if (v == sw) ++stop;
  }
  if (p.max_non_alpha_words_ratio >= 0 && static_cast<double>(alpha_words) / nw < p.max_non_alpha_words_ratio)
    return fail("below_alpha_threshold");
  if (p.min_stop_words >= 0 && stop < static_cast<size_t>(p.min_stop_words)) return fail("not_enough_stop_words");
  return true;
}

bool run_gopher_repetition(U32View text, const QualityParams& p, std::string& reason) {
  if (text.empty()) return true;
  auto fail = [&](const std::string& why) {
    reason = "gopher_repetition:" + why;
    return false;
  };
  const double chars = static_cast<double>(text.size());
  // Paragraphs: split on runs of 2+ newlines of the stripped text.
  {
    const U32View t = strip(text);
    std::vector<U32View> paras;
    size_t start = 0, i = 0;
    while (i <= t.size()) {
      if (i == t.size()) {
        paras.push_back(t.substr(start));
        break;
      }
      if (t[i] == U'\n' && i + 1 < t.size() && t[i + 1] == U'\n') {
        paras.push_back(t.substr(start, i - start));
        while (i < t.size() && t[i] == U'\n') ++i;
        start = i;
        continue;
      }
      ++i;
    }
    const auto [dup, dup_chars] = find_duplicates(paras);
    if (p.dup_para_frac > 0 && static_cast<double>(dup) / static_cast<double>(paras.size()) > p.dup_para_frac)
      return fail("dup_para_frac");
    if (p.dup_para_char_frac > 0 && static_cast<double>(dup_chars) / chars > p.dup_para_char_frac)
      return fail("dup_para_char_frac");
  }
  {
    std::vector<U32View> lines;
    size_t start = 0, i = 0;
    while (i <= text.size()) {
      if (i == text.size()) {
        lines.push_back(text.substr(start));
        break;
      }
      if (text[i] == U'\n') {
        lines.push_back(text.substr(start, i - start));
        while (i < text.size() && text[i] == U'\n') ++i;
        start = i;
        continue;
      }
      ++i;
    }
    const auto [dup, dup_chars] = find_duplicates(lines);
    if (p.dup_line_frac > 0 && static_cast<double>(dup) / static_cast<double>(lines.size()) > p.dup_line_frac)
      return fail("dup_line_frac");
    if (p.dup_line_char_frac > 0 && static_cast<double>(dup_chars) / chars > p.dup_line_char_frac)
      return fail("dup_line_char_frac");
  }
  const auto words = split_words(text);
  std::vector<uint64_t> wh(words.size());
  for (size_t i = 0; i < words.size(); ++i) wh[i] = hash_word(text.substr(words[i].start, words[i].len));
  const double top_fracs[] = {p.top_2_gram_frac, p.top_3_gram_frac, p.top_4_gram_frac};
  for (size_t n = 2; n <= 4; ++n) {
    const double frac = top_fracs[n - 2];
    if (frac <= 0 || words.size() < n) continue;
    std::unordered_map<uint64_t, std::pair<size_t, size_t>> counts;  // hash -> (count, first index)
    counts.reserve(words.size());
    size_t best_count = 0, best_first = 0;
    for (size_t i = 0; i + n <= words.size(); ++i) {
      auto& [count, first] = counts.try_emplace(hash_gram(wh, i, n), 0, i).first->second;
      ++count;
      if (count > best_count || (count == best_count && first < best_first)) best_count = count, best_first = first;
    }
    size_t len = n - 1;
    for (size_t k = 0; k < n; ++k) len += words[best_first + k].len;
    if (static_cast<double>(len * best_count) / chars > frac) return fail("top_" + std::to_string(n) + "_gram");
  }
  const double dup_fracs[] = {p.dup_5_gram_frac, p.dup_6_gram_frac, p.dup_7_gram_frac,
                              p.dup_8_gram_frac, p.dup_9_gram_frac, p.dup_10_gram_frac};
  for (size_t n = 5; n <= 10; ++n) {
    const double frac = dup_fracs[n - 5];
    if (frac <= 0) continue;
    std::unordered_set<uint64_t> seen;
    size_t repeated = 0, i = 0;
    while (words.size() >= n && i < words.size() - n + 1) {
      const uint64_t h = hash_gram(wh, i, n);
      if (!seen.insert(h).second) {
        for (size_t k = 0; k < n; ++k) repeated += words[i + k].len;
        i += n;
      } else {
        ++i;
      }
    }
    if (static_cast<double>(repeated) / chars > frac) return fail("duplicated_" + std::to_string(n) + "_n_grams");
  }
  return true;
}

bool run_fineweb(U32View text, const QualityParams& p, std::string& reason) {
  auto fail = [&](const char* why) {
    reason = std::string("fineweb:") + why;
    return false;
  };
  std::vector<U32View> lines;
  for (U32View l : split_lines(text))
    if (!strip(l).empty()) lines.push_back(l);
  if (lines.empty()) return fail("empty");
  const double nl = static_cast<double>(lines.size());
  size_t punct = 0, short_lines = 0;
  for (U32View l : lines) {
    if (ends_with_terminal(l)) ++punct;
    if (l.size() <= static_cast<size_t>(std::max(p.short_line_length, 0))) ++short_lines;
  }
  const double punct_ratio = static_cast<double>(punct) / nl;
  if (p.line_punct_thr >= 0 && punct_ratio <= p.line_punct_thr && !(punct_ratio == 0 && p.line_punct_exclude_zero))
    return fail("line_punct_ratio");
  if (p.short_line_thr >= 0 && static_cast<double>(short_lines) / nl >= p.short_line_thr)
    return fail("short_line_ratio");
  const size_t non_newline = text.size() - count_sub(text, U"\n");
  const auto [dup, dup_chars] = find_duplicates(lines);
  (void)dup;
  if (p.char_duplicates_ratio >= 0 && non_newline > 0 &&
      static_cast<double>(dup_chars) / static_cast<double>(non_newline) >= p.char_duplicates_ratio)
    return fail("char_dup_ratio");
  const auto words = split_words(text);
  if (p.new_line_ratio >= 0 && !words.empty() &&
      static_cast<double>(count_sub(text, U"\n")) / static_cast<double>(words.size()) > p.new_line_ratio)
    return fail("list_ratio");
  return true;
}

}  // namespace

QualityVerdict quality_check(std::string_view text, const QualityParams& params) {
  QualityVerdict v;
  U32 s = to_u32(text);
  bool ok = true;
  if (ok && params.gopher_repetition) ok = run_gopher_repetition(s, params, v.reason);
  if (ok && params.gopher_quality) ok = run_gopher_quality(s, params, v.reason);
  if (ok && params.c4) ok = run_c4(s, params, v.reason);
  if (ok && params.fineweb) ok = run_fineweb(s, params, v.reason);
  v.keep = ok;
  v.text = to_utf8(s);
  return v;
}

std::vector<QualityVerdict> quality_check_batch(const std::vector<std::string_view>& texts,
                                                const QualityParams& params) {
  std::vector<QualityVerdict> out(texts.size());
  core::parallel_for(texts.size(), 8, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) out[i] = quality_check(texts[i], params);
  });
  return out;
}

}  // namespace airtune::clean
