#include "prompts/diversity.h"

#include <numeric>
#include <span>
#include <string>
#include <unordered_set>

#include "core/errors.h"
#include "core/threading.h"
#include "metrics/bleu.h"
#include "metrics/inputs.h"

namespace airtune::prompts {

namespace {

// 13a tokens of every text, tokenised once. Tokens view the texts or their buffers, which never move.
struct Tokenised {
  std::vector<std::string> buffers;
  std::vector<std::vector<std::string_view>> tokens;
};

Tokenised tokenise(const std::vector<std::string_view>& texts) {
  metrics::check_utf8(texts, "texts");
  Tokenised t;
  t.buffers.resize(texts.size());
  t.tokens.resize(texts.size());
  core::parallel_for(texts.size(), 8, [&](size_t b, size_t e) {
    std::string scratch;
    for (size_t i = b; i < e; ++i)
      metrics::bleu_tokenize(texts[i], metrics::BleuTokenizer::k13a, true, t.buffers[i], scratch, t.tokens[i]);
  });
  return t;
}

}  // namespace

double self_bleu(const std::vector<std::string_view>& texts) {
  const size_t n = texts.size();
  if (n < 2) return 0.0;
  const Tokenised t = tokenise(texts);
  metrics::BleuOptions opt;  // sacreBLEU's sentence_bleu: 13a, exp smoothing, effective order
  opt.effective_order = true;
  const auto width = static_cast<size_t>(metrics::bleu_stats_width(opt.max_order));
  std::vector<double> score(n, 0.0);
  core::parallel_for(n, 1, [&](size_t b, size_t e) {
    std::vector<std::span<const std::string_view>> refs;
    std::vector<int64_t> row(width);
    std::vector<double> sums(width);
    for (size_t i = b; i < e; ++i) {
      refs.clear();
      for (size_t j = 0; j < n; ++j)
        if (j != i) refs.emplace_back(t.tokens[j]);
      metrics::bleu_statistics_of_tokens(t.tokens[i], refs, opt.max_order, row.data());
      for (size_t c = 0; c < width; ++c) sums[c] = static_cast<double>(row[c]);
      score[i] = metrics::bleu_from_stats(sums.data(), opt).score / 100.0;
    }
  });
  return std::accumulate(score.begin(), score.end(), 0.0) / static_cast<double>(n);
}

double distinct_n(const std::vector<std::string_view>& texts, int n) {
  if (n < 1) throw InvalidArgument("distinct_n: n must be >= 1");
  const Tokenised t = tokenise(texts);
  std::unordered_set<std::string> seen;
  size_t total = 0;
  std::string key;
  for (const auto& toks : t.tokens) {
    for (size_t i = 0; i + n <= toks.size(); ++i) {
      key.clear();
      for (int k = 0; k < n; ++k) {
        for (char c : toks[i + k]) key += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        key += '\x1f';
      }
      seen.insert(key);
      ++total;
    }
  }
  return total ? static_cast<double>(seen.size()) / static_cast<double>(total) : 0.0;
}

}  // namespace airtune::prompts
