#include "vectors/topk.h"

#include <oneapi/tbb/enumerable_thread_specific.h>

#include <algorithm>
#include <cmath>

#include "core/threading.h"

namespace airtune::vectors {

double max_row_norm(const float* x, int64_t n, int64_t d) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, squared_norm(x + i * d, d));
  return std::sqrt(m);
}

double candidate_tolerance(int64_t d, double qmax, double bmax, double bias_max) {
  // The dot-product bound, plus the double roundings of BLAS + bias and of floor - tol.
  return dot_error_bound(d, qmax, bmax) + std::ldexp(1.0, -50) * (qmax * bmax + bias_max + 1);
}

TopK exact_topk(const float* query, int64_t nq, const float* base, int64_t nb, int64_t d, int64_t k,
                std::span<const double> bias, bool exclude_self) {
  TopK top(nq, k);
  if (nq == 0 || nb == 0 || k == 0) return top;
  const double* b = bias.empty() ? nullptr : bias.data();
  double bias_max = 0;
  for (double v : bias) bias_max = std::max(bias_max, std::abs(v));
  const double tol = candidate_tolerance(d, max_row_norm(query, nq, d), max_row_norm(base, nb, d), bias_max);
  // Big query blocks amortise BLAS's packing of the base block; smaller ones when there are few
  // queries, so that every thread has work. (The result does not depend on the shape.)
  constexpr int64_t kBaseBlock = 1024;
  const int64_t per_thread = (nq + 4 * core::num_threads() - 1) / (4 * core::num_threads());
  const int64_t query_block = std::clamp<int64_t>(per_thread, 64, 1024);
  const int64_t blocks = (nq + query_block - 1) / query_block;
  BlasSingleThreaded single;
  oneapi::tbb::enumerable_thread_specific<std::vector<float>> grams;  // reused across blocks
  core::parallel_for(static_cast<size_t>(blocks), 1, [&](size_t lo, size_t hi) {
    std::vector<float>& gram = grams.local();
    for (size_t blk = lo; blk < hi; ++blk) {
      const int64_t q0 = static_cast<int64_t>(blk) * query_block, c = std::min(query_block, nq - q0);
      for (int64_t b0 = 0; b0 < nb; b0 += kBaseBlock) {
        const int64_t m = std::min(kBaseBlock, nb - b0);
        offer_block(
            top, query + q0 * d, c, base + b0 * d, m, d, b ? b + b0 : nullptr, tol, [q0](int64_t t) { return q0 + t; },
            [b0](int64_t j) { return b0 + j; }, [&](int64_t t, int64_t j) { return !exclude_self || q0 + t != b0 + j; },
            gram);
      }
    }
  });
  return top;
}

void rescore_candidates(TopK& top, const float* query, const float* base, int64_t nb, int64_t d,
                        std::span<const int64_t> rows, const int64_t* cand_ids, const float* cand_scores, int64_t kc,
                        bool exclude_self, double tol, uint8_t* proven) {
  core::parallel_for(rows.size(), 64, [&](size_t lo, size_t hi) {
    std::vector<int64_t> ids;
    for (size_t r = lo; r < hi; ++r) {
      const int64_t q = rows[r];
      const int64_t* cand = cand_ids + static_cast<int64_t>(r) * kc;
      bool complete = false;
      double lowest = std::numeric_limits<double>::infinity();
      ids.clear();
      for (int64_t j = 0; j < kc; ++j) {
        if (cand[j] < 0 || cand[j] >= nb) {
          complete = true;
          continue;
        }
        if (cand_scores) lowest = std::min(lowest, static_cast<double>(cand_scores[static_cast<int64_t>(r) * kc + j]));
        if (!exclude_self || cand[j] != q) ids.push_back(cand[j]);
      }
      std::sort(ids.begin(), ids.end());  // an engine may list an id twice: offer it once
      ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
      if (static_cast<int64_t>(ids.size()) >= nb - (exclude_self ? 1 : 0)) complete = true;  // every row listed
      top.reset(q);
      const float* qrow = query + q * d;
      for (int64_t id : ids) top.insert(q, dot_exact(qrow, base + id * d, d), id);
      if (proven) proven[r] = complete || (cand_scores && lowest + tol < top.floor(q)) ? 1 : 0;
    }
  });
}

}  // namespace airtune::vectors
