#include "metrics/classification.h"

#include <cmath>
#include <string>

#include "core/enum_names.h"
#include "core/errors.h"

namespace airtune::metrics {

std::vector<int64_t> confusion_matrix(const std::vector<int32_t>& y_true, const std::vector<int32_t>& y_pred,
                                      int32_t n_classes) {
  if (y_true.size() != y_pred.size()) {
    throw InvalidArgument("y_true has " + std::to_string(y_true.size()) + " items, y_pred has " +
                          std::to_string(y_pred.size()));
  }
  if (n_classes < 1) throw InvalidArgument("classification: need at least one class");
  const auto K = static_cast<size_t>(n_classes);
  std::vector<int64_t> m(K * (K + 1), 0);
  for (size_t i = 0; i < y_true.size(); ++i) {
    if (y_true[i] < 0 || y_true[i] >= n_classes) {
      throw InvalidArgument("y_true: row " + std::to_string(i) + " has a label outside the label set");
    }
    if (y_pred[i] < -1 || y_pred[i] >= n_classes) {
      throw InvalidArgument("y_pred: row " + std::to_string(i) + " has an out-of-range code");
    }
    const size_t col = y_pred[i] < 0 ? K : static_cast<size_t>(y_pred[i]);
    ++m[static_cast<size_t>(y_true[i]) * (K + 1) + col];
  }
  return m;
}

ClassReport classification_report(const std::vector<int64_t>& m, int32_t n_classes) {
  const auto K = static_cast<size_t>(n_classes);
  std::vector<double> tp(K, 0.0), predicted(K, 0.0), support(K, 0.0);
  for (size_t c = 0; c < K; ++c) {
    tp[c] = static_cast<double>(m[c * (K + 1) + c]);
    for (size_t j = 0; j <= K; ++j) support[c] += static_cast<double>(m[c * (K + 1) + j]);
    for (size_t i = 0; i < K; ++i) predicted[c] += static_cast<double>(m[i * (K + 1) + c]);
  }
  return classification_report_from_counts(tp.data(), predicted.data(), support.data(), n_classes);
}

ClassReport classification_report_from_counts(const double* tp, const double* predicted, const double* support,
                                              int32_t n_classes) {
  const auto K = static_cast<size_t>(n_classes);
  ClassReport r;
  r.precision.assign(K, 0.0);
  r.recall.assign(K, 0.0);
  r.f1.assign(K, 0.0);
  r.support.assign(K, 0);
  double tp_sum = 0, pred_sum = 0, total = 0;
  for (size_t c = 0; c < K; ++c) {
    r.support[c] = static_cast<int64_t>(support[c]);
    total += support[c];
    tp_sum += tp[c];
    pred_sum += predicted[c];
    r.precision[c] = predicted[c] > 0 ? tp[c] / predicted[c] : 0.0;
    r.recall[c] = support[c] > 0 ? tp[c] / support[c] : 0.0;
    const double denom = 2 * tp[c] + (predicted[c] - tp[c]) + (support[c] - tp[c]);
    r.f1[c] = denom > 0 ? 2.0 * tp[c] / denom : 0.0;
  }
  r.total = static_cast<int64_t>(total);
  r.invalid = static_cast<int64_t>(total - pred_sum);
  for (size_t c = 0; c < K; ++c) {
    r.macro_precision += r.precision[c] / static_cast<double>(K);
    r.macro_recall += r.recall[c] / static_cast<double>(K);
    r.macro_f1 += r.f1[c] / static_cast<double>(K);
  }
  if (total > 0) {
    for (size_t c = 0; c < K; ++c) {
      const double w = support[c] / total;
      r.weighted_precision += w * r.precision[c];
      r.weighted_recall += w * r.recall[c];
      r.weighted_f1 += w * r.f1[c];
    }
  }
  r.accuracy = total > 0 ? tp_sum / total : 0.0;
  r.micro_precision = pred_sum > 0 ? tp_sum / pred_sum : 0.0;
  r.micro_recall = total > 0 ? tp_sum / total : 0.0;
  const double pr = r.micro_precision + r.micro_recall;
  r.micro_f1 = pr > 0 ? 2 * r.micro_precision * r.micro_recall / pr : 0.0;
  return r;
}

ClassStatistic parse_class_statistic(std::string_view name) {
  static constexpr core::EnumName<ClassStatistic> kStatistics[] = {{"accuracy", ClassStatistic::kAccuracy},
                                                                   {"macro_f1", ClassStatistic::kMacroF1},
                                                                   {"macro_precision", ClassStatistic::kMacroPrecision},
                                                                   {"macro_recall", ClassStatistic::kMacroRecall},
                                                                   {"weighted_f1", ClassStatistic::kWeightedF1},
                                                                   {"micro_f1", ClassStatistic::kMicroF1}};
  if (const auto statistic = core::find_enum(name, kStatistics)) return *statistic;
  throw InvalidArgument("unknown classification statistic '" + std::string(name) +
                        "' (accuracy, macro_f1, macro_precision, macro_recall, weighted_f1, micro_f1)");
}

double class_statistic(const ClassReport& r, ClassStatistic s) {
  switch (s) {
    case ClassStatistic::kAccuracy:
      return r.accuracy;
    case ClassStatistic::kMacroF1:
      return r.macro_f1;
    case ClassStatistic::kMacroPrecision:
      return r.macro_precision;
    case ClassStatistic::kMacroRecall:
      return r.macro_recall;
    case ClassStatistic::kWeightedF1:
      return r.weighted_f1;
    case ClassStatistic::kMicroF1:
      return r.micro_f1;
  }
  return 0.0;
}

KappaWeights parse_kappa_weights(std::string_view name) {
  static constexpr core::EnumName<KappaWeights> kWeights[] = {{"none", KappaWeights::kNone},
                                                              {"", KappaWeights::kNone},
                                                              {"linear", KappaWeights::kLinear},
                                                              {"quadratic", KappaWeights::kQuadratic}};
  if (const auto weights = core::find_enum(name, kWeights)) return *weights;
  throw InvalidArgument("unknown kappa weights '" + std::string(name) + "' (none, linear, quadratic)");
}

double cohen_kappa(const std::vector<double>& c, int32_t n_, KappaWeights w) {
  const auto n = static_cast<size_t>(n_);
  std::vector<double> sum0(n, 0.0), sum1(n, 0.0);
  double total = 0;
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) {
      sum0[j] += c[i * n + j];
      sum1[i] += c[i * n + j];
      total += c[i * n + j];
    }
  }
  if (total <= 0) throw InvalidArgument("cohen_kappa: no items");
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) {
      double wij;
      const double d = std::fabs(static_cast<double>(i) - static_cast<double>(j));
      switch (w) {
        case KappaWeights::kNone:
          wij = i == j ? 0.0 : 1.0;
          break;
        case KappaWeights::kLinear:
          wij = d;
          break;
        default:
          wij = d * d;
          break;
      }
      // sklearn: expected = outer(sum0, sum1) / total, indexed [i][j] = sum0[i] * sum1[j].
      num += wij * c[i * n + j];
      den += wij * (sum0[i] * sum1[j] / total);
    }
  }
  if (den == 0) return std::nan("");
  return 1.0 - num / den;
}

}  // namespace airtune::metrics
