// A literal port of nltk/stem/porter.py (NLTK_EXTENSIONS), rule order and conditions included:
// the first rule whose suffix matches decides, even when its condition then fails.
#include "metrics/porter_stemmer.h"

#include <array>
#include <utility>
#include <vector>

namespace airtune::metrics {

namespace {

using std::string;
using std::string_view;

inline bool is_vowel(char c) noexcept { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

bool is_consonant(string_view w, size_t i) {
  if (is_vowel(w[i])) return false;
  if (w[i] == 'y') {
    bool negate = false;
    while (i > 0 && w[i] == 'y') {
      negate = !negate;
      --i;
    }
    return (!is_vowel(w[i])) != negate;
  }
  return true;
}

void consonant_flags(string_view w, std::vector<bool>& flags) {
  flags.clear();
  for (size_t i = 0; i < w.size(); ++i) {
    const char ch = w[i];
    if (is_vowel(ch)) {
      flags.push_back(false);
    } else if (ch == 'y') {
      flags.push_back(i == 0 ? true : !flags[i - 1]);
    } else {
      flags.push_back(true);
    }
  }
}

int measure(string_view stem) {
  std::vector<bool> f;
  consonant_flags(stem, f);
  int m = 0;
  for (size_t i = 0; i + 1 < f.size(); ++i) {
    if (!f[i] && f[i + 1]) ++m;
  }
  return m;
}

bool positive_measure(string_view stem) { return measure(stem) > 0; }

bool contains_vowel(string_view stem) {
  std::vector<bool> f;
  consonant_flags(stem, f);
  for (bool c : f) {
    if (!c) return true;
  }
  return false;
}

bool ends_double_consonant(string_view w) {
  return w.size() >= 2 && w[w.size() - 1] == w[w.size() - 2] && is_consonant(w, w.size() - 1);
}

bool ends_cvc(string_view w) {
  const size_t n = w.size();
  return (n >= 3 && is_consonant(w, n - 3) && !is_consonant(w, n - 2) && is_consonant(w, n - 1) && w[n - 1] != 'w' &&
          w[n - 1] != 'x' && w[n - 1] != 'y') ||
         (n == 2 && !is_consonant(w, 0) && is_consonant(w, 1));
}

inline bool ends_with(string_view w, string_view suf) noexcept {
  return w.size() >= suf.size() && w.substr(w.size() - suf.size()) == suf;
}

enum class Cond { kNone, kPositive, kGt1, kIon, kLogi, kStep1c, kStep5b, kStep1bDouble, kStep1bE };

struct Rule {
  string_view suffix;
  string_view replacement;  // for "*d" the caller passes the doubled letter separately
  Cond cond;
};

struct Ctx {
  string_view word;        // the word the rule list was applied to (for conditions on it)
  char intermediate_last;  // step 1b: last letter of the intermediate stem
};

bool check(Cond c, string_view stem, const Ctx& ctx) {
  switch (c) {
    case Cond::kNone:
      return true;
    case Cond::kPositive:
      return positive_measure(stem);
    case Cond::kGt1:
      return measure(stem) > 1;
    case Cond::kIon:
      return measure(stem) > 1 && (stem.back() == 's' || stem.back() == 't');
    case Cond::kLogi:
      return positive_measure(ctx.word.substr(0, ctx.word.size() - 3));
    case Cond::kStep1c:
      return stem.size() > 1 && is_consonant(stem, stem.size() - 1);
    case Cond::kStep5b:
      return measure(ctx.word.substr(0, ctx.word.size() - 1)) > 1;
    case Cond::kStep1bDouble:
      return ctx.intermediate_last != 'l' && ctx.intermediate_last != 's' && ctx.intermediate_last != 'z';
    case Cond::kStep1bE:
      return measure(stem) == 1 && ends_cvc(stem);
  }
  return false;
}

template <size_t N>
string apply_rules(const string& word, const std::array<Rule, N>& rules, const Ctx& ctx) {
  for (const Rule& r : rules) {
    if (r.suffix == "*d" && ends_double_consonant(word)) {
      string stem = word.substr(0, word.size() - 2);
      if (check(r.cond, stem, ctx)) return stem + ctx.intermediate_last;
      return word;
    }
    if (ends_with(word, r.suffix)) {
      string stem = word.substr(0, word.size() - r.suffix.size());
      if (check(r.cond, stem, ctx)) return stem + string(r.replacement);
      return word;
    }
  }
  return word;
}

string replace_suffix(const string& w, string_view suffix, string_view repl) {
  return w.substr(0, w.size() - suffix.size()) + string(repl);
}

string step1a(const string& w) {
  if (ends_with(w, "ies") && w.size() == 4) return replace_suffix(w, "ies", "ie");
  static constexpr std::array<Rule, 4> rules{
      {{"sses", "ss", Cond::kNone}, {"ies", "i", Cond::kNone}, {"ss", "ss", Cond::kNone}, {"s", "", Cond::kNone}}};
  return apply_rules(w, rules, Ctx{w, 0});
}

string step1b(const string& w) {
  if (ends_with(w, "ied")) return w.size() == 4 ? replace_suffix(w, "ied", "ie") : replace_suffix(w, "ied", "i");
  if (ends_with(w, "eed")) {
    string stem = replace_suffix(w, "eed", "");
    return measure(stem) > 0 ? stem + "ee" : w;
  }
  string inter;
  bool ok = false;
  for (string_view suf : {string_view("ed"), string_view("ing")}) {
    if (ends_with(w, suf)) {
      inter = replace_suffix(w, suf, "");
      if (contains_vowel(inter)) {
        ok = true;
        break;
      }
    }
  }
  if (!ok) return w;
  static constexpr std::array<Rule, 5> rules{{{"at", "ate", Cond::kNone},
                                              {"bl", "ble", Cond::kNone},
                                              {"iz", "ize", Cond::kNone},
                                              {"*d", "", Cond::kStep1bDouble},
                                              {"", "e", Cond::kStep1bE}}};
  return apply_rules(inter, rules, Ctx{inter, inter.back()});
}

string step1c(const string& w) {
  static constexpr std::array<Rule, 1> rules{{{"y", "i", Cond::kStep1c}}};
  return apply_rules(w, rules, Ctx{w, 0});
}

string step2(const string& w) {
  if (ends_with(w, "alli") && positive_measure(string_view(w).substr(0, w.size() - 4))) {
    return step2(replace_suffix(w, "alli", "al"));
  }
  static constexpr std::array<Rule, 22> rules{
      {{"ational", "ate", Cond::kPositive}, {"tional", "tion", Cond::kPositive}, {"enci", "ence", Cond::kPositive},
       {"anci", "ance", Cond::kPositive},   {"izer", "ize", Cond::kPositive},    {"bli", "ble", Cond::kPositive},
       {"alli", "al", Cond::kPositive},     {"entli", "ent", Cond::kPositive},   {"eli", "e", Cond::kPositive},
       {"ousli", "ous", Cond::kPositive},   {"ization", "ize", Cond::kPositive}, {"ation", "ate", Cond::kPositive},
       {"ator", "ate", Cond::kPositive},    {"alism", "al", Cond::kPositive},    {"iveness", "ive", Cond::kPositive},
       {"fulness", "ful", Cond::kPositive}, {"ousness", "ous", Cond::kPositive}, {"aliti", "al", Cond::kPositive},
       {"iviti", "ive", Cond::kPositive},   {"biliti", "ble", Cond::kPositive},  {"fulli", "ful", Cond::kPositive},
       {"logi", "log", Cond::kLogi}}};
  return apply_rules(w, rules, Ctx{w, 0});
}

string step3(const string& w) {
  static constexpr std::array<Rule, 7> rules{{{"icate", "ic", Cond::kPositive},
                                              {"ative", "", Cond::kPositive},
                                              {"alize", "al", Cond::kPositive},
                                              {"iciti", "ic", Cond::kPositive},
                                              {"ical", "ic", Cond::kPositive},
                                              {"ful", "", Cond::kPositive},
                                              {"ness", "", Cond::kPositive}}};
  return apply_rules(w, rules, Ctx{w, 0});
}

string step4(const string& w) {
  static constexpr std::array<Rule, 19> rules{{{"al", "", Cond::kGt1},
                                               {"ance", "", Cond::kGt1},
                                               {"ence", "", Cond::kGt1},
                                               {"er", "", Cond::kGt1},
                                               {"ic", "", Cond::kGt1},
                                               {"able", "", Cond::kGt1},
                                               {"ible", "", Cond::kGt1},
                                               {"ant", "", Cond::kGt1},
                                               {"ement", "", Cond::kGt1},
                                               {"ment", "", Cond::kGt1},
                                               {"ent", "", Cond::kGt1},
                                               {"ion", "", Cond::kIon},
                                               {"ou", "", Cond::kGt1},
                                               {"ism", "", Cond::kGt1},
                                               {"ate", "", Cond::kGt1},
                                               {"iti", "", Cond::kGt1},
                                               {"ous", "", Cond::kGt1},
                                               {"ive", "", Cond::kGt1},
                                               {"ize", "", Cond::kGt1}}};
  return apply_rules(w, rules, Ctx{w, 0});
}

string step5a(const string& w) {
  if (ends_with(w, "e")) {
    string stem = w.substr(0, w.size() - 1);
    const int m = measure(stem);
    if (m > 1) return stem;
    if (m == 1 && !ends_cvc(stem)) return stem;
  }
  return w;
}

string step5b(const string& w) {
  static constexpr std::array<Rule, 1> rules{{{"ll", "l", Cond::kStep5b}}};
  return apply_rules(w, rules, Ctx{w, 0});
}

const std::pair<string_view, string_view> kIrregular[] = {
    {"sky", "sky"},        {"skies", "sky"},       {"dying", "die"},        {"lying", "lie"},
    {"tying", "tie"},      {"news", "news"},       {"innings", "inning"},   {"inning", "inning"},
    {"outings", "outing"}, {"outing", "outing"},   {"cannings", "canning"}, {"canning", "canning"},
    {"howe", "howe"},      {"proceed", "proceed"}, {"exceed", "exceed"},    {"succeed", "succeed"}};

}  // namespace

std::string porter_stem(std::string_view word) {
  for (const auto& [form, stem] : kIrregular) {
    if (word == form) return string(stem);
  }
  string w(word);
  if (w.size() <= 2) return w;
  w = step1a(w);
  w = step1b(w);
  w = step1c(w);
  w = step2(w);
  w = step3(w);
  w = step4(w);
  w = step5a(w);
  w = step5b(w);
  return w;
}

}  // namespace airtune::metrics
