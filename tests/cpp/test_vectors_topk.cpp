// exact_topk against a brute-force exact ranking (bit for bit, with exact-copy ties), at 1, 2 and 3
// threads; the proof rule of rescore_candidates.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "core/threading.h"
#include "vectors/dot.h"
#include "vectors/topk.h"

using namespace airtune::vectors;
namespace core = airtune::core;

namespace {

// Unit rows with groups of exact copies and near copies (the ties that broke BLAS-ranked top-k).
std::vector<float> rows_with_ties(int64_t n, int64_t d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0, 1);
  std::vector<float> x(n * d);
  for (auto& v : x) v = g(rng);
  for (int64_t i = 0; i + 6 < n; i += 97)
    for (int64_t c = 1; c <= 5; ++c) std::copy_n(&x[i * d], d, &x[(i + c) * d]);
  for (int64_t i = 50; i + 1 < n; i += 113)
    for (int64_t j = 0; j < d; ++j) x[(i + 1) * d + j] = x[i * d + j] + 1e-4f * g(rng);
  for (int64_t i = 0; i < n; ++i) {
    const double inv = 1.0 / std::sqrt(squared_norm(&x[i * d], d));
    for (int64_t j = 0; j < d; ++j) x[i * d + j] = static_cast<float>(x[i * d + j] * inv);
  }
  return x;
}

struct Ranked {
  std::vector<double> score;
  std::vector<int64_t> id;
};

Ranked brute_force(const std::vector<float>& q, int64_t nq, const std::vector<float>& b, int64_t nb, int64_t d,
                   int64_t k, const std::vector<double>& bias, bool exclude_self) {
  Ranked r;
  for (int64_t i = 0; i < nq; ++i) {
    std::vector<std::pair<double, int64_t>> all;
    for (int64_t j = 0; j < nb; ++j)
      if (!exclude_self || i != j)
        all.push_back({dot_exact(&q[i * d], &b[j * d], d) + (bias.empty() ? 0.0 : bias[j]), j});
    std::sort(all.begin(), all.end(),
              [](auto& x, auto& y) { return x.first > y.first || (x.first == y.first && x.second < y.second); });
    for (int64_t t = 0; t < k; ++t) {
      r.score.push_back(all[t].first);
      r.id.push_back(all[t].second);
    }
  }
  return r;
}

void expect_same(const TopK& top, const Ranked& ref) {
  for (int64_t i = 0; i < top.rows(); ++i)
    for (int64_t t = 0; t < top.k(); ++t) {
      ASSERT_EQ(top.ids(i)[t], ref.id[i * top.k() + t]) << "row " << i << " rank " << t;
      ASSERT_EQ(top.scores(i)[t], ref.score[i * top.k() + t]) << "row " << i << " rank " << t;
    }
}

}  // namespace

TEST(VectorsTopK, SelfSearchIsTheExactRankingAtEveryThreadCount) {
  const int64_t n = 2600, d = 24, k = 7;  // 11 query blocks, 2 base blocks
  const auto x = rows_with_ties(n, d, 1);
  const Ranked ref = brute_force(x, n, x, n, d, k, {}, true);
  for (int threads : {1, 2, 3}) {
    core::set_num_threads(threads);
    expect_same(exact_topk(x.data(), n, x.data(), n, d, k, {}, true), ref);
  }
  // The 5 copies of row 0 rank first for row 0, in id order, at cosine 1.
  const TopK top = exact_topk(x.data(), n, x.data(), n, d, k, {}, true);
  for (int64_t t = 0; t < 5; ++t) EXPECT_EQ(top.ids(0)[t], t + 1);
}

TEST(VectorsTopK, CrossSearchWithBiasIsTheExactRanking) {
  const int64_t nq = 300, nb = 4500, d = 10, k = 4;
  auto b = rows_with_ties(nb, d, 2);
  for (int64_t i = 0; i < nb * d; ++i) b[i] *= 1.f + static_cast<float>(i % 7);  // raw norms (L2 search)
  std::vector<float> q(b.begin() + 97 * d, b.begin() + (97 + nq) * d);
  std::vector<double> bias(nb);
  for (int64_t j = 0; j < nb; ++j) bias[j] = -0.5 * squared_norm(&b[j * d], d);
  const Ranked ref = brute_force(q, nq, b, nb, d, k, bias, false);
  for (int threads : {1, 3}) {
    core::set_num_threads(threads);
    expect_same(exact_topk(q.data(), nq, b.data(), nb, d, k, bias, false), ref);
  }
}

TEST(VectorsTopK, InsertionOrderDoesNotMatter) {
  std::vector<std::pair<double, int64_t>> items = {{0.5, 4}, {0.9, 7}, {0.5, 2}, {0.9, 3}, {0.1, 0}, {0.5, 9}};
  TopK ref(1, 4);
  for (auto [s, id] : items) ref.insert(0, s, id);
  EXPECT_EQ(std::vector<int64_t>(ref.ids(0), ref.ids(0) + 4), (std::vector<int64_t>{3, 7, 2, 4}));
  std::sort(items.begin(), items.end(), [](auto& a, auto& b) { return a.second > b.second; });
  do {
    TopK t(1, 4);
    for (auto [s, id] : items) t.insert(0, s, id);
    ASSERT_EQ(std::vector<int64_t>(t.ids(0), t.ids(0) + 4), std::vector<int64_t>(ref.ids(0), ref.ids(0) + 4));
  } while (std::next_permutation(items.begin(), items.end(), [](auto& a, auto& b) { return a.second > b.second; }));
}

TEST(VectorsTopK, RescoreProvesOnlyWhatItCan) {
  const int64_t n = 400, d = 16, k = 3;
  const auto x = rows_with_ties(n, d, 3);
  const double tol = candidate_tolerance(d, 1, 1);
  const TopK exact = exact_topk(x.data(), n, x.data(), n, d, 20, {}, true);
  // Candidates: the exact top-20 with float scores, truncated to kc.
  auto candidates = [&](int64_t q, int64_t kc, std::vector<int64_t>& ids, std::vector<float>& sc) {
    for (int64_t j = 0; j < kc; ++j) {
      ids.push_back(exact.ids(q)[j]);
      sc.push_back(static_cast<float>(exact.scores(q)[j]));
    }
  };
  std::vector<int64_t> rows = {0, 50, 200};  // 0: five exact copies, 50: a near copy
  std::vector<int64_t> ids;
  std::vector<float> sc;
  for (int64_t q : rows) candidates(q, 12, ids, sc);
  TopK top(n, k);
  std::vector<uint8_t> proven(rows.size());
  rescore_candidates(top, x.data(), x.data(), n, d, rows, ids.data(), sc.data(), 12, true, tol, proven.data());
  for (size_t r = 0; r < rows.size(); ++r) {
    for (int64_t t = 0; t < k; ++t) EXPECT_EQ(top.ids(rows[r])[t], exact.ids(rows[r])[t]);
    // The 12th candidate is far below the 3rd (row 0's five copies all fit in the 12): proven.
    EXPECT_EQ(proven[r], 1) << rows[r];
  }
  // A list cut inside a tie is never proven; a list that ends early (-1) always is.
  ids.assign({1, 2, 3}), sc.assign({1.f, 1.f, 1.f});
  std::vector<int64_t> row0 = {0};
  rescore_candidates(top, x.data(), x.data(), n, d, row0, ids.data(), sc.data(), 3, true, tol, proven.data());
  EXPECT_EQ(proven[0], 0);
  ids.assign({3, 1, -1}), sc.assign({1.f, 1.f, 0.f});
  rescore_candidates(top, x.data(), x.data(), n, d, row0, ids.data(), sc.data(), 3, true, tol, proven.data());
  EXPECT_EQ(proven[0], 1);
  EXPECT_EQ(top.ids(0)[0], 1);  // ordered by (score, id), not by the engine's order
  EXPECT_EQ(top.ids(0)[1], 3);
  EXPECT_EQ(top.ids(0)[2], -1);
}
