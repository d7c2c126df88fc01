// Hand-computed and published vectors for the metrics engine (sacreBLEU, rouge-score, NLTK, sklearn).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/threading.h"
#include "metrics/answer_match.h"
#include "metrics/bleu.h"
#include "metrics/bleu_tokenizers.h"
#include "metrics/chrf.h"
#include "metrics/classification.h"
#include "metrics/json_validity.h"
#include "metrics/ngram_table.h"
#include "metrics/porter_stemmer.h"
#include "metrics/resampling.h"
#include "metrics/rouge.h"
#include "metrics/taxonomy.h"
#include "metrics/text.h"

using namespace airtune::metrics;

namespace {

References single(const std::vector<std::string_view>& r) { return References{{r}, {}}; }

}  // namespace

TEST(MetricsTokenizers, Published13aVectors) {
  EXPECT_EQ(bleu_tokenized_line("Hello, world! It's 3.14 and 1,000 (ok).", BleuTokenizer::k13a),
            "Hello , world ! It's 3.14 and 1,000 ( ok ) .");
  EXPECT_EQ(bleu_tokenized_line("e-mail: a@b.com; x-1 5-6 \"quoted\" &amp; été—café.", BleuTokenizer::k13a),
            "e-mail : a @ b . com ; x-1 5 - 6 \" quoted \" & été—café .");
  EXPECT_EQ(bleu_tokenized_line("U.S.A. end.", BleuTokenizer::k13a), "U . S . A . end .");
  EXPECT_EQ(bleu_tokenized_line("a-\nb <skipped>c", BleuTokenizer::k13a), "ab c");
  EXPECT_EQ(bleu_tokenized_line("été—café", BleuTokenizer::kIntl), "été — café");
  EXPECT_EQ(bleu_tokenized_line("ab c", BleuTokenizer::kChar), "a b c");
  EXPECT_THROW(parse_bleu_tokenizer("zh"), airtune::InvalidArgument);
}

TEST(MetricsBleu, PublishedCorpusVector) {
  std::vector<std::string_view> hyps{"The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."};
  References refs{{{"The dog bit the man.", "It was not unexpected.", "The man bit him first."},
                   {"The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."}},
                  {}};
  BleuOptions opt;
  auto stats = bleu_statistics(hyps, refs, opt);
  std::vector<double> sums(10, 0.0);
  for (size_t i = 0; i < 3; ++i)
    for (size_t c = 0; c < 10; ++c) sums[c] += static_cast<double>(stats[i * 10 + c]);
  EXPECT_NEAR(bleu_from_stats(sums.data(), opt).score, 48.530827, 1e-6);
  opt.tokenizer = BleuTokenizer::kNone;
  stats = bleu_statistics(hyps, refs, opt);
  std::fill(sums.begin(), sums.end(), 0.0);
  for (size_t i = 0; i < 3; ++i)
    for (size_t c = 0; c < 10; ++c) sums[c] += static_cast<double>(stats[i * 10 + c]);
  EXPECT_NEAR(bleu_from_stats(sums.data(), opt).score, 49.1919566, 1e-6);
}

TEST(MetricsBleu, EffectiveOrderAndNoMatches) {
  BleuOptions opt;
  opt.effective_order = true;
  auto s = bleu_statistics({"test"}, single({"a test"}), opt);
  std::vector<double> sums(s.begin(), s.end());
  EXPECT_NEAR(bleu_from_stats(sums.data(), opt).score, 100.0 * std::exp(1.0 - 2.0), 1e-9);
  s = bleu_statistics({"x y"}, single({"a b"}), opt);
  sums.assign(s.begin(), s.end());
  EXPECT_EQ(bleu_from_stats(sums.data(), opt).score, 0.0);
}

// The token-level entry point (self-BLEU's) counts exactly what the text-level one counts.
TEST(MetricsBleu, TokenStatisticsEqualTextStatistics) {
  const std::vector<std::string_view> hyps = {"The cat, it sat on the mat.", "", "a b c d e f"};
  const std::vector<std::string_view> r1 = {"the cat sat on a mat!", "x", "a b c"};
  const std::vector<std::string_view> r2 = {"On the mat sat the cat.", "y z", "b c d e f g"};
  BleuOptions opt;
  const auto want = bleu_statistics(hyps, References{{r1, r2}, {}}, opt);
  const auto width = static_cast<size_t>(bleu_stats_width(opt.max_order));
  std::string buf[3], scratch;
  std::vector<std::string_view> toks[3];
  for (size_t i = 0; i < hyps.size(); ++i) {
    bleu_tokenize(hyps[i], BleuTokenizer::k13a, true, buf[0], scratch, toks[0]);
    bleu_tokenize(r1[i], BleuTokenizer::k13a, true, buf[1], scratch, toks[1]);
    bleu_tokenize(r2[i], BleuTokenizer::k13a, true, buf[2], scratch, toks[2]);
    std::vector<int64_t> row(width);
    bleu_statistics_of_tokens(toks[0], {toks[1], toks[2]}, opt.max_order, row.data());
    EXPECT_EQ(row, std::vector<int64_t>(want.begin() + i * width, want.begin() + (i + 1) * width)) << i;
  }
  std::vector<int64_t> row(width);
  EXPECT_THROW(bleu_statistics_of_tokens(toks[0], {}, opt.max_order, row.data()), airtune::InvalidArgument);
}

TEST(MetricsBleu, BadInputNamesTheRow) {
  const std::string bad = "\xff";
  try {
    bleu_statistics({"ok", bad}, single({"a", "b"}), BleuOptions{});
    FAIL();
  } catch (const airtune::InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("row 1"), std::string::npos);
  }
  EXPECT_THROW(bleu_statistics({"a"}, single({"a", "b"}), BleuOptions{}), airtune::InvalidArgument);
}

TEST(MetricsChrf, PublishedVectors) {
  ChrfOptions opt;
  opt.beta = 3;
  auto s = chrf_statistics({"aa"}, single({"ab"}), opt);
  std::vector<double> d(s.begin(), s.end());
  EXPECT_NEAR(chrf_from_stats(d.data(), opt), 25.0, 1e-9);
  opt.eps_smoothing = true;
  EXPECT_NEAR(chrf_from_stats(d.data(), opt), 8.3333333, 1e-6);
  s = chrf_statistics({"a"}, single({"a"}), opt);
  d.assign(s.begin(), s.end());
  EXPECT_NEAR(chrf_from_stats(d.data(), opt), 16.6666667, 1e-6);
}

TEST(MetricsRouge, PublishedVectors) {
  RougeOptions opt;
  opt.types = {parse_rouge_type("rouge1"), parse_rouge_type("rougeL"), parse_rouge_type("rougeLsum")};
  auto r = rouge_scores({"testing"}, single({"testing one two"}), opt);
  EXPECT_DOUBLE_EQ(r[0], 1.0);
  EXPECT_DOUBLE_EQ(r[1], 1.0 / 3);
  EXPECT_DOUBLE_EQ(r[2], 0.5);
  r = rouge_scores({"w1 w2 w6 w7 w8\nw1 w3 w8 w9 w5"}, single({"w1 w2 w3 w4 w5"}), opt);
  EXPECT_NEAR(r[6], 0.4, 1e-12);
  EXPECT_NEAR(r[7], 0.8, 1e-12);
  EXPECT_NEAR(r[8], 0.5333333333333, 1e-9);
  EXPECT_EQ(rouge_tokenize("Café İs KELVIN\u212a", false), (std::vector<std::string>{"caf", "i", "s", "kelvink"}));
}

TEST(MetricsPorter, KnownStems) {
  EXPECT_EQ(porter_stem("caresses"), "caress");
  EXPECT_EQ(porter_stem("ponies"), "poni");
  EXPECT_EQ(porter_stem("ties"), "tie");
  EXPECT_EQ(porter_stem("relational"), "relat");
  EXPECT_EQ(porter_stem("hopping"), "hop");
  EXPECT_EQ(porter_stem("generalization"), "gener");
  EXPECT_EQ(porter_stem("dying"), "die");
  EXPECT_EQ(porter_stem("happy"), "happi");
}

TEST(MetricsAnswers, SquadNormalization) {
  EXPECT_EQ(squad_normalize("the  cat, an apple and a theory"), "cat apple and theory");
  auto s = squad_scores({"the cat sat"}, single({"a cat sat down"}), false);
  EXPECT_DOUBLE_EQ(s[0], 0.0);
  EXPECT_NEAR(s[1], 2 * (1.0 * (2.0 / 3)) / (1.0 + 2.0 / 3), 1e-12);
}

TEST(MetricsClassification, SklearnVectors) {
  std::vector<int32_t> t{0, 1, 2, 0, 1, 2}, p{0, 2, 1, 0, 0, 1};
  auto cm = confusion_matrix(t, p, 3);
  auto rep = classification_report(cm, 3);
  EXPECT_NEAR(rep.macro_f1, 0.26666666666, 1e-9);
  EXPECT_NEAR(rep.micro_f1, 1.0 / 3, 1e-12);
  auto rep4 = classification_report(confusion_matrix(t, p, 4), 4);
  EXPECT_NEAR(rep4.macro_f1, 0.2, 1e-12);
  std::vector<int32_t> a, b;
  for (int i = 0; i < 100; ++i) {
    a.push_back(i < 46 ? 0 : (i < 90 ? 1 : 2));
    b.push_back(i < 50 ? 0 : (i < 90 ? 1 : 2));
  }
  auto m = confusion_matrix(a, b, 3);
  std::vector<double> sq;
  for (size_t i = 0; i < 3; ++i)
    for (size_t j = 0; j < 3; ++j) sq.push_back(static_cast<double>(m[i * 4 + j]));
  EXPECT_NEAR(cohen_kappa(sq, 3, KappaWeights::kNone), 0.9315, 1e-4);
  EXPECT_NEAR(cohen_kappa(sq, 3, KappaWeights::kLinear), 0.9412, 1e-4);
  EXPECT_NEAR(cohen_kappa(sq, 3, KappaWeights::kQuadratic), 0.9541, 1e-4);
  EXPECT_THROW(confusion_matrix({0, 5}, {0, 0}, 3), airtune::InvalidArgument);
}

TEST(MetricsTaxonomy, LevelsAndInvalid) {
  auto items = taxonomy_items({"A > B > C", "A > B"}, {"A > B > X", ""}, {}, " > ");
  EXPECT_EQ(items[0].common, 2);
  EXPECT_EQ(items[0].gold_depth, 3);
  EXPECT_EQ(items[1].valid, 0);
  EXPECT_EQ(split_path("Food, Beverages & Tobacco > Food", " > ").size(), 2u);
}

TEST(MetricsJson, StrictLenientSchema) {
  std::vector<JsonKey> keys{{"a", JsonType::kInteger}};
  auto r = json_validity({"{\"a\": 1}", "```json\n{\"a\": 2}\n```", "{\"a\": NaN}", "{\"a\": \"x\"}"}, keys);
  EXPECT_EQ(r[0].status, 0);
  EXPECT_EQ(r[1].status, 1);
  EXPECT_EQ(r[2].status, 2);
  EXPECT_EQ(r[3].reason, 2);
}

TEST(MetricsResampling, DeterministicAcrossThreadCounts) {
  std::vector<double> stats;
  for (int i = 0; i < 500; ++i) stats.push_back(static_cast<double>(i % 7));
  Aggregator mean;
  airtune::core::set_num_threads(1);
  auto a = bootstrap_scores(stats, 500, 1, mean, 200, 42, {});
  airtune::core::set_num_threads(2);
  auto b = bootstrap_scores(stats, 500, 1, mean, 200, 42, {});
  EXPECT_EQ(a, b);
  ResampleStream rng(1, 2);
  for (int i = 0; i < 1000; ++i) EXPECT_LT(rng.below(7), 7u);
}

TEST(MetricsStress, RandomTextsAreDeterministicAcrossThreadCounts) {
  // Random valid UTF-8 with punctuation, digits, entities, newlines and multi-byte characters,
  // through every metric; long items exercise the DP fallback of rougeL and table growth.
  const std::vector<std::string> pieces{"a",         "the",    "Cat",    "3.14",    "1,000",  "e-mail",    "&amp;",
                                        "<skipped>", "-\n",    "\n",     " ",       "  ",     "\t",        ".",
                                        ",",         "(",      ")",      "\"",      "é",      "—",         "東京",
                                        "İ",         "\u212a", "\u00a0", "running", "agreed", "{\"k\": 1}"};
  uint64_t state = 12345;
  auto next = [&]() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  };
  std::vector<std::string> hyps_s, refs_s;
  for (int i = 0; i < 400; ++i) {
    std::string h, r;
    const size_t len = (i % 50 == 0) ? 400 : next() % 40;
    for (size_t k = 0; k < len; ++k) {
      h += pieces[next() % pieces.size()] + " ";
      r += pieces[next() % pieces.size()] + (next() % 3 ? " " : "");
    }
    hyps_s.push_back(h);
    refs_s.push_back(r);
  }
  std::vector<std::string_view> hyps(hyps_s.begin(), hyps_s.end()), refs_v(refs_s.begin(), refs_s.end());
  References refs{{refs_v, hyps}, {}};
  auto run_all = [&]() {
    std::vector<double> out;
    for (auto tok : {BleuTokenizer::k13a, BleuTokenizer::kIntl, BleuTokenizer::kChar, BleuTokenizer::kNone}) {
      BleuOptions o;
      o.tokenizer = tok;
      for (auto v : bleu_statistics(hyps, refs, o)) out.push_back(static_cast<double>(v));
    }
    for (int w : {0, 2}) {
      ChrfOptions o;
      o.word_order = w;
      for (auto v : chrf_statistics(hyps, refs, o)) out.push_back(static_cast<double>(v));
    }
    RougeOptions ro;
    ro.use_stemmer = true;
    for (const char* t : {"rouge1", "rouge2", "rougeL", "rougeLsum"}) ro.types.push_back(parse_rouge_type(t));
    for (auto v : rouge_scores(hyps, refs, ro)) out.push_back(v);
    for (auto v : squad_scores(hyps, refs, true)) out.push_back(v);
    for (auto it : json_validity(hyps, {{"k", JsonType::kInteger}})) out.push_back(it.status);
    std::vector<std::string> gold_s;
    for (auto r : refs_v) gold_s.push_back("Root > " + std::string(r));
    std::vector<std::string_view> gold(gold_s.begin(), gold_s.end());
    for (auto it : taxonomy_items(gold, hyps, {}, " > ")) out.push_back(it.common);
    return out;
  };
  airtune::core::set_num_threads(1);
  auto one = run_all();
  airtune::core::set_num_threads(2);
  auto two = run_all();
  EXPECT_EQ(one, two);
  for (double v : one) EXPECT_TRUE(std::isfinite(v));
}

TEST(MetricsTables, InternerGrowsAndNgramTableCountsExactly) {
  TokenInterner in;
  in.reset(1);
  std::vector<std::string> words;
  for (int i = 0; i < 5000; ++i) {  // not "w" + std::string: GCC 12 warns falsely (-Wrestrict)
    words.emplace_back("w");
    words.back() += std::to_string(i % 1234);
  }
  std::vector<uint32_t> ids;
  for (const auto& w : words) ids.push_back(in.id(w));
  EXPECT_EQ(in.size(), 1234u);
  for (size_t i = 0; i < words.size(); ++i) EXPECT_EQ(ids[i], ids[i % 1234]);
  in.reset(4);
  EXPECT_EQ(in.id("again"), 0u);
  EXPECT_EQ(in.size(), 1u);

  // hyp "a b a b a", ref "b a b": bigrams hyp {ab:2, ba:2}, ref {ba:1, ab:1} -> clipped 2.
  std::vector<uint32_t> hyp{0, 1, 0, 1, 0}, ref{1, 0, 1};
  NgramTable t;
  table_count(t, hyp.data(), hyp.size(), 2, bits_for(2));
  table_probe(t, ref.data(), ref.size(), 2, bits_for(2));
  EXPECT_EQ(t.clip_tmp_and_fold(), 2u);
  EXPECT_EQ(t.clip_r(), 2u);
  EXPECT_EQ(bits_for(1), 1);
  EXPECT_EQ(bits_for(256), 8);
  EXPECT_EQ(bits_for(257), 9);
}
