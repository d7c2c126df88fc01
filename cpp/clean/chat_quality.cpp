#include "clean/chat_quality.h"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <string_view>
#include <unordered_set>

#include "clean/entities.h"
#include "clean/html_tags.h"
#include "core/threading.h"
#include "core/utf8.h"

namespace airtune::clean {
namespace {

using io::RecordBatch;
using io::Role;

bool is_blank(std::string_view s) { return s.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos; }

// Calls fn(code point, byte offset) for every code point (invalid bytes as U+FFFD).
template <typename Fn>
void for_each_cp(std::string_view s, Fn&& fn) {
  for (size_t i = 0; i < s.size();) {
    const auto byte = static_cast<uint8_t>(s[i]);
    if (byte < 0x80) {  // ASCII without a call
      fn(static_cast<int32_t>(byte), i);
      ++i;
      continue;
    }
    utf8proc_int32_t cp = -1;
    auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                              static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    if (n <= 0) {
      cp = 0xFFFD;
      n = 1;
    }
    fn(cp, i);
    i += static_cast<size_t>(n);
  }
}

bool is_letter(int32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  const auto c = utf8proc_category(cp);
  return c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
}

bool is_alnum(int32_t cp) {
  if (cp < 0x80) return ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') || (cp >= '0' && cp <= '9');
  const auto c = utf8proc_category(cp);
  return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
         (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
}

// Byte ranges of `code` and ```fenced``` spans, where markup is expected and not checked.
std::vector<std::pair<size_t, size_t>> code_spans(std::string_view s) {
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t i = 0; i < s.size();) {
    if (s.compare(i, 3, "```") == 0) {
      const size_t e = s.find("```", i + 3);
      const size_t end = e == std::string_view::npos ? s.size() : e + 3;
      out.emplace_back(i, end);
      i = end;
    } else if (s[i] == '`') {
      const size_t e = s.find('`', i + 1);
      if (e == std::string_view::npos) break;
      out.emplace_back(i, e + 1);
      i = e + 1;
    } else {
      ++i;
    }
  }
  return out;
}

bool has_markup(std::string_view s) {
  if (s.find('<') == std::string_view::npos && s.find('&') == std::string_view::npos) return false;
  const auto spans = code_spans(s);
  size_t span = 0;
  std::string name, scratch;
  for (size_t i = 0; i < s.size(); ++i) {
    while (span < spans.size() && spans[span].second <= i) ++span;
    if (span < spans.size() && spans[span].first <= i) {
      i = spans[span].second - 1;
      continue;
    }
    if (s[i] == '<') {
      size_t j = i + 1;
      if (j < s.size() && s[j] == '/') ++j;
      name.clear();
      while (j < s.size() && std::isalnum(static_cast<unsigned char>(s[j])) && name.size() < 16)
        name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(s[j++]))));
      if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0])) || j >= s.size()) continue;
      const char next = s[j];
      if ((next == '>' || next == ' ' || next == '/' || next == '\t' || next == '\n') &&
          lookup_tag(name) != Tag::kUnknown && s.find('>', j) != std::string_view::npos)
        return true;
    } else if (s[i] == '&') {
      scratch.clear();
      const size_t n = decode_entity(s, i, scratch);
      if (n > 2 && s[i + n - 1] == ';') return true;
    }
  }
  return false;
}

constexpr std::array<std::string_view, 24> kRefusals = {
    "i'm sorry, but i can",   "i am sorry, but i can",  "i'm sorry, i can",     "sorry, but i can't",
    "sorry, i can't",         "i can't assist with",    "i cannot assist with", "i can't help with",
    "i cannot help with",     "i'm unable to",          "i am unable to",       "i'm not able to",
    "i am not able to",       "i cannot provide",       "i can't provide",      "as an ai language model",
    "as an ai model",         "as an ai assistant, i",  "as an ai, i",          "i'm just an ai",
    "i apologize, but i can", "i apologize, but as an", "i won't be able to",   "i will not be able to",
};

bool is_refusal(std::string_view answer) {
  std::string head;
  const size_t limit = std::min<size_t>(answer.size(), 200);
  head.reserve(limit);
  for (size_t i = 0; i < limit; ++i) {
    const char c = answer[i];
    if (c == '\xE2' && i + 2 < answer.size() && answer[i + 1] == '\x80' &&
        (answer[i + 2] == '\x99' || answer[i + 2] == '\x98')) {
      head.push_back('\'');  // ’ or ‘
      i += 2;
      continue;
    }
    head.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  const size_t start = head.find_first_not_of(" \t\r\n\"*");
  if (start == std::string::npos) return false;
  std::string_view h(head);
  h.remove_prefix(start);
  for (std::string_view r : kRefusals) {
    // At the opening, or opening the second sentence ("Thanks for asking! I'm sorry, but I can't...").
    const size_t at = h.find(r);
    if (at == 0 || (at != std::string_view::npos && at < 80 && (h[at - 1] == ' ' || h[at - 1] == '\n'))) return true;
  }
  return false;
}

size_t count_words(std::string_view s) {
  size_t n = 0;
  bool in = false;
  for (char c : s) {
    const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (!space && !in) ++n;
    in = !space;
  }
  return n;
}

bool is_truncated(std::string_view answer, int64_t min_words) {
  std::string_view a = answer;
  while (!a.empty() && (a.back() == ' ' || a.back() == '\n' || a.back() == '\t' || a.back() == '\r'))
    a.remove_suffix(1);
  if (a.empty()) return false;
  size_t fences = 0;
  for (size_t p = a.find("```"); p != std::string_view::npos; p = a.find("```", p + 3)) ++fences;
  if (fences % 2 == 1) return true;  // stopped inside a code block, whatever its length
  if (static_cast<int64_t>(count_words(a)) < min_words) return false;
  const size_t last_space = a.find_last_of(" \n\t");
  std::string_view token = last_space == std::string_view::npos ? a : a.substr(last_space + 1);
  if (token.find("://") != std::string_view::npos || token.front() == '/' || token.find('@') != std::string_view::npos)
    return false;  // ends in a URL, path or address
  int32_t last = 0;
  for_each_cp(token, [&](int32_t cp, size_t) { last = cp; });
  if (last == ',' || last == ';' || last == '-' || last == '(') return true;
  return is_alnum(last);
}

enum class Script : uint8_t {
  kNone,
  kLatin,
  kCyrillic,
  kGreek,
  kArabic,
  kHebrew,
  kDevanagari,
  kThai,
  kHangul,
  kCjk,
  kCount
};

Script script_of(int32_t cp) {
  if (cp < 0x250)
    return (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z') || (cp >= 0xC0 && cp != 0xD7 && cp != 0xF7)
               ? Script::kLatin
               : Script::kNone;
  if (cp >= 0x1E00 && cp <= 0x1EFF) return Script::kLatin;
  if (cp >= 0x370 && cp <= 0x3FF) return Script::kGreek;
  if (cp >= 0x400 && cp <= 0x52F) return Script::kCyrillic;
  if (cp >= 0x590 && cp <= 0x5FF) return Script::kHebrew;
  if ((cp >= 0x600 && cp <= 0x6FF) || (cp >= 0x750 && cp <= 0x77F)) return Script::kArabic;
  if (cp >= 0x900 && cp <= 0x97F) return Script::kDevanagari;
  if (cp >= 0xE00 && cp <= 0xE7F) return Script::kThai;
  if ((cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0xAC00 && cp <= 0xD7AF)) return Script::kHangul;
  if ((cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF))
    return Script::kCjk;
  return Script::kNone;
}

constexpr int kLanguages = 7;  // en de fr es pt it nl
const std::array<std::unordered_set<std::string_view>, kLanguages>& stop_words() {
  static const std::array<std::unordered_set<std::string_view>, kLanguages> sets = {{
      {"the", "and", "is",  "to",   "of", "you", "your", "it",  "that", "in", "for",  "with", "this", "are",
       "be",  "can", "not", "have", "on", "my",  "do",   "how", "what", "i",  "will", "if",   "or",   "from"},
      {"der",  "die",  "das",   "und", "ist",  "nicht", "ich",  "sie",        "es",
       "mit",  "ein",  "eine",  "zu",  "den",  "von",   "auf",  "f\xC3\xBCr", "wie",
       "mein", "kann", "bitte", "ihr", "ihre", "wir",   "auch", "dem",        "werden"},
      {"le",   "la",   "les", "et",    "est",     "vous", "je",  "pas", "une", "des",  "du",   "pour", "que", "qui",
       "dans", "avec", "mon", "votre", "comment", "ce",   "sur", "au",  "il",  "nous", "sont", "peut", "mes"},
      {"el",    "los",  "las", "y",  "es", "que",   "en",          "un",         "una",
       "por",   "para", "con", "no", "mi", "su",    "c\xC3\xB3mo", "qu\xC3\xA9", "est\xC3\xA1",
       "puedo", "del",  "al",  "lo", "se", "usted", "tu"},
      {"o",   "os",   "e",           "\xC3\xA9",    "que",   "em", "um", "uma", "para", "com", "n\xC3\xA3o", "meu",
       "seu", "como", "est\xC3\xA1", "voc\xC3\xAA", "posso", "do", "da", "dos", "das",  "no",  "na",         "ao"},
      {"il",  "lo",   "gli",  "e",      "\xC3\xA8", "che", "di",    "un",  "una",  "per", "con", "non",
       "mio", "come", "sono", "questo", "posso",    "del", "della", "nel", "alla", "si",  "ho",  "mi"},
      {"de",  "het",  "een", "en",  "is",  "van", "ik", "je",   "niet", "op", "met", "voor",
       "dat", "mijn", "hoe", "kan", "wat", "u",   "uw", "zijn", "er",   "te", "ook", "naar"},
  }};
  return sets;
}

struct LanguageGuess {
  Script script = Script::kNone;
  int latin_language = -1;  ///< -1 unknown
  int64_t letters = 0;
};

LanguageGuess guess_language(std::string_view s) {
  std::array<int64_t, static_cast<size_t>(Script::kCount)> counts{};
  LanguageGuess g;
  for_each_cp(s, [&](int32_t cp, size_t) {
    if (!is_letter(cp)) return;
    ++g.letters;
    ++counts[static_cast<size_t>(script_of(cp))];
  });
  int64_t best = 0;
  for (size_t k = 1; k < counts.size(); ++k)
    if (counts[k] > best) {
      best = counts[k];
      g.script = static_cast<Script>(k);
    }
  if (g.script != Script::kLatin) return g;
  std::array<int, kLanguages> hits{};
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    for (int l = 0; l < kLanguages; ++l) hits[l] += stop_words()[l].count(word) ? 1 : 0;
    word.clear();
  };
  for_each_cp(s, [&](int32_t cp, size_t i) {
    if (is_letter(cp)) {
      if (cp < 0x80)
        word.push_back(static_cast<char>(std::tolower(cp)));
      else {
        const auto lower = utf8proc_tolower(cp);
        utf8proc_uint8_t tmp[4];
        const auto n = utf8proc_encode_char(lower, tmp);
        word.append(reinterpret_cast<const char*>(tmp), static_cast<size_t>(n));
      }
    } else {
      flush();
    }
    (void)i;
  });
  flush();
  int first = -1, second = 0;
  for (int l = 0; l < kLanguages; ++l) {
    if (first < 0 || hits[l] > hits[first]) first = l;
  }
  for (int l = 0; l < kLanguages; ++l)
    if (l != first) second = std::max(second, hits[l]);
  if (hits[first] >= 3 && hits[first] >= 2 * second) g.latin_language = first;
  return g;
}

bool language_mismatch(std::string_view question, std::string_view answer, int64_t min_letters) {
  const LanguageGuess q = guess_language(question), a = guess_language(answer);
  if (q.letters < min_letters || a.letters < min_letters) return false;
  if (q.script == Script::kNone || a.script == Script::kNone) return false;
  if (q.script != a.script) return true;
  return q.script == Script::kLatin && q.latin_language >= 0 && a.latin_language >= 0 &&
         q.latin_language != a.latin_language;
}

bool repeats_lines(std::string_view answer, double max_frac) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  for (size_t i = 0; i <= answer.size(); ++i) {
    if (i == answer.size() || answer[i] == '\n') {
      std::string_view line = answer.substr(start, i - start);
      while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
      while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      if (!line.empty()) lines.push_back(line);
      start = i + 1;
    }
  }
  if (lines.size() < 4) return false;
  std::unordered_set<std::string_view> seen;
  size_t dup = 0, total = 0;
  for (auto l : lines) {
    total += l.size();
    if (!seen.insert(l).second) dup += l.size();
  }
  return total > 0 && static_cast<double>(dup) / static_cast<double>(total) > max_frac;
}

ChatVerdict check(const RecordBatch& b, size_t i, const ChatQualityParams& p) {
  ChatVerdict v;
  auto fail = [&](const char* rule) {
    v.keep = false;
    v.reason = std::string("chat:") + rule;
    return v;
  };
  const size_t begin = b.messages_begin(i), end = b.messages_end(i);
  int64_t last_assistant = -1, last_user_before = -1;
  bool assistant_ok = false;
  for (size_t j = begin; j < end; ++j) {
    const auto role = static_cast<Role>(b.role[j]);
    if (role == Role::Assistant) {
      const bool has_calls = b.tool_calls.is_valid(j);
      if (has_calls || (b.content.is_valid(j) && !is_blank(b.content[j]))) assistant_ok = true;
      if (b.content.is_valid(j) && !is_blank(b.content[j])) last_assistant = static_cast<int64_t>(j);
    }
  }
  if (p.no_assistant && !assistant_ok) return fail("no_assistant");
  for (size_t j = begin; j < end; ++j) {
    const auto role = static_cast<Role>(b.role[j]);
    if (role != Role::User && role != Role::Assistant) continue;
    if (p.empty_turn && !b.tool_calls.is_valid(j) && (!b.content.is_valid(j) || is_blank(b.content[j])))
      return fail("empty_turn");
  }
  for (size_t j = begin; j < end; ++j) {
    if (p.turn_too_long && p.max_turn_chars >= 0 &&
        static_cast<int64_t>(core::utf8_length(b.content[j])) > p.max_turn_chars)
      return fail("turn_too_long");
  }
  if (p.markup)
    for (size_t j = begin; j < end; ++j) {
      const auto role = static_cast<Role>(b.role[j]);
      if ((role == Role::User || role == Role::Assistant) && has_markup(b.content[j])) return fail("markup");
    }
  if (last_assistant < 0) return v;
  for (int64_t j = last_assistant - 1; j >= static_cast<int64_t>(begin); --j)
    if (static_cast<Role>(b.role[static_cast<size_t>(j)]) == Role::User) {
      last_user_before = j;
      break;
    }
  const std::string_view answer = b.content[static_cast<size_t>(last_assistant)];
  if (p.refusal && is_refusal(answer)) return fail("refusal");
  if (p.truncated && p.truncated_min_words >= 0 && is_truncated(answer, p.truncated_min_words))
    return fail("truncated");
  if (last_user_before >= 0) {
    const std::string_view question = b.content[static_cast<size_t>(last_user_before)];
    if (p.language_mismatch && p.language_min_letters >= 0 &&
        language_mismatch(question, answer, p.language_min_letters))
      return fail("language_mismatch");
    if (p.length_ratio) {
      const double q = static_cast<double>(core::utf8_length(question));
      const double a = static_cast<double>(core::utf8_length(answer));
      if (p.max_length_ratio >= 0 && q >= 10 && a / q > p.max_length_ratio) return fail("length_ratio");
      if (p.min_length_ratio >= 0 && q >= 200 && a / q < p.min_length_ratio) return fail("length_ratio");
    }
  }
  if (p.repetition && p.max_dup_line_frac >= 0 && repeats_lines(answer, p.max_dup_line_frac)) return fail("repetition");
  return v;
}

}  // namespace

std::vector<ChatVerdict> chat_quality_batch(const RecordBatch& batch, const ChatQualityParams& params) {
  std::vector<ChatVerdict> out(batch.size());
  core::parallel_for(batch.size(), 256, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) out[i] = check(batch, i, params);
  });
  return out;
}

std::vector<std::string> chat_quality_rules() {
  return {"no_assistant", "empty_turn",        "turn_too_long", "markup",    "refusal",
          "truncated",    "language_mismatch", "length_ratio",  "repetition"};
}

}  // namespace airtune::clean
