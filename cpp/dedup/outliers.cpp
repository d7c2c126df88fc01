#include "dedup/outliers.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"

namespace airtune::dedup {
namespace {

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

void flag_above(OutlierScores& s) {
  s.flag.resize(s.score.size());
  for (size_t i = 0; i < s.score.size(); ++i) s.flag[i] = s.score[i] > s.fence ? 1 : 0;
}

}  // namespace

double iqr_fence(std::span<const double> values, double factor) {
  if (values.empty()) return 0.0;
  std::vector<double> v(values.begin(), values.end());
  const double q1 = quantile(v, 0.25), q3 = quantile(v, 0.75);
  return q3 + factor * (q3 - q1);
}

OutlierScores knn_distance_outliers(const KnnGraph& g, double factor) {
  OutlierScores s;
  s.score.assign(g.rows, 0.0);
  for (int64_t i = 0; i < g.rows; ++i) {
    double acc = 0;
    int64_t cnt = 0;
    for (int64_t j = 0; j < g.k; ++j) {
      if (g.ids[i * g.k + j] < 0) continue;
      acc += 1.0 - g.score[i * g.k + j];
      ++cnt;
    }
    s.score[i] = cnt ? acc / cnt : 0.0;
  }
  s.fence = iqr_fence(s.score, factor);
  flag_above(s);
  return s;
}

OutlierScores lof_outliers(const float* x, int64_t n, int64_t d, int64_t k, double threshold) {
  if (n < 2) throw InvalidArgument("lof: needs at least 2 rows");
  const KnnGraph g = knn_self_l2(x, n, d, k);
  const int64_t kk = g.k;
  std::vector<double> kdist(n), lrd(n);
  for (int64_t i = 0; i < n; ++i) kdist[i] = g.score[i * kk + kk - 1];
  for (int64_t i = 0; i < n; ++i) {
    double acc = 0;
    for (int64_t j = 0; j < kk; ++j) acc += std::max<double>(kdist[g.ids[i * kk + j]], g.score[i * kk + j]);
    lrd[i] = 1.0 / (acc / static_cast<double>(kk) + 1e-10);
  }
  OutlierScores s;
  s.score.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    double acc = 0;
    for (int64_t j = 0; j < kk; ++j) acc += lrd[g.ids[i * kk + j]];
    s.score[i] = acc / static_cast<double>(kk) / lrd[i];
  }
  s.fence = threshold;
  flag_above(s);
  return s;
}

OutlierScores centroid_outliers(const float* x, int64_t n, int64_t d, double factor) {
  if (n < 1) throw InvalidArgument("centroid: needs at least 1 row");
  const std::vector<float> xn = l2_normalized(x, n, d);
  std::vector<double> c(d, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) c[j] += xn[i * d + j];
  double norm = 0;
  for (double v : c) norm += v * v;
  norm = std::sqrt(norm);
  OutlierScores s;
  s.score.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    double dot = 0;
    for (int64_t j = 0; j < d; ++j) dot += xn[i * d + j] * c[j];
    s.score[i] = norm > 0 ? 1.0 - dot / norm : 1.0;
  }
  s.fence = iqr_fence(s.score, factor);
  flag_above(s);
  return s;
}

OutlierScores reference_outliers(const float* x, int64_t n, const float* ref, int64_t nr, int64_t d, double factor,
                                 const SearchOptions& options) {
  if (nr < 2) throw InvalidArgument("reference: needs at least 2 rows");
  const KnnGraph self = knn_self_cosine(ref, nr, d, 1, options);
  std::vector<double> ref_dist(nr);
  for (int64_t i = 0; i < nr; ++i) ref_dist[i] = 1.0 - self.score[i];
  const KnnGraph g = knn_cross_cosine(ref, nr, x, n, d, 1, options);
  OutlierScores s;
  s.score.resize(n);
  for (int64_t i = 0; i < n; ++i) s.score[i] = 1.0 - g.score[i];
  s.fence = iqr_fence(ref_dist, factor);
  flag_above(s);
  return s;
}

}  // namespace airtune::dedup
