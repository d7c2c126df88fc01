// Classification metrics from one confusion matrix, with scikit-learn's definitions.
//
// Labels are integer codes 0..K-1 (the Python layer maps label values to codes, sorted); a
// prediction of -1 is "invalid" (an output that is none of the labels) and lands in an extra
// column K. Every average and kappa derives from the K x (K + 1) matrix:
//   precision/recall/F1 per class (0 when undefined, sklearn's zero_division=0), macro (unweighted
//   mean), weighted (by support), micro (pooled; equals accuracy when no output is invalid);
//   Cohen's kappa with none / linear / quadratic weights, where the invalid bucket counts as one
//   more category that no gold label carries.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace airtune::metrics {

/// K x (K + 1) counts, row = true class, column = predicted class (K = invalid), row-major.
/// Throws InvalidArgument naming the row for a code outside its range.
std::vector<int64_t> confusion_matrix(const std::vector<int32_t>& y_true, const std::vector<int32_t>& y_pred,
                                      int32_t n_classes);

struct ClassReport {
  std::vector<double> precision, recall, f1;  // per class
  std::vector<int64_t> support;               // per class (true count)
  double accuracy = 0;
  double macro_precision = 0, macro_recall = 0, macro_f1 = 0;
  double weighted_precision = 0, weighted_recall = 0, weighted_f1 = 0;
  double micro_precision = 0, micro_recall = 0, micro_f1 = 0;
  int64_t invalid = 0;
  int64_t total = 0;
};

ClassReport classification_report(const std::vector<int64_t>& confusion, int32_t n_classes);

/// The same report from per-class counts (arrays of n_classes each): true positives, valid
/// predictions of the class, true items of the class. Doubles, because resampling sums them;
/// the items whose prediction was invalid are support - (predictions of any class) in total.
ClassReport classification_report_from_counts(const double* tp, const double* predicted, const double* support,
                                              int32_t n_classes);

/// One corpus statistic of a report (sklearn's definitions over the n_classes labels).
enum class ClassStatistic { kAccuracy, kMacroF1, kMacroPrecision, kMacroRecall, kWeightedF1, kMicroF1 };
/// accuracy, macro_f1, macro_precision, macro_recall, weighted_f1, micro_f1; throws InvalidArgument.
ClassStatistic parse_class_statistic(std::string_view name);
double class_statistic(const ClassReport& report, ClassStatistic s);

enum class KappaWeights { kNone, kLinear, kQuadratic };
KappaWeights parse_kappa_weights(std::string_view name);

/// Cohen's kappa of a square C x C confusion matrix (row-major), as sklearn.cohen_kappa_score.
double cohen_kappa(const std::vector<double>& confusion, int32_t n, KappaWeights w);

}  // namespace airtune::metrics
