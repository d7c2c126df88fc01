// FAISS kNN graphs vs brute force, SemDeDup vs a direct O(n^2) computation, outliers, bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>
#include <vector>

#include "core/errors.h"
#include "dedup/knn.h"
#include "dedup/outliers.h"
#include "dedup/semdedup.h"

using namespace airtune::dedup;

namespace {
std::vector<float> random_rows(int64_t n, int64_t d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0, 1);
  std::vector<float> x(n * d);
  for (auto& v : x) v = g(rng);
  return x;
}
double cosine(const float* a, const float* b, int64_t d) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t j = 0; j < d; ++j) {
    ab += double(a[j]) * b[j];
    aa += double(a[j]) * a[j];
    bb += double(b[j]) * b[j];
  }
  return ab / std::sqrt(aa * bb);
}
}  // namespace

TEST(DedupKnn, FlatMatchesBruteForce) {
  const int64_t n = 200, d = 16, k = 5;
  auto x = random_rows(n, d, 1);
  auto g = knn_self_cosine(x.data(), n, d, k, SearchOptions{});
  EXPECT_EQ(g.index, "flat");
  for (int64_t i = 0; i < n; ++i) {
    std::vector<std::pair<double, int64_t>> all;
    for (int64_t j = 0; j < n; ++j)
      if (j != i) all.push_back({-cosine(&x[i * d], &x[j * d], d), j});
    std::sort(all.begin(), all.end());
    for (int64_t t = 0; t < k; ++t) {
      EXPECT_EQ(g.ids[i * k + t], all[t].second);
      EXPECT_NEAR(g.score[i * k + t], -all[t].first, 1e-5);
    }
  }
}

TEST(DedupKnn, ApproximateIndexesFindPlantedDuplicates) {
  const int64_t n = 3000, d = 32;
  auto x = random_rows(n, d, 2);
  for (int64_t i = 0; i < 300; ++i)  // row 2i+1 is a slightly perturbed copy of row 2i
    for (int64_t j = 0; j < d; ++j) x[(2 * i + 1) * d + j] = x[2 * i * d + j] + 0.01f * float((i + j) % 3);
  for (auto kind : {SearchIndex::kIvf, SearchIndex::kHnsw, SearchIndex::kIvfGemm}) {
    SearchOptions o;
    o.index = kind;
    auto g = knn_self_cosine(x.data(), n, d, 3, o);
    int found = 0;
    for (int64_t i = 0; i < 300; ++i) found += g.ids[2 * i * 3] == 2 * i + 1;
    EXPECT_GE(found, 290) << g.index;
  }
}

TEST(DedupKnn, BadInputNamesTheRow) {
  std::vector<float> x = {1, 0, 0, 0, 0, 1};
  try {
    knn_self_cosine(x.data(), 3, 2, 1, SearchOptions{});
    FAIL();
  } catch (const airtune::InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("row 1"), std::string::npos);
  }
  x[3] = NAN;
  EXPECT_THROW(knn_self_cosine(x.data(), 3, 2, 1, SearchOptions{}), airtune::InvalidArgument);
  auto one = knn_self_cosine(x.data(), 1, 2, 5, SearchOptions{});
  EXPECT_EQ(one.k, 0);
}

TEST(DedupSemdedup, MaxSimilarityMatchesDirectComputation) {
  const int64_t n = 300, d = 8;
  auto x = random_rows(n, d, 5);
  SemDedupOptions o;
  o.n_clusters = 4;
  auto r = semdedup(x.data(), n, d, o, {});
  // Order inside each cluster: hard = descending centroid distance, ties by row.
  for (int c = 0; c < 4; ++c) {
    std::vector<int64_t> m;
    for (int64_t i = 0; i < n; ++i)
      if (r.cluster[i] == c) m.push_back(i);
    std::stable_sort(m.begin(), m.end(), [&](int64_t a, int64_t b) {
      return r.centroid_distance[a] > r.centroid_distance[b] ||
             (r.centroid_distance[a] == r.centroid_distance[b] && a < b);
    });
    for (size_t j = 0; j < m.size(); ++j) {
      double best = -1;
      for (size_t i = 0; i < j; ++i) best = std::max(best, cosine(&x[m[i] * d], &x[m[j] * d], d));
      EXPECT_NEAR(r.max_similarity[m[j]], best, 1e-4);
    }
  }
}

TEST(DedupOutliers, LofAndFences) {
  const int64_t n = 100, d = 4;
  auto x = random_rows(n, d, 9);
  for (int64_t j = 0; j < d; ++j) x[j] = 40.f;  // row 0 far away
  auto lof = lof_outliers(x.data(), n, d, 10, 1.5);
  EXPECT_EQ(lof.flag[0], 1);
  EXPECT_GT(lof.score[0], 3.0);
  std::vector<double> v = {1, 2, 3, 4, 5, 6, 7, 8, 9};  // numpy: q1 = 3, q3 = 7
  EXPECT_DOUBLE_EQ(iqr_fence(v, 1.5), 13.0);
}

TEST(DedupKnn, IvfGemmCrossSearchFindsExactMatches) {
  const int64_t nb = 2000, nq = 100, d = 16;
  auto base = random_rows(nb, d, 12);
  std::vector<float> q(base.begin(), base.begin() + nq * d);  // queries are base rows 0..99
  SearchOptions o;
  o.index = SearchIndex::kIvfGemm;
  auto g = knn_cross_cosine(base.data(), nb, q.data(), nq, d, 3, o);
  EXPECT_EQ(g.index.rfind("ivf-gemm", 0), 0u);
  for (int64_t i = 0; i < nq; ++i) {
    EXPECT_EQ(g.ids[i * 3], i);
    EXPECT_NEAR(g.score[i * 3], 1.0, 1e-5);
  }
}
