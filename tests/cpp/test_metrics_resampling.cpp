// Corpus-level aggregates under resampling: classification statistics (macro-F1 and the others) and
// hierarchical P/R/F1 recomputed from per-item rows, checked against the direct computations.
#include <gtest/gtest.h>

#include <vector>

#include "core/errors.h"
#include "core/threading.h"
#include "metrics/classification.h"
#include "metrics/resampling.h"

using namespace airtune::metrics;

namespace {

// 3 classes; predictions -1 are invalid answers.
const std::vector<int32_t> kTrue{0, 0, 1, 1, 2, 2, 0, 1, 2, 2};
const std::vector<int32_t> kPred{0, 1, 1, -1, 2, 0, 0, 1, -1, 2};

std::vector<double> rows() {
  std::vector<double> s;
  for (size_t i = 0; i < kTrue.size(); ++i) {
    s.push_back(kTrue[i]);
    s.push_back(kPred[i]);
  }
  return s;
}

Aggregator classification(ClassStatistic st) {
  Aggregator a;
  a.kind = Aggregator::kClassification;
  a.n_classes = 3;
  a.class_statistic = st;
  return a;
}

}  // namespace

TEST(MetricsResampling, ClassificationAggregateEqualsTheReport) {
  const auto report = classification_report(confusion_matrix(kTrue, kPred, 3), 3);
  EXPECT_EQ(report.invalid, 2);
  const auto s = rows();
  for (auto st : {ClassStatistic::kAccuracy, ClassStatistic::kMacroF1, ClassStatistic::kMacroPrecision,
                  ClassStatistic::kMacroRecall, ClassStatistic::kWeightedF1, ClassStatistic::kMicroF1}) {
    const auto agg = classification(st);
    EXPECT_DOUBLE_EQ(aggregate_scores(s, kTrue.size(), 2, agg), class_statistic(report, st));
    // The identity resample reproduces the corpus score.
    std::vector<int64_t> identity;
    for (int r = 0; r < 3; ++r) {
      for (size_t i = 0; i < kTrue.size(); ++i) identity.push_back(static_cast<int64_t>(i));
    }
    for (double v : bootstrap_scores(s, kTrue.size(), 2, agg, 3, 1, identity)) {
      EXPECT_DOUBLE_EQ(v, class_statistic(report, st));
    }
  }
  // Hand-computed macro-F1: class 0 tp 2 pred 3 support 3 -> 2/3; class 1 tp 2 pred 3 support 3
  // -> 2/3; class 2 tp 2 pred 2 support 4 -> 2/3.
  EXPECT_NEAR(class_statistic(report, ClassStatistic::kMacroF1), 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(report.accuracy, 0.6, 1e-12);
}

TEST(MetricsResampling, ResampledRowsGiveTheStatisticOfTheResample) {
  const auto s = rows();
  const size_t n = kTrue.size();
  const auto agg = classification(ClassStatistic::kMacroF1);
  const auto idx = resample_indices(n, 0, 50, 7);
  const auto scores = bootstrap_scores(s, n, 2, agg, 50, 7, {});
  ASSERT_EQ(idx.size(), 50 * n);
  for (size_t r = 0; r < 50; ++r) {
    std::vector<int32_t> t, p;
    for (size_t j = 0; j < n; ++j) {
      t.push_back(kTrue[static_cast<size_t>(idx[r * n + j])]);
      p.push_back(kPred[static_cast<size_t>(idx[r * n + j])]);
    }
    EXPECT_DOUBLE_EQ(scores[r], classification_report(confusion_matrix(t, p, 3), 3).macro_f1) << r;
  }
  airtune::core::set_num_threads(1);
  const auto one = paired_bootstrap_scores(s, s, n, 2, agg, 64, 3, {});
  airtune::core::set_num_threads(2);
  EXPECT_EQ(one, paired_bootstrap_scores(s, s, n, 2, agg, 64, 3, {}));
}

TEST(MetricsResampling, HierarchicalAggregate) {
  // (matched, predicted depth, gold depth) per item.
  const std::vector<double> s{3, 3, 3, 1, 3, 3, 1, 1, 2, 0, 2, 2};
  Aggregator a;
  a.kind = Aggregator::kHierarchical;
  EXPECT_NEAR(aggregate_scores(s, 4, 3, a), 2.0 * 5 / (9 + 10), 1e-12);
  a.hierarchical = HierarchicalStatistic::kPrecision;
  EXPECT_NEAR(aggregate_scores(s, 4, 3, a), 5.0 / 9, 1e-12);
  a.hierarchical = HierarchicalStatistic::kRecall;
  EXPECT_NEAR(aggregate_scores(s, 4, 3, a), 5.0 / 10, 1e-12);
}

TEST(MetricsResampling, BadRowsAreRejectedWithTheRow) {
  auto agg = classification(ClassStatistic::kMacroF1);
  std::vector<double> s{0, 0, 1, 3};
  try {
    bootstrap_scores(s, 2, 2, agg, 5, 1, {});
    FAIL() << "no error";
  } catch (const airtune::InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("row 1"), std::string::npos) << e.what();
  }
  std::vector<double> frac{0.5, 0};
  EXPECT_THROW(aggregate_scores(frac, 1, 2, agg), airtune::InvalidArgument);
  Aggregator mean;
  mean.column = 2;
  EXPECT_THROW(aggregate_scores({1.0, 2.0}, 1, 2, mean), airtune::InvalidArgument);
  EXPECT_THROW(parse_class_statistic("f2"), airtune::InvalidArgument);
}
