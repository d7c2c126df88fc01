#include "dedup/knn.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <omp.h>
#include <oneapi/tbb/enumerable_thread_specific.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>

#include "core/enum_names.h"
#include "core/errors.h"
#include "core/threading.h"
#include "vectors/kmeans.h"
#include "vectors/topk.h"

namespace airtune::dedup {
namespace {

using idx_t = faiss::Index::idx_t;
using vectors::TopK;

SearchIndex resolve(const SearchOptions& o, int64_t nb) {
  SearchIndex kind = o.index;
  if (kind == SearchIndex::kAuto) kind = nb <= o.flat_max_rows ? SearchIndex::kFlat : SearchIndex::kIvfGemm;
  if ((kind == SearchIndex::kIvf || kind == SearchIndex::kIvfGemm) && nb < 64) kind = SearchIndex::kFlat;
  return kind;
}

void check_shape(int64_t n, int64_t d, const char* what) {
  if (n < 0 || d < 1) throw InvalidArgument(std::string(what) + ": expected a non-empty (rows x dims) matrix");
}

struct Prepared {
  std::vector<float> copy;
  const float* data = nullptr;
};

Prepared prepare(const float* x, int64_t n, int64_t d) {
  Prepared p;
  if (rows_are_unit(x, n, d)) {
    p.data = x;
  } else {
    p.copy = l2_normalized(x, n, d);
    p.data = p.copy.data();
  }
  return p;
}

vectors::KMeansResult ivf_lists(const float* base, int64_t nb, int64_t d, int nlist, uint64_t seed) {
  vectors::KMeansOptions ko;
  ko.k = nlist;
  ko.niter = 10;
  ko.seed = seed;
  return vectors::kmeans(base, nb, d, ko);
}

// The lists (nlist rule of each kind) and each query's nprobe best lists by exact score (ties to
// the lower list), on rows already normalised.
IvfPlan plan_lists(const float* base, int64_t nb, const float* query, int64_t nq, int64_t d, SearchIndex kind,
                   const SearchOptions& o) {
  int nlist = 0;
  if (kind == SearchIndex::kIvfGemm) {
    nlist = o.nlist > 0 ? o.nlist : static_cast<int>(std::lround(std::sqrt(double(nb))));
    nlist = static_cast<int>(std::clamp<int64_t>(nlist, 1, std::max<int64_t>(1, nb / 8)));
  } else if (kind == SearchIndex::kIvf) {
    nlist = o.nlist > 0 ? o.nlist : static_cast<int>(std::clamp<double>(4.0 * std::sqrt(double(nb)), 16, 65536));
    nlist = static_cast<int>(std::min<int64_t>(nlist, std::max<int64_t>(1, nb / 4)));
  } else {
    throw InvalidArgument("ivf_plan: index must be 'ivf' or 'ivf-gemm'");
  }
  auto km = ivf_lists(base, nb, d, nlist, o.seed);
  IvfPlan p;
  p.nlist = km.k;
  p.dim = d;
  p.nprobe = kind == SearchIndex::kIvfGemm ? std::min(o.nprobe > 0 ? o.nprobe : std::max(8, p.nlist / 20), p.nlist)
             : o.nprobe > 0                ? std::min(o.nprobe, p.nlist)
                                           : std::min(p.nlist, std::max(16, p.nlist / 16));
  const TopK probes = vectors::exact_topk(query, nq, km.centroids.data(), p.nlist, d, p.nprobe, {}, false);
  p.centroids = std::move(km.centroids);
  p.assign.assign(km.assign.begin(), km.assign.end());
  p.probe_ids.resize(static_cast<size_t>(nq * p.nprobe));
  p.probe_scores.resize(static_cast<size_t>(nq * p.nprobe));
  for (int64_t q = 0; q < nq; ++q)
    for (int j = 0; j < p.nprobe; ++j) {
      p.probe_ids[q * p.nprobe + j] = probes.ids(q)[j];
      p.probe_scores[q * p.nprobe + j] = static_cast<float>(probes.scores(q)[j]);
    }
  return p;
}

// IVF with the scan done by BLAS: k-means lists, each query probes its nprobe best lists, every
// (list, block of up to 256 probing queries) pair is one sgemm whose products are offered to the
// exact top-k (topk.h). Parallel over lists; a query's top-k is updated under a striped lock, and
// since the exact top-k does not depend on the order of the offers, neither does the result.
TopK ivf_gemm(const float* base, int64_t nb, const float* query, int64_t nq, int64_t d, int64_t k, bool exclude_self,
              const SearchOptions& o, std::string& name) {
  const IvfPlan plan = plan_lists(base, nb, query, nq, d, SearchIndex::kIvfGemm, o);
  const int nlist = plan.nlist, nprobe = plan.nprobe;
  std::vector<std::vector<int64_t>> members(nlist), askers(nlist);
  for (int64_t i = 0; i < nb; ++i) members[plan.assign[i]].push_back(i);
  for (int64_t q = 0; q < nq; ++q)
    for (int p = 0; p < nprobe; ++p)
      if (const int64_t l = plan.probe_ids[q * nprobe + p]; l >= 0) askers[l].push_back(q);
  TopK top(nq, k);
  const double tol =
      vectors::candidate_tolerance(d, vectors::max_row_norm(query, nq, d), vectors::max_row_norm(base, nb, d));
  constexpr int64_t kQueryBlock = 256;
  constexpr size_t kLocks = 4096;
  std::vector<std::mutex> locks(kLocks);
  vectors::BlasSingleThreaded single;
  struct Scratch {
    std::vector<float> xb, xq, gram;
  };
  oneapi::tbb::enumerable_thread_specific<Scratch> scratch;  // reused across lists
  core::parallel_for(nlist, 1, [&](size_t lo, size_t hi) {
    auto& [xb, xq, gram] = scratch.local();
    for (size_t l = lo; l < hi; ++l) {
      const auto& mem = members[l];
      const auto& ask = askers[l];
      if (mem.empty() || ask.empty()) continue;
      const auto m = static_cast<int64_t>(mem.size());
      xb.resize(static_cast<size_t>(m * d));
      for (int64_t j = 0; j < m; ++j) std::copy_n(base + mem[j] * d, d, xb.data() + j * d);
      for (size_t q0 = 0; q0 < ask.size(); q0 += kQueryBlock) {
        const auto c = static_cast<int64_t>(std::min<size_t>(kQueryBlock, ask.size() - q0));
        xq.resize(static_cast<size_t>(c * d));
        for (int64_t t = 0; t < c; ++t) std::copy_n(query + ask[q0 + t] * d, d, xq.data() + t * d);
        const int64_t* qs = ask.data() + q0;
        vectors::offer_block(
            top, xq.data(), c, xb.data(), m, d, nullptr, tol, [qs](int64_t t) { return qs[t]; },
            [&mem](int64_t j) { return mem[j]; },
            [&](int64_t t, int64_t j) { return !exclude_self || qs[t] != mem[j]; }, gram, locks.data(), kLocks);
      }
    }
  });
  name = "ivf-gemm(nlist=" + std::to_string(nlist) + ",nprobe=" + std::to_string(nprobe) + ")";
  return top;
}

// FAISS IndexIVFFlat on deterministic lists and probes; its top-kc lists are rescored exactly and
// widened (kc x 4) for the queries whose list does not prove that it holds the exact top-k of the
// probed lists (topk.h, rescore_candidates), so the result is the exact top-k of the probed lists.
TopK faiss_ivf(const float* base, int64_t nb, const float* query, int64_t nq, int64_t d, int64_t k, bool exclude_self,
               const SearchOptions& o, std::string& name) {
  const IvfPlan plan = plan_lists(base, nb, query, nq, d, SearchIndex::kIvf, o);
  const int nlist = plan.nlist, nprobe = plan.nprobe;
  faiss::IndexFlatIP quantizer(d);
  quantizer.add(nlist, plan.centroids.data());
  faiss::IndexIVFFlat ivf(&quantizer, d, nlist, faiss::METRIC_INNER_PRODUCT);
  std::vector<idx_t> list(plan.assign.begin(), plan.assign.end());
  ivf.add_core(nb, base, nullptr, list.data());
  ivf.nprobe = nprobe;
  TopK top(nq, k);
  const double tol =
      vectors::candidate_tolerance(d, vectors::max_row_norm(query, nq, d), vectors::max_row_norm(base, nb, d));
  std::vector<int64_t> rows(nq);
  std::iota(rows.begin(), rows.end(), 0);
  int64_t kc = std::min<int64_t>(nb, 2 * k + 8);
  std::vector<float> xq, dist, pdis;
  std::vector<idx_t> lab, pid;
  std::vector<int64_t> cand;
  std::vector<uint8_t> proven;
  while (!rows.empty()) {
    const auto nr = static_cast<int64_t>(rows.size());
    xq.resize(static_cast<size_t>(nr * d));
    pid.resize(static_cast<size_t>(nr * nprobe));
    pdis.resize(static_cast<size_t>(nr * nprobe));
    for (int64_t r = 0; r < nr; ++r) {
      std::copy_n(query + rows[r] * d, d, xq.data() + r * d);
      std::copy_n(plan.probe_ids.data() + rows[r] * nprobe, nprobe, pid.data() + r * nprobe);
      std::copy_n(plan.probe_scores.data() + rows[r] * nprobe, nprobe, pdis.data() + r * nprobe);
    }
    dist.resize(static_cast<size_t>(nr * kc));
    lab.resize(static_cast<size_t>(nr * kc));
    ivf.search_preassigned(nr, xq.data(), kc, pid.data(), pdis.data(), dist.data(), lab.data(), false);
    cand.assign(lab.begin(), lab.end());
    proven.assign(nr, 0);
    vectors::rescore_candidates(top, query, base, nb, d, rows, cand.data(), dist.data(), kc, exclude_self, tol,
                                proven.data());
    std::vector<int64_t> left;
    for (int64_t r = 0; r < nr; ++r)
      if (!proven[r]) left.push_back(rows[r]);
    rows.swap(left);
    if (kc == nb) break;  // unreachable: a list of every probed row is complete
    kc = std::min<int64_t>(nb, kc * 4);
  }
  name = "ivf(nlist=" + std::to_string(nlist) + ",nprobe=" + std::to_string(nprobe) + ")";
  return top;
}

// FAISS HNSW: built on one OpenMP thread when deterministic (its parallel insertion order depends
// on the threads), searched in parallel (one query per thread, deterministic), and the returned
// candidates rescored exactly and ordered by (score, id).
TopK hnsw(const float* base, int64_t nb, const float* query, int64_t nq, int64_t d, int64_t k, bool exclude_self,
          const SearchOptions& o, std::string& name) {
  faiss::IndexHNSWFlat idx(d, o.hnsw_m, faiss::METRIC_INNER_PRODUCT);
  idx.hnsw.efConstruction = 80;
  idx.hnsw.efSearch = std::max<int>(o.ef_search > 0 ? o.ef_search : 64, static_cast<int>(2 * k));
  if (o.deterministic) omp_set_num_threads(1);
  idx.add(nb, base);
  omp_set_num_threads(core::num_threads());
  const int64_t kc = std::min<int64_t>(nb, k + (exclude_self ? 1 : 0));
  std::vector<float> dist(static_cast<size_t>(nq * kc));
  std::vector<idx_t> lab(static_cast<size_t>(nq * kc));
  idx.search(nq, query, kc, dist.data(), lab.data());
  std::vector<int64_t> cand(lab.begin(), lab.end()), rows(nq);
  std::iota(rows.begin(), rows.end(), 0);
  TopK top(nq, k);
  vectors::rescore_candidates(top, query, base, nb, d, rows, cand.data(), nullptr, kc, exclude_self, 0, nullptr);
  name = "hnsw(M=" + std::to_string(o.hnsw_m) + ",ef=" + std::to_string(idx.hnsw.efSearch) +
         (o.deterministic ? "" : ",parallel-build") + ")";
  return top;
}

TopK search(const float* base, int64_t nb, const float* query, int64_t nq, int64_t d, int64_t k, bool exclude_self,
            const SearchOptions& o, std::string& name) {
  omp_set_num_threads(core::num_threads());
  switch (resolve(o, nb)) {
    case SearchIndex::kIvfGemm:
      return ivf_gemm(base, nb, query, nq, d, k, exclude_self, o, name);
    case SearchIndex::kIvf:
      return faiss_ivf(base, nb, query, nq, d, k, exclude_self, o, name);
    case SearchIndex::kHnsw:
      return hnsw(base, nb, query, nq, d, k, exclude_self, o, name);
    default:
      name = "flat";
      return vectors::exact_topk(query, nq, base, nb, d, k, {}, exclude_self);
  }
}

KnnGraph to_graph(const TopK& top, std::string name) {
  KnnGraph g;
  g.rows = top.rows();
  g.k = top.k();
  g.index = std::move(name);
  g.score.resize(static_cast<size_t>(g.rows * g.k));
  g.ids.resize(static_cast<size_t>(g.rows * g.k));
  for (int64_t i = 0; i < g.rows; ++i)
    for (int64_t j = 0; j < g.k; ++j) {
      g.ids[i * g.k + j] = top.ids(i)[j];
      g.score[i * g.k + j] = static_cast<float>(top.scores(i)[j]);
    }
  return g;
}

}  // namespace

SearchIndex parse_search_index(const std::string& name) {
  static constexpr core::EnumName<SearchIndex> kIndexes[] = {{"auto", SearchIndex::kAuto},
                                                             {"flat", SearchIndex::kFlat},
                                                             {"ivf", SearchIndex::kIvf},
                                                             {"hnsw", SearchIndex::kHnsw},
                                                             {"ivf-gemm", SearchIndex::kIvfGemm}};
  if (const auto index = core::find_enum(name, kIndexes)) return *index;
  throw InvalidArgument("index: expected 'auto', 'flat', 'ivf', 'ivf-gemm' or 'hnsw', got '" + name + "'");
}

bool rows_are_unit(const float* x, int64_t n, int64_t d) {
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t j = 0; j < d; ++j) s += double(x[i * d + j]) * x[i * d + j];
    if (!std::isfinite(s) || std::abs(s - 1.0) > 2e-4) return false;
  }
  return true;
}

std::vector<float> l2_normalized(const float* x, int64_t n, int64_t d) {
  std::vector<float> out(static_cast<size_t>(n * d));
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t j = 0; j < d; ++j) {
      const float v = x[i * d + j];
      if (!std::isfinite(v))
        throw InvalidArgument("embeddings: row " + std::to_string(i) + " has a NaN or infinite value");
      s += double(v) * v;
    }
    if (s <= 0.0)
      throw InvalidArgument("embeddings: row " + std::to_string(i) + " is a zero vector (cosine undefined)");
    const double inv = 1.0 / std::sqrt(s);
    for (int64_t j = 0; j < d; ++j) out[i * d + j] = static_cast<float>(x[i * d + j] * inv);
  }
  return out;
}

IvfPlan ivf_plan(const float* base, int64_t nb, const float* query, int64_t nq, int64_t d, SearchIndex kind,
                 const SearchOptions& o) {
  check_shape(nb, d, "base embeddings");
  check_shape(nq, d, "query embeddings");
  if (nb == 0) throw InvalidArgument("ivf_plan: no base rows");
  Prepared pb = prepare(base, nb, d);
  Prepared pq = query == base ? Prepared{{}, pb.data} : prepare(query, nq, d);
  omp_set_num_threads(core::num_threads());
  return plan_lists(pb.data, nb, pq.data, nq, d, kind, o);
}

KnnGraph knn_self_cosine(const float* x, int64_t n, int64_t d, int64_t k, const SearchOptions& o) {
  check_shape(n, d, "embeddings");
  const int64_t kk = std::max<int64_t>(0, std::min(k, n - 1));
  if (n == 0 || kk == 0) return to_graph(TopK(n, 0), "none");
  Prepared p = prepare(x, n, d);
  std::string name;
  const TopK top = search(p.data, n, p.data, n, d, kk, true, o, name);
  return to_graph(top, std::move(name));
}

KnnGraph knn_cross_cosine(const float* base, int64_t nb, const float* query, int64_t nq, int64_t d, int64_t k,
                          const SearchOptions& o) {
  check_shape(nb, d, "base embeddings");
  check_shape(nq, d, "query embeddings");
  const int64_t kk = std::max<int64_t>(0, std::min(k, nb));
  if (nq == 0 || kk == 0) return to_graph(TopK(nq, 0), "none");
  Prepared pb = prepare(base, nb, d);
  Prepared pq = prepare(query, nq, d);
  std::string name;
  const TopK top = search(pb.data, nb, pq.data, nq, d, kk, false, o, name);
  return to_graph(top, std::move(name));
}

KnnGraph knn_self_l2(const float* x, int64_t n, int64_t d, int64_t k) {
  check_shape(n, d, "embeddings");
  for (int64_t i = 0; i < n * d; ++i)
    if (!std::isfinite(x[i]))
      throw InvalidArgument("embeddings: row " + std::to_string(i / d) + " has a NaN or infinite value");
  const int64_t kk = std::max<int64_t>(0, std::min(k, n - 1));
  if (n == 0 || kk == 0) return to_graph(TopK(n, 0), "flat-l2");
  // Nearest in L2 = largest x.b - |b|^2 / 2; distance^2 = |x|^2 - 2 * that (exact for exact copies: 0).
  std::vector<double> norm2(n), bias(n);
  for (int64_t i = 0; i < n; ++i) {
    norm2[i] = vectors::squared_norm(x + i * d, d);
    bias[i] = -0.5 * norm2[i];
  }
  const TopK top = vectors::exact_topk(x, n, x, n, d, kk, bias, true);
  KnnGraph g = to_graph(top, "flat-l2");
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < kk; ++j)
      g.score[i * kk + j] = static_cast<float>(std::sqrt(std::max(0.0, norm2[i] - 2 * top.scores(i)[j])));
  return g;
}

}  // namespace airtune::dedup
