// Exact top-k search over float32 rows: BLAS finds the candidates, dot_exact (dot.h) decides.
//
// The rule that makes every result independent of the thread count and of the BLAS kernel:
// a query keeps the k best (score, id) pairs by exact score (dot_exact + bias), descending, ties
// to the lower id (TopK). A pair is rescored exactly only when its BLAS score is at least the
// query's current k-th exact score minus `tol`, with tol >= dot_error_bound(d, max|q|, max|b|).
// A pair that is skipped has exact score <= BLAS + bound < k-th score at that moment <= final
// k-th score, so it cannot belong to the exact top-k: the result is the exact top-k of every pair
// offered, whatever the BLAS rounding, the order the pairs are offered in or the threads that
// offer them. BLAS only decides how much work is done (exact rescorings: about k ln(n/k) per query
// plus the near ties).
//
// Blocks: exact_topk runs blocks of 64..1024 queries (fewer when there are few queries per
// thread) x 1024 base rows, parallel over query blocks with oneTBB, each sgemm at one BLAS thread
// (blas.h). Memory: the k results per query plus one block of products (<= 4 MiB) per running task.
// Threads: exact_topk and rescore_candidates use the oneTBB arena; call them from outside oneTBB
// tasks or from inside, as core::parallel_for nests. TopK is not thread-safe: offer_block takes
// an optional array of mutexes, one per query row modulo its size, for callers that offer one
// query's pairs from several tasks.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <span>
#include <vector>

#include "vectors/blas.h"
#include "vectors/dot.h"

namespace airtune::vectors {

/// For each of `rows` queries the best `k` (score, id) pairs under "score descending, then id
/// ascending"; free slots hold score -inf and id -1 and rank below every pair.
class TopK {
 public:
  TopK() = default;
  TopK(int64_t rows, int64_t k)
      : rows_(rows),
        k_(k),
        score_(static_cast<size_t>(rows * k), -std::numeric_limits<double>::infinity()),
        id_(static_cast<size_t>(rows * k), -1) {}

  int64_t rows() const { return rows_; }
  int64_t k() const { return k_; }
  const double* scores(int64_t q) const { return score_.data() + q * k_; }
  const int64_t* ids(int64_t q) const { return id_.data() + q * k_; }

  /// The k-th score held for query q (-inf while fewer than k pairs are held).
  double floor(int64_t q) const { return k_ ? score_[q * k_ + k_ - 1] : std::numeric_limits<double>::infinity(); }

  /// Inserts (score, id) when it ranks above the k-th held pair; returns whether it did.
  /// Offering the same id twice for one query is the caller's error.
  bool insert(int64_t q, double score, int64_t id) {
    if (k_ == 0) return false;
    double* s = score_.data() + q * k_;
    int64_t* ids = id_.data() + q * k_;
    if (!better(score, id, s[k_ - 1], ids[k_ - 1])) return false;
    int64_t pos = k_ - 1;
    while (pos > 0 && better(score, id, s[pos - 1], ids[pos - 1])) {
      s[pos] = s[pos - 1];
      ids[pos] = ids[pos - 1];
      --pos;
    }
    s[pos] = score;
    ids[pos] = id;
    return true;
  }

  /// Empties query q's slots.
  void reset(int64_t q) {
    std::fill_n(score_.data() + q * k_, k_, -std::numeric_limits<double>::infinity());
    std::fill_n(id_.data() + q * k_, k_, int64_t{-1});
  }

  static bool better(double s, int64_t id, double s2, int64_t id2) {
    return id2 < 0 || s > s2 || (s == s2 && id < id2);
  }

 private:
  int64_t rows_ = 0, k_ = 0;
  std::vector<double> score_;
  std::vector<int64_t> id_;
};

/// Largest row norm sqrt(squared_norm) of n x d rows (0 for n = 0).
double max_row_norm(const float* x, int64_t n, int64_t d);

/// The `tol` of the rule above for queries and base rows of norms at most qmax, bmax and biases of
/// magnitude at most bias_max (also covers the double rounding of BLAS + bias).
double candidate_tolerance(int64_t d, double qmax, double bmax, double bias_max = 0);

/// One block: gram = xq (c x d) . xb (m x d)^T by BLAS, then every pair (t, j) with allowed(t, j)
/// is offered to `top` row slot(t) under id(j) and score xq_t . xb_j + bias[j] (bias: m entries,
/// or nullptr for none), by the rule above. `gram` is resized as needed (reuse it across blocks).
/// locks: nullptr, or n_locks mutexes; slot s is then updated under locks[s % n_locks].
///
/// Work saving (the result does not depend on it): while scanning a row of the block, the k-th
/// largest BLAS score b of its allowed pairs so far proves that the final k-th exact score is
/// >= b - tol (k distinct pairs score >= b in BLAS), so a pair below b - 2 tol is skipped too.
/// The pairs that pass are rescored after the scan, best first, each re-checked against the k-th
/// exact score as it rises: about k ln(m / k) rescorings per row and block plus the near ties.
namespace detail {

// One row of a block: the pairs that pass the cut, and the row's k largest BLAS scores so far.
template <class Allowed>
struct RowScan {
  const float* g;
  const double* bias;
  double tol;
  Allowed& allowed;
  int64_t t;
  double cut;                                     // skip a pair whose approximate score is below it
  std::vector<std::pair<double, int64_t>>& cand;  // (approximate score, j)
  std::vector<double>& blas_top;                  // descending; -inf = free

  static float float_below(double v) {  // the largest float <= v, so that g < it implies g < v
    float f = static_cast<float>(v);
    if (static_cast<double>(f) > v) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
    return f;
  }

  // The rare case of the scan: j passed the float cut. Returns the new float cut.
  [[gnu::noinline]] float take(int64_t j) {
    const double approx = bias ? static_cast<double>(g[j]) + bias[j] : static_cast<double>(g[j]);
    if (approx >= cut && allowed(t, j)) {
      cand.emplace_back(approx, j);
      const auto k = static_cast<int64_t>(blas_top.size());
      if (approx > blas_top[k - 1]) {
        int64_t pos = k - 1;
        while (pos > 0 && approx > blas_top[pos - 1]) {
          blas_top[pos] = blas_top[pos - 1];
          --pos;
        }
        blas_top[pos] = approx;
        cut = std::max(cut, blas_top[k - 1] - 2 * tol);
      }
    }
    return bias ? -std::numeric_limits<float>::infinity() : float_below(cut);
  }
};

}  // namespace detail

template <class Slot, class Id, class Allowed>
void offer_block(TopK& top, const float* xq, int64_t c, const float* xb, int64_t m, int64_t d, const double* bias,
                 double tol, Slot slot, Id id, Allowed allowed, std::vector<float>& gram, std::mutex* locks = nullptr,
                 size_t n_locks = 0) {
  const int64_t k = top.k();
  if (c == 0 || m == 0 || k == 0) return;
  gram.resize(static_cast<size_t>(c * m));
  gemm_abt(xq, c, xb, m, d, gram.data());
  std::vector<std::pair<double, int64_t>> cand;
  std::vector<double> blas_top(static_cast<size_t>(k));
  for (int64_t t = 0; t < c; ++t) {
    const int64_t s = slot(t);
    std::unique_lock<std::mutex> guard;
    if (locks) guard = std::unique_lock<std::mutex>(locks[static_cast<size_t>(s) % n_locks]);
    const float* g = gram.data() + t * m;
    const double exact_cut = top.floor(s) - tol;
    std::fill(blas_top.begin(), blas_top.end(), -std::numeric_limits<double>::infinity());
    cand.clear();
    detail::RowScan<Allowed> row{g, bias, tol, allowed, t, exact_cut, cand, blas_top};
    // With a bias every pair goes through take() (the float cut is -inf); without, the hot loop
    // is one float compare per pair.
    float fcut = bias ? -std::numeric_limits<float>::infinity() : row.float_below(exact_cut);
    for (int64_t j = 0; j < m; ++j)
      if (!(g[j] < fcut)) fcut = row.take(j);
    std::sort(cand.begin(), cand.end(), [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    const float* qrow = xq + t * d;
    double threshold = exact_cut;
    for (const auto& [approx, j] : cand) {
      if (approx < row.cut) break;  // sorted: the rest are below the final BLAS cut too
      if (approx < threshold) continue;
      const double exact = dot_exact(qrow, xb + j * d, d) + (bias ? bias[j] : 0.0);
      if (top.insert(s, exact, id(j))) threshold = top.floor(s) - tol;
    }
  }
}

/// Exact top-k of each of nq query rows against nb base rows, score(q, j) = q . b_j + bias[j]
/// (bias: nb entries, or empty), skipping j == q when exclude_self (query i is base row i).
/// k is used as given (the caller clamps it). Rows must be finite.
TopK exact_topk(const float* query, int64_t nq, const float* base, int64_t nb, int64_t d, int64_t k,
                std::span<const double> bias, bool exclude_self);

/// Exact rescoring of the candidates of an approximate engine (FAISS IVF or HNSW, torch) whose
/// float32 scores obey dot_error_bound. For each r < rows.size(): query row rows[r] of `query`
/// has candidates cand_ids[r * kc .. + kc) (ids into `base`, -1 = none) with engine scores
/// cand_scores (same layout; nullptr when unknown). top row rows[r] is reset and filled with
/// the best top.k() candidates by exact score (j == rows[r] skipped when exclude_self).
/// proven (rows.size() entries, or nullptr) is set to 1 where the list provably holds the exact
/// top-k of everything the engine scanned: a slot is -1 (the engine returned all it found), or
/// the list names every row, or the lowest engine score + tol is below the exact k-th score.
void rescore_candidates(TopK& top, const float* query, const float* base, int64_t nb, int64_t d,
                        std::span<const int64_t> rows, const int64_t* cand_ids, const float* cand_scores, int64_t kc,
                        bool exclude_self, double tol, uint8_t* proven);

}  // namespace airtune::vectors
