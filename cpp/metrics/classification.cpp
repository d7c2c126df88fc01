#include "metrics/classification.h"

#include <cmath>
#include <string>

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
  ClassReport r;
  r.precision.assign(K, 0.0);
  r.recall.assign(K, 0.0);
  r.f1.assign(K, 0.0);
  r.support.assign(K, 0);
  int64_t tp_sum = 0, pred_sum = 0;
  for (size_t c = 0; c < K; ++c) {
    int64_t tp = m[c * (K + 1) + c], support = 0, predicted = 0;
    for (size_t j = 0; j <= K; ++j) support += m[c * (K + 1) + j];
    for (size_t i = 0; i < K; ++i) predicted += m[i * (K + 1) + c];
    r.support[c] = support;
    r.invalid += m[c * (K + 1) + K];
    r.total += support;
    tp_sum += tp;
    pred_sum += predicted;
    r.precision[c] = predicted > 0 ? static_cast<double>(tp) / static_cast<double>(predicted) : 0.0;
    r.recall[c] = support > 0 ? static_cast<double>(tp) / static_cast<double>(support) : 0.0;
    const int64_t denom = 2 * tp + (predicted - tp) + (support - tp);
    r.f1[c] = denom > 0 ? 2.0 * static_cast<double>(tp) / static_cast<double>(denom) : 0.0;
  }
  double total_support = 0;
  for (size_t c = 0; c < K; ++c) {
    r.macro_precision += r.precision[c] / static_cast<double>(K);
    r.macro_recall += r.recall[c] / static_cast<double>(K);
    r.macro_f1 += r.f1[c] / static_cast<double>(K);
    total_support += static_cast<double>(r.support[c]);
  }
  if (total_support > 0) {
    for (size_t c = 0; c < K; ++c) {
      const double w = static_cast<double>(r.support[c]) / total_support;
      r.weighted_precision += w * r.precision[c];
      r.weighted_recall += w * r.recall[c];
      r.weighted_f1 += w * r.f1[c];
    }
  }
  r.accuracy = r.total > 0 ? static_cast<double>(tp_sum) / static_cast<double>(r.total) : 0.0;
  r.micro_precision = pred_sum > 0 ? static_cast<double>(tp_sum) / static_cast<double>(pred_sum) : 0.0;
  r.micro_recall = r.total > 0 ? static_cast<double>(tp_sum) / static_cast<double>(r.total) : 0.0;
  const double pr = r.micro_precision + r.micro_recall;
  r.micro_f1 = pr > 0 ? 2 * r.micro_precision * r.micro_recall / pr : 0.0;
  return r;
}

KappaWeights parse_kappa_weights(std::string_view name) {
  if (name.empty() || name == "none") return KappaWeights::kNone;
  if (name == "linear") return KappaWeights::kLinear;
  if (name == "quadratic") return KappaWeights::kQuadratic;
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
