#include "vectors/kmeans.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "core/errors.h"
#include "core/hash.h"
#include "core/threading.h"
#include "vectors/topk.h"

namespace airtune::vectors {
namespace {

// Seeded Fisher-Yates over [0, n): the first `take` entries of a random permutation.
std::vector<int64_t> sample_rows(int64_t n, int64_t take, uint64_t seed) {
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  uint64_t state = seed;
  for (int64_t i = 0; i < take && i < n - 1; ++i) {
    state = core::mix64(state + 0x9E3779B97F4A7C15ULL);
    const int64_t j = i + static_cast<int64_t>(state % static_cast<uint64_t>(n - i));
    std::swap(idx[i], idx[j]);
  }
  idx.resize(std::min(take, n));
  return idx;
}

void normalize_rows(float* c, int k, int64_t d) {
  for (int j = 0; j < k; ++j) {
    const double s = squared_norm(c + j * d, d);
    if (s > 0) {
      const auto inv = static_cast<float>(1.0 / std::sqrt(s));
      for (int64_t t = 0; t < d; ++t) c[j * d + t] *= inv;
    }
  }
}

// Squared norms of rows (kL2 needs them to turn the exact score into a distance).
std::vector<double> squared_norms(const float* x, int64_t n, int64_t d) {
  std::vector<double> out(n);
  core::parallel_for(n, 1024, [&](size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; ++i) out[i] = squared_norm(x + i * d, d);
  });
  return out;
}

// Best centroid per row; fit = higher is better (kCosine: inner product, kL2: -squared distance).
// kL2 maximises x.c - |c|^2 / 2, which orders centroids as the distance does.
void assign_exact(const float* x, int64_t n, int64_t d, const float* c, int k, KMeansMetric metric,
                  const std::vector<double>& xnorm2, int32_t* assign, double* fit) {
  std::vector<double> bias;
  if (metric == KMeansMetric::kL2) {
    bias.resize(k);
    for (int j = 0; j < k; ++j) bias[j] = -0.5 * squared_norm(c + j * d, d);
  }
  const TopK top = exact_topk(x, n, c, k, d, 1, bias, false);
  for (int64_t i = 0; i < n; ++i) {
    assign[i] = static_cast<int32_t>(top.ids(i)[0]);
    const double s = top.scores(i)[0];
    fit[i] = metric == KMeansMetric::kL2 ? -std::max(0.0, xnorm2[i] - 2 * s) : s;
  }
}

double sum_in_order(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

// k-means++ (D^2 sampling) over the training rows; distances by the exact kernel.
void init_plus_plus(const float* xt, int64_t nt, int64_t d, int k, uint64_t seed, const std::vector<double>& xnorm2,
                    float* centroids) {
  uint64_t state = seed;
  auto uniform = [&state] {
    state = core::mix64(state + 0x9E3779B97F4A7C15ULL);
    return static_cast<double>(state >> 11) * std::ldexp(1.0, -53);
  };
  std::vector<double> dist(nt, std::numeric_limits<double>::infinity());
  std::vector<uint8_t> chosen(nt, 0);
  int64_t pick = std::min<int64_t>(nt - 1, static_cast<int64_t>(uniform() * static_cast<double>(nt)));
  for (int c = 0; c < k; ++c) {
    if (c > 0) {
      const double total = sum_in_order(dist);
      pick = -1;
      if (total > 0) {
        const double target = uniform() * total;
        double acc = 0;
        for (int64_t i = 0; i < nt; ++i) {
          acc += dist[i];
          if (dist[i] > 0 && acc > target) {
            pick = i;
            break;
          }
        }
        if (pick < 0)  // rounding at the very end of the prefix sums: the last row with mass
          for (int64_t i = nt - 1; i >= 0 && pick < 0; --i)
            if (dist[i] > 0) pick = i;
      }
      if (pick < 0)  // every row sits on a chosen centroid: the first row not chosen yet
        for (int64_t i = 0; i < nt && pick < 0; ++i)
          if (!chosen[i]) pick = i;
    }
    chosen[pick] = 1;
    const float* cp = xt + pick * d;
    std::copy_n(cp, d, centroids + static_cast<int64_t>(c) * d);
    const double cn = xnorm2[pick];
    core::parallel_for(nt, 1024, [&](size_t lo, size_t hi) {
      for (size_t i = lo; i < hi; ++i)
        dist[i] = std::min(dist[i], std::max(0.0, xnorm2[i] + cn - 2 * dot_exact(xt + i * d, cp, d)));
    });
  }
}

struct Run {
  std::vector<float> centroids;
  std::vector<int32_t> assign;
  std::vector<double> fit;
  double objective = -std::numeric_limits<double>::infinity();  // sum of fit: higher is better
};

Run run_once(const float* x, int64_t n, int64_t d, int kk, const KMeansOptions& o, uint64_t seed,
             const std::vector<double>& xnorm2_all) {
  Run run;
  run.centroids.resize(static_cast<size_t>(kk) * d);
  // Training sample.
  std::vector<float> sample;
  std::vector<double> sample_norm2;
  const float* xt = x;
  int64_t nt = n;
  const std::vector<double>* xnorm2 = &xnorm2_all;
  const int64_t cap = std::max<int64_t>(kk, o.max_points_per_centroid * kk);
  if (o.max_points_per_centroid > 0 && n > cap) {
    auto rows = sample_rows(n, cap, seed ^ 0x5A3F);
    std::sort(rows.begin(), rows.end());
    sample.resize(static_cast<size_t>(cap) * d);
    sample_norm2.resize(cap);
    for (int64_t i = 0; i < cap; ++i) {
      std::copy_n(x + rows[i] * d, d, sample.data() + i * d);
      sample_norm2[i] = xnorm2_all[rows[i]];
    }
    xt = sample.data();
    nt = cap;
    xnorm2 = &sample_norm2;
  }
  if (kk == 1) {  // the mean of every row, whatever niter
    std::vector<double> c(d, 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t t = 0; t < d; ++t) c[t] += x[i * d + t];
    for (int64_t t = 0; t < d; ++t)
      run.centroids[t] = static_cast<float>(o.metric == KMeansMetric::kL2 ? c[t] / static_cast<double>(n) : c[t]);
  } else if (o.init == KMeansInit::kPlusPlus) {
    init_plus_plus(xt, nt, d, kk, seed, *xnorm2, run.centroids.data());
  } else {
    const auto init = sample_rows(nt, kk, seed);
    for (int j = 0; j < kk; ++j) std::copy_n(xt + init[j] * d, d, run.centroids.data() + static_cast<size_t>(j) * d);
  }
  if (o.metric == KMeansMetric::kCosine && kk == 1) normalize_rows(run.centroids.data(), 1, d);
  std::vector<int32_t> a(nt);
  std::vector<double> fit(nt);
  std::vector<int64_t> start(kk + 1), order(nt);
  double previous = -std::numeric_limits<double>::infinity();
  for (int it = 0; it < o.niter && kk > 1; ++it) {
    assign_exact(xt, nt, d, run.centroids.data(), kk, o.metric, *xnorm2, a.data(), fit.data());
    const double objective = sum_in_order(fit);
    if (objective - previous <= 1e-4 * std::abs(objective)) break;  // converged
    previous = objective;
    // Rows of each cluster in row order (counting sort), then per-cluster sums in double.
    std::fill(start.begin(), start.end(), 0);
    for (int64_t i = 0; i < nt; ++i) ++start[a[i] + 1];
    for (int j = 0; j < kk; ++j) start[j + 1] += start[j];
    {
      std::vector<int64_t> pos(start.begin(), start.end() - 1);
      for (int64_t i = 0; i < nt; ++i) order[pos[a[i]]++] = i;
    }
    auto write_centroid = [&](size_t j, const double* sum) {
      const int64_t count = start[j + 1] - start[j];
      float* c = run.centroids.data() + j * d;
      for (int64_t t = 0; t < d; ++t)
        c[t] = static_cast<float>(o.metric == KMeansMetric::kL2 ? sum[t] / static_cast<double>(count) : sum[t]);
    };
    if (core::num_threads() == 1) {
      // One pass in row order (cache friendly); each cluster's sum sees its rows in row order, as below.
      std::vector<double> sums(static_cast<size_t>(kk) * d, 0.0);
      for (int64_t i = 0; i < nt; ++i) {
        double* dst = sums.data() + static_cast<int64_t>(a[i]) * d;
        const float* src = xt + i * d;
        for (int64_t t = 0; t < d; ++t) dst[t] += src[t];
      }
      for (int j = 0; j < kk; ++j)
        if (start[j + 1] > start[j]) write_centroid(j, sums.data() + static_cast<int64_t>(j) * d);
    } else {
      core::parallel_for(kk, 1, [&](size_t lo, size_t hi) {
        std::vector<double> sum(d);
        for (size_t j = lo; j < hi; ++j) {
          if (start[j + 1] == start[j]) continue;
          std::fill(sum.begin(), sum.end(), 0.0);
          for (int64_t r = start[j]; r < start[j + 1]; ++r) {
            const float* src = xt + order[r] * d;
            for (int64_t t = 0; t < d; ++t) sum[t] += src[t];
          }
          write_centroid(j, sum.data());
        }
      });
    }
    // Empty clusters: re-seed with the worst-fitting row not yet used for this purpose.
    std::vector<uint8_t> taken;
    for (int j = 0; j < kk; ++j) {
      if (start[j + 1] > start[j]) continue;
      if (taken.empty()) taken.assign(nt, 0);
      int64_t worst = -1;
      for (int64_t i = 0; i < nt; ++i)
        if (!taken[i] && (worst < 0 || fit[i] < fit[worst])) worst = i;
      if (worst >= 0) {
        taken[worst] = 1;
        std::copy_n(xt + worst * d, d, run.centroids.data() + static_cast<size_t>(j) * d);
      }
    }
    if (o.metric == KMeansMetric::kCosine) normalize_rows(run.centroids.data(), kk, d);
  }
  run.assign.resize(n);
  run.fit.resize(n);
  assign_exact(x, n, d, run.centroids.data(), kk, o.metric, xnorm2_all, run.assign.data(), run.fit.data());
  run.objective = sum_in_order(run.fit);
  return run;
}

void check_rows(int64_t n, KMeansMetric metric, const std::vector<double>& norm2) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(norm2[i]))  // squares of finite floats cannot overflow a double
      throw InvalidArgument("kmeans: row " + std::to_string(i) + " has a non-finite value");
    if (metric == KMeansMetric::kCosine && std::abs(norm2[i] - 1.0) > 2e-4)
      throw InvalidArgument("kmeans: row " + std::to_string(i) + " does not have unit length (cosine metric)");
  }
}

}  // namespace

void assign_to_centroids(const float* x, int64_t n, int64_t d, const float* centroids, int k, KMeansMetric metric,
                         int32_t* assign, float* score) {
  const std::vector<double> norm2 = metric == KMeansMetric::kL2 ? squared_norms(x, n, d) : std::vector<double>(n);
  std::vector<double> fit(n);
  assign_exact(x, n, d, centroids, k, metric, norm2, assign, fit.data());
  for (int64_t i = 0; i < n; ++i) score[i] = static_cast<float>(metric == KMeansMetric::kL2 ? -fit[i] : fit[i]);
}

KMeansResult kmeans(const float* x, int64_t n, int64_t d, const KMeansOptions& o) {
  if (n < 1 || d < 1) throw InvalidArgument("kmeans: needs at least one row of at least one dimension");
  if (o.k < 1) throw InvalidArgument("kmeans: n_clusters must be >= 1");
  if (o.niter < 0) throw InvalidArgument("kmeans: niter must be >= 0");
  if (o.nredo < 1) throw InvalidArgument("kmeans: nredo must be >= 1");
  const std::vector<double> norm2 = squared_norms(x, n, d);
  check_rows(n, o.metric, norm2);
  const int kk = static_cast<int>(std::min<int64_t>(o.k, n));
  Run best;
  for (int r = 0; r < o.nredo; ++r) {
    Run run = run_once(x, n, d, kk, o, o.seed + static_cast<uint64_t>(r), norm2);
    if (r == 0 || run.objective > best.objective) best = std::move(run);
  }
  KMeansResult res;
  res.k = kk;
  res.d = d;
  res.centroids = std::move(best.centroids);
  res.assign = std::move(best.assign);
  res.score.resize(n);
  const bool l2 = o.metric == KMeansMetric::kL2;
  for (int64_t i = 0; i < n; ++i) res.score[i] = static_cast<float>(l2 ? -best.fit[i] : best.fit[i]);
  res.objective = l2 ? -best.objective : best.objective;
  return res;
}

}  // namespace airtune::vectors
