#include "prompts/variations.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "core/errors.h"
#include "core/hash.h"
#include "core/threading.h"
#include "core/utf8.h"
#include "dedup/minhash.h"

namespace airtune::prompts {

const std::vector<std::string>& transform_names() {
  static const std::vector<std::string> names = {"reorder_sentences", "reorder_items", "list_style",   "heading_style",
                                                 "whitespace",        "wording",       "contractions", "politeness",
                                                 "optional",          "slots",         "clause_order"};
  return names;
}

namespace {

struct Rng {
  uint64_t s;
  uint64_t next() {
    s += 0x9E3779B97F4A7C15ull;
    return core::mix64(s);
  }
  size_t below(size_t n) { return static_cast<size_t>((static_cast<unsigned __int128>(next()) * n) >> 64); }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  bool chance(double p) { return unit() < p; }
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }
};

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }
bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         (static_cast<unsigned char>(c) >= 0x80);
}
bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string lower_str(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = lower(c);
  return o;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (is_ws(s.front()) || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (is_ws(s.back()) || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

std::string first_word_lower(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && !is_alnum(s[i])) {
    if (s[i] != '"' && s[i] != '(' && s[i] != '*' && s[i] != '_') return {};
    ++i;
  }
  size_t j = i;
  while (j < s.size() && (is_alnum(s[j]) || s[j] == '\'')) ++j;
  return lower_str(s.substr(i, j - i));
}

struct Match {
  size_t begin, end;
  int phrase;
};

struct Seg {
  std::string text;  // masked text
  std::vector<Match> matches;
  bool has_token = false;
  bool optional = false;
  size_t clause_comma = 0;  // "If A, B.": position of the comma, 0 when the sentence has no such shape
};

enum class Kind { kHeading, kList, kLine, kRaw };

struct Element {
  Kind kind = Kind::kRaw;
  int gap_before = 0;              // blank lines before (0 or 1)
  std::vector<Seg> segs;           // heading text, list items, or sentences
  std::vector<std::string> tails;  // list items: continuation lines (verbatim, with leading '\n')
  std::vector<int> unit;           // unit id per seg (sentences/items that move together)
  int heading_style = 0;           // 0 markdown, 1 colon, 2 bold, 3 bold-colon
  int heading_level = 2;
  bool ordered = false;
  std::string marker;  // list marker of the original ("-", "*", "1.", "1)")
  std::string indent;
  std::string raw;  // kRaw: the line verbatim
};

struct Doc {
  std::vector<Element> els;
  std::string leading, trailing;  // whitespace around the prompt
  size_t n_tokens = 0;
  char sentinel = 0;
};

}  // namespace

Variator::Variator(Lexicon lexicon) : lex_(std::move(lexicon)) {
  auto check = [](const std::string& p, const char* where) {
    if (trim(p).empty()) throw InvalidArgument(std::string("lexicon: empty phrase in ") + where);
    for (char c : p)
      if (static_cast<unsigned char>(c) < 0x20)
        throw InvalidArgument(std::string("lexicon: control character in phrase '") + p + "' (" + where + ")");
    if (!core::is_valid_utf8(p)) throw InvalidArgument(std::string("lexicon: invalid UTF-8 in ") + where);
  };
  for (size_t g = 0; g < lex_.synonyms.size(); ++g) {
    if (lex_.synonyms[g].size() < 2)
      throw InvalidArgument("lexicon: synonym group " + std::to_string(g) + " needs at least two phrasings");
    for (auto& p : lex_.synonyms[g]) {
      const bool initial = !p.empty() && p[0] == '^';
      if (initial) p.erase(0, 1);
      check(p, "synonyms");
      Phrase ph{lower_str(p), p, static_cast<int>(g), 0};
      ph.initial = initial;
      phrases_.push_back(std::move(ph));
    }
  }
  if (lex_.polite_prefixes.empty()) lex_.polite_prefixes = {"Please"};
  for (const auto& p : lex_.polite_prefixes) check(p, "polite_prefixes");
  for (size_t g = 0; g < lex_.contractions.size(); ++g) {
    check(lex_.contractions[g].first, "contractions");
    check(lex_.contractions[g].second, "contractions");
    phrases_.push_back({lower_str(lex_.contractions[g].first), lex_.contractions[g].first, static_cast<int>(g), 1});
    phrases_.push_back({lower_str(lex_.contractions[g].second), lex_.contractions[g].second, static_cast<int>(g), 2});
  }
  for (auto& v : lex_.imperative_verbs) v = lower_str(v);
  for (auto& v : lex_.anaphora) v = lower_str(v);
}

namespace {

struct Compiled {
  const std::vector<Variator::Phrase>* phrases;
  std::vector<Variator::Phrase> slot_phrases;                  // kind 3, group = slot index
  std::unordered_map<std::string, std::vector<int>> by_first;  // first word -> phrase ids (slot ids negative-1)
  std::unordered_set<std::string> imperative, anaphora;
};

std::string first_word_of_phrase(const std::string& lower) {
  size_t j = 0;
  while (j < lower.size() && (is_alnum(lower[j]) || lower[j] == '\'')) ++j;
  return lower.substr(0, j == 0 ? 1 : j);
}

const Variator::Phrase& phrase_at(const Compiled& c, int id) {
  return id >= 0 ? (*c.phrases)[id] : c.slot_phrases[static_cast<size_t>(-id - 1)];
}

// Leftmost-longest matches of lexicon phrases and slots at word starts; slots win ties.
std::vector<Match> find_matches(const Compiled& c, const std::string& t, char sentinel) {
  std::vector<Match> out;
  size_t i = 0;
  while (i < t.size()) {
    const bool start = (i == 0 || (!is_alnum(t[i - 1]) && t[i - 1] != '\'')) && t[i] != sentinel;
    if (!start) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < t.size() && (is_alnum(t[j]) || t[j] == '\'')) ++j;
    std::string w = lower_str(std::string_view(t).substr(i, j == i ? 1 : j - i));
    auto it = c.by_first.find(w);
    int best = 0;
    size_t best_len = 0;
    bool best_slot = false;
    if (it != c.by_first.end()) {
      for (int id : it->second) {
        const auto& p = phrase_at(c, id);
        if (p.initial && i != 0) continue;
        const size_t L = p.lower.size();
        if (t.size() - i < L) continue;
        bool eq = true;
        for (size_t k = 0; k < L && eq; ++k) eq = (id < 0 ? t[i + k] == p.text[k] : lower(t[i + k]) == p.lower[k]);
        if (!eq) continue;
        if (i + L < t.size() && is_alnum(t[i + L]) && is_alnum(p.lower.back())) continue;
        const bool slot = id < 0;
        if ((slot && !best_slot) || (slot == best_slot && L > best_len)) {
          best = id, best_len = L, best_slot = slot;
        }
      }
    }
    if (best_len) {
      out.push_back({i, i + best_len, best});
      i += best_len;
    } else {
      i = std::max(j, i + 1);
    }
  }
  return out;
}

// Sentence split of one masked line: after . ! ? (plus closing quotes/brackets) followed by
// spaces and an upper-case letter, digit, quote or token; not after common abbreviations.
std::vector<std::string> split_sentences(std::string_view s, char sentinel) {
  static const std::unordered_set<std::string> abbrev = {"e.g", "i.e", "etc",    "mr",  "mrs", "ms", "dr", "vs",
                                                         "st",  "no",  "approx", "inc", "ltd", "jr", "sr", "u.s"};
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c != '.' && c != '!' && c != '?') continue;
    size_t j = i + 1;
    while (j < s.size() && (s[j] == '"' || s[j] == '\'' || s[j] == ')' || s[j] == ']' || s[j] == '*')) ++j;
    if (j >= s.size() || !is_ws(s[j])) continue;
    size_t k = j;
    while (k < s.size() && is_ws(s[k])) ++k;
    if (k >= s.size()) continue;
    const char n = s[k];
    if (!((n >= 'A' && n <= 'Z') || (n >= '0' && n <= '9') || n == '"' || n == sentinel || n == '(' || n == '*'))
      continue;
    if (c == '.') {
      size_t w = i;
      while (w > start && (is_alnum(s[w - 1]) || s[w - 1] == '.')) --w;
      const std::string word = lower_str(s.substr(w, i - w));
      if (abbrev.count(word) || word.size() == 1) continue;
    }
    out.emplace_back(s.substr(start, j - start));
    start = k;
    i = k - 1;
  }
  if (start < s.size()) out.emplace_back(s.substr(start));
  return out;
}

bool ends_with_colon(std::string_view s) {
  s = trim(s);
  return !s.empty() && s.back() == ':';
}

// List marker at the start of a line: returns the marker length (including following spaces) or 0.
size_t list_marker(std::string_view line, bool& ordered, std::string& marker) {
  if (line.size() >= 2 && (line[0] == '-' || line[0] == '*' || line[0] == '+') && line[1] == ' ') {
    ordered = false;
    marker = std::string(1, line[0]);
    size_t k = 1;
    while (k < line.size() && line[k] == ' ') ++k;
    return k;
  }
  if (line.size() >= 4 && line.substr(0, 3) == "\xE2\x80\xA2" && line[3] == ' ') {  // bullet
    ordered = false;
    marker = "\xE2\x80\xA2";
    size_t k = 3;
    while (k < line.size() && line[k] == ' ') ++k;
    return k;
  }
  size_t d = 0;
  while (d < line.size() && d < 3 && line[d] >= '0' && line[d] <= '9') ++d;
  if (d > 0 && d + 1 < line.size() && (line[d] == '.' || line[d] == ')') && line[d + 1] == ' ') {
    ordered = true;
    marker = std::string("1") + line[d];
    size_t k = d + 1;
    while (k < line.size() && line[k] == ' ') ++k;
    return k;
  }
  return 0;
}

bool is_token_only(std::string_view line, char sentinel) {
  line = trim(line);
  if (line.size() < 3 || line.front() != sentinel || line.back() != sentinel) return false;
  for (size_t i = 1; i + 1 < line.size(); ++i)
    if (line[i] < '0' || line[i] > '9') return false;
  return true;
}

Seg make_seg(const Compiled& c, std::string text, char sentinel) {
  Seg s;
  s.text = std::move(text);
  s.has_token = s.text.find(sentinel) != std::string::npos;
  s.matches = find_matches(c, s.text, sentinel);
  // A leading subordinate clause: one ", " only, no other punctuation that would make the swap
  // ambiguous, and a final period.
  static const std::unordered_set<std::string> kOpeners = {"if",     "when",  "whenever", "unless",
                                                           "before", "after", "once"};
  const std::string w = first_word_lower(s.text);
  const size_t comma = s.text.find(", ");
  if (kOpeners.count(w) && comma != std::string::npos && s.text.find(", ", comma + 2) == std::string::npos &&
      s.text.size() > comma + 4 && s.text.back() == '.' && s.text.find_first_of(";:?!\"") == std::string::npos &&
      std::count(s.text.begin(), s.text.end(), '.') == 1 && s.text[0] >= 'A' && s.text[0] <= 'Z') {
    // Do not swap when the clause holds a lexicon match that crosses the comma.
    bool crosses = false;
    for (const auto& m : s.matches) crosses = crosses || (m.begin < comma && m.end > comma);
    if (!crosses) s.clause_comma = comma;
  }
  return s;
}

void assign_units(Element& e, const Compiled& c) {
  e.unit.assign(e.segs.size(), 0);
  int u = 0;
  for (size_t i = 0; i < e.segs.size(); ++i) {
    const bool bound = i == 0 || c.anaphora.count(first_word_lower(e.segs[i].text)) ||
                       ends_with_colon(e.segs[i - 1].text) || ends_with_colon(e.segs[i].text);
    if (i > 0 && !bound) ++u;
    e.unit[i] = u;
  }
}

Doc parse(const Compiled& c, const std::string& masked, char sentinel) {
  Doc doc;
  doc.sentinel = sentinel;
  size_t b = 0, e = masked.size();
  while (b < e && (is_ws(masked[b]) || masked[b] == '\n')) ++b;
  while (e > b && (is_ws(masked[e - 1]) || masked[e - 1] == '\n')) --e;
  doc.leading = masked.substr(0, b);
  doc.trailing = masked.substr(e);
  std::vector<std::string_view> lines;
  {
    std::string_view body(masked.data() + b, e - b);
    size_t i = 0;
    while (i <= body.size()) {
      size_t p = body.find('\n', i);
      if (p == std::string_view::npos) p = body.size();
      lines.push_back(body.substr(i, p - i));
      i = p + 1;
    }
  }
  int gap = 0;
  for (size_t li = 0; li < lines.size(); ++li) {
    std::string_view line = lines[li];
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (trim(line).empty()) {
      gap = 1;
      continue;
    }
    bool ordered = false;
    std::string marker;
    const size_t ml = list_marker(line, ordered, marker);
    if (ml) {
      if (doc.els.empty() || doc.els.back().kind != Kind::kList || gap || doc.els.back().ordered != ordered) {
        Element el;
        el.kind = Kind::kList;
        el.gap_before = gap;
        el.ordered = ordered;
        el.marker = marker;
        doc.els.push_back(std::move(el));
      }
      auto& el = doc.els.back();
      el.segs.push_back(make_seg(c, std::string(line.substr(ml)), sentinel));
      el.tails.emplace_back();
      gap = 0;
      continue;
    }
    if (!doc.els.empty() && doc.els.back().kind == Kind::kList && !gap && (line[0] == ' ' || line[0] == '\t')) {
      doc.els.back().tails.back() += "\n" + std::string(line);  // continuation or nested item
      continue;
    }
    Element el;
    el.gap_before = gap;
    gap = 0;
    const std::string_view tl = trim(line);
    size_t hashes = 0;
    while (hashes < tl.size() && tl[hashes] == '#') ++hashes;
    bool next_is_list = false;
    if (li + 1 < lines.size()) {
      bool o2;
      std::string m2;
      next_is_list = list_marker(lines[li + 1], o2, m2) > 0;
    }
    auto words = [](std::string_view s) { return std::count(s.begin(), s.end(), ' ') + 1; };
    if (line[0] != ' ' && line[0] != '\t' && hashes >= 1 && hashes <= 6 && hashes < tl.size() && tl[hashes] == ' ') {
      el.kind = Kind::kHeading;
      el.heading_style = 0;
      el.heading_level = static_cast<int>(hashes);
      el.segs.push_back(make_seg(c, std::string(trim(tl.substr(hashes))), sentinel));
    } else if (tl.size() > 4 && tl.substr(0, 2) == "**" &&
               (tl.substr(tl.size() - 2) == "**" || tl.substr(tl.size() - 3) == "**:") &&
               tl.substr(2, tl.size() - 4).find("**") == std::string_view::npos && words(tl) <= 10) {
      el.kind = Kind::kHeading;
      const bool colon = tl.back() == ':';
      std::string_view inner = tl.substr(2, tl.size() - (colon ? 5 : 4));
      const bool inner_colon = !inner.empty() && inner.back() == ':';
      if (inner_colon) inner.remove_suffix(1);
      el.heading_style = (colon || inner_colon) ? 3 : 2;
      el.segs.push_back(make_seg(c, std::string(trim(inner)), sentinel));
    } else if (next_is_list && tl.back() == ':' && words(tl) <= 8 &&
               tl.find_first_of(".!?") == std::string_view::npos && line[0] != ' ') {
      el.kind = Kind::kHeading;
      el.heading_style = 1;
      el.segs.push_back(make_seg(c, std::string(trim(tl.substr(0, tl.size() - 1))), sentinel));
    } else if (line[0] == ' ' || line[0] == '\t' || line[0] == '|' || line[0] == '>' || is_token_only(line, sentinel) ||
               tl.find_first_not_of("-=_*") == std::string_view::npos) {
      el.kind = Kind::kRaw;
      el.raw = std::string(line);
    } else {
      el.kind = Kind::kLine;
      for (auto& s : split_sentences(line, sentinel)) el.segs.push_back(make_seg(c, std::move(s), sentinel));
    }
    if (el.kind != Kind::kRaw) {
      // Heading text with a list marker-like or empty content falls back to raw.
      if (el.segs.empty() || el.segs[0].text.empty()) {
        el.kind = Kind::kRaw;
        el.raw = std::string(line);
        el.segs.clear();
      }
    }
    doc.els.push_back(std::move(el));
  }
  for (auto& el : doc.els)
    if (el.kind == Kind::kList || el.kind == Kind::kLine) assign_units(el, c);
  return doc;
}

struct Plan {
  bool clause_order = false;
  bool reorder = false;
  int list_style = -1;     // -1 keep, 0 '-', 1 '*', 2 '1.', 3 '1)', 4 prose
  int heading_style = -1;  // -1 keep, 0..3
  int gaps = -1;           // -1 keep, 0 compact, 1 blank line between all
  double p_word = 0;
  int contractions = 0;  // 0 keep, 1 contract, 2 expand
  int politeness = 0;    // 0 keep, 1 add, 2 remove
  bool drop_optional = false;
  std::vector<size_t> slot_choice;  // per slot: 0 original, k alternative k-1
};

std::string capitalize_like(std::string rep, std::string_view orig) {
  if (orig.empty() || rep.empty()) return rep;
  bool all_upper = orig.size() > 1;
  for (char ch : orig)
    if (ch >= 'a' && ch <= 'z') all_upper = false;
  if (all_upper) {
    for (auto& ch : rep) ch = upper(ch);
  } else if (orig[0] >= 'A' && orig[0] <= 'Z') {
    rep[0] = upper(rep[0]);
  }
  return rep;
}

// "a" / "an" before a replaced word: fix the article already written at the end of `out`.
void fix_article(std::string& out, std::string_view next) {
  if (next.empty()) return;
  const char f = lower(next[0]);
  const bool vowel = f == 'a' || f == 'e' || f == 'i' || f == 'o';
  const bool letter = f >= 'a' && f <= 'z';
  auto word_start = [&](size_t len) { return out.size() == len || !is_alnum(out[out.size() - len - 1]); };
  if (vowel && out.size() >= 2 &&
      (out.compare(out.size() - 2, 2, "a ") == 0 || out.compare(out.size() - 2, 2, "A ") == 0) && word_start(2)) {
    out.insert(out.size() - 1, "n");
  } else if (letter && !vowel && f != 'u' && f != 'h' && out.size() >= 3 &&
             (out.compare(out.size() - 3, 3, "an ") == 0 || out.compare(out.size() - 3, 3, "An ") == 0) &&
             word_start(3)) {
    out.erase(out.size() - 2, 1);
  }
}

std::string render_seg(const Compiled& c, const Lexicon& lex, const Seg& s, const Plan& plan, Rng& rng,
                       uint32_t& applied, const std::vector<std::vector<std::string>>& slot_values) {
  std::string out;
  out.reserve(s.text.size() + 16);
  size_t pos = 0;
  const bool swap = plan.clause_order && s.clause_comma > 0 && rng.chance(0.7);
  for (const auto& m : s.matches) {
    out.append(s.text, pos, m.begin - pos);
    const std::string_view orig(s.text.data() + m.begin, m.end - m.begin);
    const auto& p = phrase_at(c, m.phrase);
    std::string rep;
    bool changed = false;
    if (p.kind == 3) {
      const size_t choice = plan.slot_choice[static_cast<size_t>(p.group)];
      if (choice > 0) {
        rep = slot_values[static_cast<size_t>(p.group)][choice - 1];
        changed = true;
        applied |= kSlots;
      }
    } else if (p.kind == 0) {
      if (plan.p_word > 0 && rng.chance(plan.p_word)) {
        // Uniform over the whole group, the original included: two variants then differ at this
        // phrase with probability 1 - 1/|group|, the most a group of that size allows.
        const auto& group = lex.synonyms[static_cast<size_t>(p.group)];
        const size_t k = rng.below(group.size());
        if (lower_str(group[k]) != p.lower) {
          rep = capitalize_like(group[k], orig);
          changed = true;
          applied |= kWording;
        }
      }
    } else if ((p.kind == 1 && plan.contractions == 1) || (p.kind == 2 && plan.contractions == 2)) {
      const auto& pair = lex.contractions[static_cast<size_t>(p.group)];
      rep = capitalize_like(p.kind == 1 ? pair.second : pair.first, orig);
      changed = true;
      applied |= kContractions;
    }
    if (changed) fix_article(out, rep);
    out.append(changed ? std::string_view(rep) : orig);
    pos = m.end;
  }
  out.append(s.text, pos, std::string::npos);
  if (swap) {
    // "If A, B." -> "B if A." on the rendered text: find the first ", " after the opener again.
    const size_t comma = out.find(", ");
    if (comma != std::string::npos && comma > 0 && out.find(", ", comma + 2) == std::string::npos &&
        out.size() > comma + 3 && out.back() == '.') {
      std::string sub = out.substr(0, comma);
      std::string main = out.substr(comma + 2, out.size() - comma - 3);
      if (!sub.empty() && !main.empty()) {
        sub[0] = lower(sub[0]);
        main[0] = upper(main[0]);
        out = main + " " + sub + ".";
        applied |= kClauseOrder;
      }
    }
  }
  if (plan.politeness == 2) {
    for (const auto& pre : lex.polite_prefixes) {
      const size_t L = pre.size();
      if (out.size() > L + 1 && lower_str(out.substr(0, L)) == lower_str(pre) && out[L] == ' ') {
        size_t k = L;
        while (k < out.size() && out[k] == ' ') ++k;
        if (k < out.size() && c.imperative.count(first_word_lower(std::string_view(out).substr(k)))) {
          out.erase(0, k);
          out[0] = upper(out[0]);
          applied |= kPoliteness;
        }
        break;
      }
    }
  } else if (plan.politeness == 1 && (out[0] >= 'A' && out[0] <= 'Z') && rng.chance(0.5)) {
    const std::string w = first_word_lower(out);
    if (c.imperative.count(w)) {
      const bool neg = w == "do" || w == "don't" || w == "please";
      if (w != "please") {
        const std::string& pre =
            neg ? lex.polite_prefixes[0] : lex.polite_prefixes[rng.below(lex.polite_prefixes.size())];
        out[0] = lower(out[0]);
        out.insert(0, pre + " ");
        applied |= kPoliteness;
      }
    }
  }
  return out;
}

// Shuffle units (except unit 0) of a segment list; returns the new order of segment indices.
std::vector<size_t> shuffled_order(const std::vector<int>& unit, bool keep_first, Rng& rng) {
  std::vector<std::vector<size_t>> units;
  for (size_t i = 0; i < unit.size(); ++i) {
    if (units.empty() || unit[i] != unit[i - 1]) units.emplace_back();
    units.back().push_back(i);
  }
  const size_t fixed = keep_first ? 1 : 0;
  if (units.size() > fixed + 1) {
    std::vector<std::vector<size_t>> movable(units.begin() + static_cast<long>(fixed), units.end());
    rng.shuffle(movable);
    std::copy(movable.begin(), movable.end(), units.begin() + static_cast<long>(fixed));
  }
  std::vector<size_t> order;
  for (auto& u : units) order.insert(order.end(), u.begin(), u.end());
  return order;
}

void ensure_sentence_end(std::string& s, char sentinel) {
  size_t e = s.size();
  while (e > 0 && is_ws(s[e - 1])) --e;
  s.resize(e);
  if (s.empty()) return;
  const char last = s.back();
  if (last != '.' && last != '!' && last != '?' && last != sentinel)
    s.push_back('.');
  else if (last == sentinel)
    s.push_back('.');
}

std::string render(const Compiled& c, const Lexicon& lex, const Doc& doc, const Plan& plan, Rng& rng, uint32_t& applied,
                   const std::vector<std::vector<std::string>>& slot_values) {
  std::string out = doc.leading;
  bool first = true;
  for (size_t ei = 0; ei < doc.els.size(); ++ei) {
    const Element& el = doc.els[ei];
    std::string body;
    if (el.kind == Kind::kRaw) {
      body = el.raw;
    } else if (el.kind == Kind::kHeading) {
      std::string h = render_seg(c, lex, el.segs[0], plan, rng, applied, slot_values);
      int style = el.heading_style;
      if (plan.heading_style >= 0 && plan.heading_style != style) {
        style = plan.heading_style;
        applied |= kHeadingStyle;
      }
      if (style == 0)
        body = std::string(static_cast<size_t>(el.heading_level), '#') + " " + h;
      else if (style == 1)
        body = h + ":";
      else if (style == 2)
        body = "**" + h + "**";
      else
        body = "**" + h + ":**";
    } else {
      std::vector<size_t> order(el.segs.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      const bool can_reorder = el.kind == Kind::kLine || !el.ordered;
      if (plan.reorder && can_reorder && rng.chance(0.7)) {
        auto o2 = shuffled_order(el.unit, el.kind == Kind::kLine, rng);
        if (o2 != order) {
          applied |= el.kind == Kind::kLine ? kReorderSentences : kReorderItems;
          order = std::move(o2);
        }
      }
      std::vector<std::string> parts;
      std::vector<size_t> kept;
      for (size_t i : order) {
        const Seg& s = el.segs[i];
        if (plan.drop_optional && s.optional && rng.chance(0.5)) {
          applied |= kOptional;
          continue;
        }
        parts.push_back(render_seg(c, lex, s, plan, rng, applied, slot_values));
        kept.push_back(i);
      }
      if (parts.empty()) continue;
      if (el.kind == Kind::kLine) {
        for (size_t i = 0; i < parts.size(); ++i) body += (i ? " " : "") + parts[i];
      } else {
        int style = -1;
        bool has_tails = false;
        for (size_t i : kept) has_tails = has_tails || !el.tails[i].empty();
        if (plan.list_style >= 0 && !(plan.list_style == 4 && (has_tails || parts.size() > 10)))
          style = plan.list_style;
        const std::string orig_marker = el.marker;
        if (style == 4) {
          applied |= kListStyle;
          for (size_t i = 0; i < parts.size(); ++i) {
            std::string p = parts[i];
            if (!p.empty() && p[0] >= 'a' && p[0] <= 'z') p[0] = upper(p[0]);
            ensure_sentence_end(p, doc.sentinel);
            body += (i ? " " : "") + p;
          }
        } else {
          static const char* kMarkers[] = {"-", "*", "1.", "1)"};
          std::string marker = style >= 0 ? kMarkers[style] : orig_marker;
          if (marker != orig_marker) applied |= kListStyle;
          for (size_t i = 0; i < parts.size(); ++i) {
            std::string m = marker;
            if (marker == "1." || marker == "1)") m = std::to_string(i + 1) + marker.substr(1);
            if (i) body += "\n";
            body += m + " " + parts[i] + el.tails[kept[i]];
          }
        }
      }
    }
    if (!first) {
      int gap = el.gap_before;
      if (plan.gaps == 0) gap = 0;
      if (plan.gaps == 1) gap = 1;
      if (gap != el.gap_before) applied |= kWhitespace;
      out += gap ? "\n\n" : "\n";
    }
    out += body;
    first = false;
  }
  out += doc.trailing;
  return out;
}

// Character 4-shingles of the text as it is (dedup's shingles, no normalisation).
const dedup::MinHashOptions& shingle_options() {
  static const dedup::MinHashOptions o = dedup::char_shingle_options(4, false);
  return o;
}

void shingles(std::string_view s, std::vector<uint64_t>& out) { out = dedup::shingle_hashes(s, shingle_options()); }

// Two texts without shingles (both empty) are at distance 0.
double jaccard_distance(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  return a.empty() && b.empty() ? 0.0 : 1.0 - dedup::jaccard(a, b);
}

}  // namespace

double shingle_distance(std::string_view a, std::string_view b) {
  std::vector<uint64_t> sa, sb;
  shingles(a, sa);
  shingles(b, sb);
  return jaccard_distance(sa, sb);
}

VariationResult Variator::generate(std::string_view prompt, const VariationOptions& o) const {
  if (o.n < 0) throw InvalidArgument("variations: n must be >= 0");
  if (!(o.min_distance >= 0.0 && o.min_distance < 1.0))
    throw InvalidArgument("variations: min_distance must be in [0, 1)");
  if (o.max_attempts < 0) throw InvalidArgument("variations: max_attempts must be >= 0");
  if (trim(prompt).empty()) throw InvalidArgument("variations: the prompt is empty");
  const size_t bad = core::first_invalid_utf8(prompt);
  if (bad != prompt.size())
    throw InvalidArgument("variations: the prompt is not valid UTF-8 at byte " + std::to_string(bad));

  VariationResult res;
  res.protected_spans = find_protected_spans(prompt, o.protect);
  // A sentinel byte that does not occur in the prompt.
  char sentinel = 0;
  for (int c = 1; c < 32 && !sentinel; ++c)
    if (c != '\t' && c != '\n' && c != '\r' && prompt.find(static_cast<char>(c)) == std::string_view::npos)
      sentinel = static_cast<char>(c);
  if (!sentinel) return res;  // no byte left to mark protected spans: nothing is varied
  std::string masked;
  masked.reserve(prompt.size());
  size_t pos = 0;
  for (size_t k = 0; k < res.protected_spans.size(); ++k) {
    const auto& s = res.protected_spans[k];
    masked.append(prompt.substr(pos, s.begin - pos));
    masked += sentinel;
    masked += std::to_string(k);
    masked += sentinel;
    pos = s.end;
  }
  masked.append(prompt.substr(pos));

  Compiled c;
  c.phrases = &phrases_;
  std::vector<std::vector<std::string>> slot_values;
  for (size_t si = 0; si < o.slots.size(); ++si) {
    const auto& [key, alts] = o.slots[si];
    if (trim(key).empty()) throw InvalidArgument("variations: slot " + std::to_string(si) + " has an empty name");
    c.slot_phrases.push_back({lower_str(key), key, static_cast<int>(si), 3});
    slot_values.push_back(alts);
  }
  for (size_t id = 0; id < phrases_.size(); ++id)
    c.by_first[first_word_of_phrase(phrases_[id].lower)].push_back(static_cast<int>(id));
  for (size_t si = 0; si < c.slot_phrases.size(); ++si)
    c.by_first[first_word_of_phrase(c.slot_phrases[si].lower)].push_back(-static_cast<int>(si) - 1);
  c.imperative.insert(lex_.imperative_verbs.begin(), lex_.imperative_verbs.end());
  c.anaphora.insert(lex_.anaphora.begin(), lex_.anaphora.end());

  Doc doc = parse(c, masked, sentinel);
  doc.n_tokens = res.protected_spans.size();
  if (!o.optional_sentences.empty()) {
    std::unordered_set<std::string> opt;
    for (const auto& s : o.optional_sentences) opt.insert(std::string(trim(s)));
    for (auto& el : doc.els)
      if (el.kind == Kind::kLine || el.kind == Kind::kList)
        for (auto& s : el.segs)
          if (!s.has_token && opt.count(std::string(trim(s.text)))) s.optional = true;
  }

  std::vector<std::vector<uint64_t>> accepted;
  std::vector<uint64_t> sh;
  shingles(masked, sh);
  accepted.push_back(sh);
  const int max_attempts = o.max_attempts > 0 ? o.max_attempts : 30 * o.n + 30;
  const uint32_t t = o.transforms;
  for (int a = 0; a < max_attempts && static_cast<int>(res.variants.size()) < o.n; ++a) {
    ++res.attempts;
    Rng rng{core::mix64(o.seed ^ core::mix64(static_cast<uint64_t>(a) + 0x51ED2701ull))};
    Plan plan;
    plan.clause_order = (t & kClauseOrder) && rng.chance(0.5);
    plan.reorder = (t & (kReorderSentences | kReorderItems)) && rng.chance(0.6);
    if ((t & kListStyle) && rng.chance(0.5)) plan.list_style = static_cast<int>(rng.below(5));
    if ((t & kHeadingStyle) && rng.chance(0.5)) plan.heading_style = static_cast<int>(rng.below(4));
    if ((t & kWhitespace) && rng.chance(0.4)) plan.gaps = static_cast<int>(rng.below(2));
    if ((t & kWording) && rng.chance(0.9)) plan.p_word = 0.7 + 0.3 * rng.unit();
    if ((t & kContractions) && rng.chance(0.5)) plan.contractions = 1 + static_cast<int>(rng.below(2));
    if (t & kPoliteness) {
      const double u = rng.unit();
      plan.politeness = u < 0.5 ? 1 : (u < 0.65 ? 2 : 0);
    }
    plan.drop_optional = (t & kOptional) && rng.chance(0.5);
    for (const auto& alts : slot_values)
      plan.slot_choice.push_back((t & kSlots) && !alts.empty() ? rng.below(alts.size() + 1) : 0);
    uint32_t applied = 0;
    std::string out = render(c, lex_, doc, plan, rng, applied, slot_values);
    if (!(t & kReorderSentences)) applied &= ~kReorderSentences;
    if (!(t & kReorderItems)) applied &= ~kReorderItems;
    shingles(out, sh);
    double dmin = 1.0;
    for (const auto& acc : accepted) dmin = std::min(dmin, jaccard_distance(sh, acc));
    if (dmin < o.min_distance || dmin <= 0.0 || out == masked) continue;
    // Unmask, checking that every token occurs exactly once.
    std::string text;
    text.reserve(prompt.size() + 64);
    std::vector<uint8_t> seen(res.protected_spans.size(), 0);
    bool ok = true;
    for (size_t i = 0; i < out.size() && ok; ++i) {
      if (out[i] != sentinel) {
        text += out[i];
        continue;
      }
      const size_t close = out.find(sentinel, i + 1);
      if (close == std::string::npos) {
        ok = false;
        break;
      }
      const size_t k = std::stoul(out.substr(i + 1, close - i - 1));
      if (k >= seen.size() || seen[k]) {
        ok = false;
        break;
      }
      seen[k] = 1;
      const auto& s = res.protected_spans[k];
      text.append(prompt.substr(s.begin, s.end - s.begin));
      i = close;
    }
    for (auto v : seen) ok = ok && v;
    if (!ok) continue;
    accepted.push_back(sh);
    res.variants.push_back({std::move(text), applied, dmin});
  }
  return res;
}

std::vector<VariationResult> Variator::generate_many(const std::vector<std::string_view>& prompts,
                                                     const VariationOptions& options) const {
  std::vector<VariationResult> out(prompts.size());
  core::parallel_for(prompts.size(), 1, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) {
      VariationOptions o = options;
      o.seed = core::mix64(options.seed ^ core::mix64(i + 1));
      out[i] = generate(prompts[i], o);
    }
  });
  return out;
}

}  // namespace airtune::prompts
