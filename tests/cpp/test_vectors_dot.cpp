// dot_exact against a long double reference, and dot_error_bound against the BLAS kernel in use.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "vectors/blas.h"
#include "vectors/dot.h"

using namespace airtune::vectors;

namespace {
std::vector<float> random_rows(int64_t n, int64_t d, uint64_t seed, float scale = 1.f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0, scale);
  std::vector<float> x(n * d);
  for (auto& v : x) v = g(rng);
  return x;
}
}  // namespace

TEST(VectorsDot, ExactIsAccurateAndSymmetric) {
  for (int64_t d : {1, 3, 7, 8, 9, 64, 385, 1000}) {
    auto a = random_rows(1, d, 1 + d), b = random_rows(1, d, 2 + d);
    long double ref = 0, mag = 0;
    for (int64_t i = 0; i < d; ++i) {
      ref += static_cast<long double>(a[i]) * b[i];
      mag += std::fabs(static_cast<long double>(a[i]) * b[i]);
    }
    const double got = dot_exact(a.data(), b.data(), d);
    EXPECT_LE(std::fabs(static_cast<long double>(got) - ref), mag * d * std::ldexp(1.0L, -52)) << d;
    EXPECT_EQ(got, dot_exact(b.data(), a.data(), d));  // bit for bit
  }
  // Products are exact in double: float32 summation would lose the 1 (1e8 + 1 rounds to 1e8).
  const float a[3] = {1e8f, 1.f, -1e8f}, b[3] = {1.f, 1.f, 1.f};
  EXPECT_EQ(dot_exact(a, b, 3), 1.0);
}

TEST(VectorsDot, BoundHoldsForTheBlasKernel) {
  for (int64_t d : {3, 17, 64, 384, 1000}) {
    for (float scale : {1.f, 1e-3f, 50.f}) {
      const int64_t n = 37, m = 301;
      auto a = random_rows(n, d, 10 + d, scale), b = random_rows(m, d, 20 + d, scale);
      for (int64_t j = 0; j < d; ++j) b[5 * d + j] = a[3 * d + j];  // an exact copy
      std::vector<float> gram(n * m);
      gemm_abt(a.data(), n, b.data(), m, d, gram.data());
      double worst = 0;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < m; ++j) {
          const double exact = dot_exact(&a[i * d], &b[j * d], d);
          const double bound =
              dot_error_bound(d, std::sqrt(squared_norm(&a[i * d], d)), std::sqrt(squared_norm(&b[j * d], d)));
          ASSERT_LE(std::fabs(gram[i * m + j] - exact), bound) << "d=" << d << " i=" << i << " j=" << j;
          worst = std::max(worst, std::fabs(gram[i * m + j] - exact) / bound);
        }
      EXPECT_GT(worst, 0.0);  // BLAS does round: the check is not vacuous
    }
  }
  // Unit rows, d = 384: about d * 2^-24.
  EXPECT_NEAR(dot_error_bound(384, 1, 1), 384 * std::ldexp(1.0, -24), 1e-7);
  EXPECT_TRUE(std::isinf(dot_error_bound(int64_t{1} << 24, 1, 1)));
}

TEST(VectorsBlas, SingleThreadedScopeNestsAndRestores) {
  const int before = blas_threads();
  {
    BlasSingleThreaded outer;
    EXPECT_EQ(blas_threads(), 1);
    {
      BlasSingleThreaded inner;
      EXPECT_EQ(blas_threads(), 1);
    }
    EXPECT_EQ(blas_threads(), 1);
  }
  EXPECT_EQ(blas_threads(), before);
  EXPECT_FALSE(blas_core().empty());  // the build links OpenBLAS
}
