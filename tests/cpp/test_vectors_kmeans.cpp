// The one k-means: L2 and cosine clusters recovered, bad input named, the same bits at 1, 2 and 3
// threads on data with exact copies.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>
#include <vector>

#include "core/errors.h"
#include "core/threading.h"
#include "vectors/kmeans.h"

using namespace airtune::vectors;
namespace core = airtune::core;

namespace {
std::vector<float> unit_blobs(int64_t per, int64_t d, int clusters, uint64_t seed) {
  std::vector<float> x;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0, 0.05f);
  for (int c = 0; c < clusters; ++c)
    for (int64_t i = 0; i < per; ++i) {
      double s = 0;
      const size_t at = x.size();
      for (int64_t j = 0; j < d; ++j) {
        x.push_back((j == c ? 1.f : 0.f) + g(rng));
        s += double(x.back()) * x.back();
      }
      for (int64_t j = 0; j < d; ++j) x[at + j] = static_cast<float>(x[at + j] / std::sqrt(s));
    }
  return x;
}
}  // namespace

TEST(VectorsKMeans, L2SeparatedBlobs) {
  std::vector<float> x;
  const float centers[3][2] = {{0, 0}, {10, 0}, {0, 10}};
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 20; ++i) {
      x.push_back(centers[c][0] + 0.01f * static_cast<float>(i % 5));
      x.push_back(centers[c][1] + 0.01f * static_cast<float>(i / 5));
    }
  KMeansOptions o;
  o.k = 3;
  o.seed = 1;
  o.metric = KMeansMetric::kL2;
  o.init = KMeansInit::kPlusPlus;
  o.max_points_per_centroid = 0;
  const auto r = kmeans(x.data(), 60, 2, o);
  for (int c = 0; c < 3; ++c)
    for (int i = 1; i < 20; ++i) EXPECT_EQ(r.assign[c * 20 + i], r.assign[c * 20]);
  EXPECT_NE(r.assign[0], r.assign[20]);
  EXPECT_NE(r.assign[0], r.assign[40]);
  EXPECT_NE(r.assign[20], r.assign[40]);
  EXPECT_LT(r.objective, 0.1);
  double inertia = 0;
  for (float v : r.score) inertia += v;
  EXPECT_NEAR(inertia, r.objective, 1e-5);
  x[5] = std::nanf("");
  EXPECT_THROW(kmeans(x.data(), 60, 2, o), airtune::InvalidArgument);
  o.nredo = 0;
  EXPECT_THROW(kmeans(x.data(), 60, 2, o), airtune::InvalidArgument);
}

TEST(VectorsKMeans, CosineRecoversSeparatedClusters) {
  const int64_t per = 200, d = 8;
  const auto x = unit_blobs(per, d, 4, 3);
  KMeansOptions o;
  o.k = 4;
  o.niter = 10;
  o.seed = 7;
  const auto a = kmeans(x.data(), 4 * per, d, o);
  for (int c = 0; c < 4; ++c)  // every true cluster maps to one k-means cluster
    for (int64_t i = 1; i < per; ++i) EXPECT_EQ(a.assign[c * per + i], a.assign[c * per]);
  std::set<int32_t> distinct(a.assign.begin(), a.assign.end());
  EXPECT_EQ(distinct.size(), 4u);
  o.k = 10;
  EXPECT_EQ(kmeans(x.data(), 3, d, o).k, 3);  // k clamped to n
  std::vector<float> raw(x.begin(), x.begin() + 3 * d);
  raw[d] *= 3;
  EXPECT_THROW(kmeans(raw.data(), 3, d, o), airtune::InvalidArgument);  // not unit length
}

TEST(VectorsKMeans, SameBitsAtEveryThreadCount) {
  const int64_t per = 300, d = 16;
  auto x = unit_blobs(per, d, 6, 5);
  for (int64_t i = 0; i < 6 * per; i += 7)  // exact copies
    std::copy_n(&x[i * d], d, &x[((i + 3) % (6 * per)) * d]);
  for (auto metric : {KMeansMetric::kCosine, KMeansMetric::kL2}) {
    KMeansOptions o;
    o.k = 9;
    o.niter = 15;
    o.nredo = 2;
    o.metric = metric;
    o.max_points_per_centroid = 100;  // the sampled path
    o.init = metric == KMeansMetric::kL2 ? KMeansInit::kPlusPlus : KMeansInit::kRandom;
    core::set_num_threads(1);
    const auto ref = kmeans(x.data(), 6 * per, d, o);
    for (int threads : {2, 3}) {
      core::set_num_threads(threads);
      const auto r = kmeans(x.data(), 6 * per, d, o);
      EXPECT_EQ(r.centroids, ref.centroids);
      EXPECT_EQ(r.assign, ref.assign);
      EXPECT_EQ(r.score, ref.score);
      EXPECT_EQ(r.objective, ref.objective);
    }
  }
}
