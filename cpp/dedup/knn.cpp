#include "dedup/knn.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "core/errors.h"
#include "core/threading.h"
#include "dedup/kmeans.h"

extern "C" int sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                      const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
                      const float* beta, float* c, const int* ldc);

namespace airtune::dedup {
namespace {

using idx_t = faiss::Index::idx_t;

// IVF with the scan done by BLAS: spherical k-means (kmeans.h) partitions the base rows, each query
// probes its `nprobe` nearest lists, and every (list, block of up to 1024 probing queries) pair is
// one sgemm; a per-query top-k is updated from each product. Same arithmetic as IndexIVFFlat, but
// the distance kernel is the BLAS one (much faster than a generic FAISS build's SIMD scan).
void ivf_gemm(const float* base, int64_t nb, const float* query, int64_t nq, int64_t d, int64_t k, bool exclude_self,
              const SearchOptions& o, std::vector<float>& top_v, std::vector<int64_t>& top_i, std::string& name) {
  int nlist = o.nlist > 0 ? o.nlist : static_cast<int>(std::lround(std::sqrt(double(nb))));
  nlist = static_cast<int>(std::clamp<int64_t>(nlist, 1, std::max<int64_t>(1, nb / 8)));
  int nprobe = o.nprobe > 0 ? o.nprobe : std::max(8, nlist / 20);
  nprobe = std::min(nprobe, nlist);
  KMeansResult km = spherical_kmeans(base, nb, d, nlist, 10, o.seed);
  nlist = km.k;
  nprobe = std::min(nprobe, nlist);
  const std::vector<float>& centroids = km.centroids;
  faiss::IndexFlatIP cq(d);
  cq.add(nlist, centroids.data());
  std::vector<float> dummy(static_cast<size_t>(nq) * nprobe);
  const std::vector<int32_t>& assign = km.assign;
  std::vector<idx_t> probes(static_cast<size_t>(nq) * nprobe);
  cq.search(nq, query, nprobe, dummy.data(), probes.data());
  std::vector<std::vector<int64_t>> members(nlist), askers(nlist);
  for (int64_t i = 0; i < nb; ++i) members[assign[i] < 0 ? 0 : assign[i]].push_back(i);
  for (int64_t q = 0; q < nq; ++q)
    for (int p = 0; p < nprobe; ++p)
      if (probes[q * nprobe + p] >= 0) askers[probes[q * nprobe + p]].push_back(q);
  top_v.assign(static_cast<size_t>(nq * k), -std::numeric_limits<float>::infinity());
  top_i.assign(static_cast<size_t>(nq * k), -1);
  constexpr int64_t kQueryBlock = 1024;
  std::vector<float> xb, xq, gram;
  const int di = static_cast<int>(d);
  for (int l = 0; l < nlist; ++l) {
    const auto& mem = members[l];
    const auto& ask = askers[l];
    if (mem.empty() || ask.empty()) continue;
    const int m = static_cast<int>(mem.size());
    xb.resize(static_cast<size_t>(m) * d);
    for (int j = 0; j < m; ++j) std::copy_n(base + mem[j] * d, d, xb.data() + static_cast<size_t>(j) * d);
    for (size_t q0 = 0; q0 < ask.size(); q0 += kQueryBlock) {
      const int c = static_cast<int>(std::min<size_t>(kQueryBlock, ask.size() - q0));
      xq.resize(static_cast<size_t>(c) * d);
      for (int t = 0; t < c; ++t) std::copy_n(query + ask[q0 + t] * d, d, xq.data() + static_cast<size_t>(t) * d);
      gram.resize(static_cast<size_t>(c) * m);
      const float one = 1.f, zero = 0.f;
      sgemm_("T", "N", &m, &c, &di, &one, xb.data(), &di, xq.data(), &di, &zero, gram.data(), &m);
      for (int t = 0; t < c; ++t) {
        const int64_t q = ask[q0 + t];
        float* tv = top_v.data() + q * k;
        int64_t* ti = top_i.data() + q * k;
        const float* g = gram.data() + static_cast<size_t>(t) * m;
        for (int j = 0; j < m; ++j) {
          const float v = g[j];
          if (!(v > tv[k - 1])) continue;
          const int64_t id = mem[j];
          if (exclude_self && id == q) continue;
          int64_t pos = k - 1;  // insertion into the descending top-k
          while (pos > 0 && v > tv[pos - 1]) {
            tv[pos] = tv[pos - 1];
            ti[pos] = ti[pos - 1];
            --pos;
          }
          tv[pos] = v;
          ti[pos] = id;
        }
      }
    }
  }
  name = "ivf-gemm(nlist=" + std::to_string(nlist) + ",nprobe=" + std::to_string(nprobe) + ")";
}

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

std::unique_ptr<faiss::Index> build(const float* base, int64_t nb, int64_t d, int64_t k, const SearchOptions& o,
                                    std::string& name) {
  const SearchIndex kind = resolve(o, nb);
  if (kind == SearchIndex::kFlat) {
    auto idx = std::make_unique<faiss::IndexFlatIP>(d);
    idx->add(nb, base);
    name = "flat";
    return idx;
  }
  if (kind == SearchIndex::kHnsw) {
    auto idx = std::make_unique<faiss::IndexHNSWFlat>(d, o.hnsw_m, faiss::METRIC_INNER_PRODUCT);
    idx->hnsw.efConstruction = 80;
    idx->hnsw.efSearch = std::max<int>(o.ef_search > 0 ? o.ef_search : 64, static_cast<int>(2 * k));
    idx->add(nb, base);
    name = "hnsw(M=" + std::to_string(o.hnsw_m) + ",ef=" + std::to_string(idx->hnsw.efSearch) + ")";
    return idx;
  }
  int nlist = o.nlist > 0 ? o.nlist : static_cast<int>(std::clamp<double>(4.0 * std::sqrt(double(nb)), 16, 65536));
  nlist = static_cast<int>(std::min<int64_t>(nlist, std::max<int64_t>(1, nb / 4)));
  auto quantizer = std::make_unique<faiss::IndexFlatIP>(d);
  auto idx = std::make_unique<faiss::IndexIVFFlat>(quantizer.get(), d, nlist, faiss::METRIC_INNER_PRODUCT);
  idx->own_fields = true;
  quantizer.release();
  idx->cp.seed = static_cast<int>(o.seed & 0x7FFFFFFF);
  idx->cp.niter = 10;
  idx->train(nb, base);
  idx->add(nb, base);
  idx->nprobe = o.nprobe > 0 ? std::min(o.nprobe, nlist) : std::min(nlist, std::max(16, nlist / 16));
  name = "ivf(nlist=" + std::to_string(nlist) + ",nprobe=" + std::to_string(idx->nprobe) + ")";
  return idx;
}

}  // namespace

SearchIndex parse_search_index(const std::string& name) {
  if (name == "auto") return SearchIndex::kAuto;
  if (name == "flat") return SearchIndex::kFlat;
  if (name == "ivf") return SearchIndex::kIvf;
  if (name == "hnsw") return SearchIndex::kHnsw;
  if (name == "ivf-gemm") return SearchIndex::kIvfGemm;
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

KnnGraph knn_self_cosine(const float* x, int64_t n, int64_t d, int64_t k, const SearchOptions& o) {
  check_shape(n, d, "embeddings");
  KnnGraph g;
  g.rows = n;
  g.k = std::max<int64_t>(0, std::min(k, n - 1));
  if (n == 0 || g.k == 0) {
    g.index = "none";
    return g;
  }
  Prepared p = prepare(x, n, d);
  omp_set_num_threads(core::num_threads());
  if (resolve(o, n) == SearchIndex::kIvfGemm) {
    ivf_gemm(p.data, n, p.data, n, d, g.k, true, o, g.score, g.ids, g.index);
    return g;
  }
  auto index = build(p.data, n, d, g.k + 1, o, g.index);
  const int64_t kk = g.k + 1;
  std::vector<float> dist(static_cast<size_t>(n * kk));
  std::vector<idx_t> lab(static_cast<size_t>(n * kk));
  index->search(n, p.data, kk, dist.data(), lab.data());
  g.score.assign(static_cast<size_t>(n * g.k), -std::numeric_limits<float>::infinity());
  g.ids.assign(static_cast<size_t>(n * g.k), -1);
  for (int64_t i = 0; i < n; ++i) {
    // Drop the row itself wherever it appears (ties with exact copies can put it after them);
    // otherwise drop the last of the k+1.
    int64_t out = 0;
    bool skipped = false;
    for (int64_t j = 0; j < kk && out < g.k; ++j) {
      const idx_t id = lab[i * kk + j];
      if (!skipped && id == i) {
        skipped = true;
        continue;
      }
      if (id < 0) continue;
      g.ids[i * g.k + out] = id;
      g.score[i * g.k + out] = dist[i * kk + j];
      ++out;
    }
  }
  return g;
}

KnnGraph knn_cross_cosine(const float* base, int64_t nb, const float* query, int64_t nq, int64_t d, int64_t k,
                          const SearchOptions& o) {
  check_shape(nb, d, "base embeddings");
  check_shape(nq, d, "query embeddings");
  KnnGraph g;
  g.rows = nq;
  g.k = std::max<int64_t>(0, std::min(k, nb));
  if (nq == 0 || g.k == 0) {
    g.index = "none";
    return g;
  }
  Prepared pb = prepare(base, nb, d);
  Prepared pq = prepare(query, nq, d);
  omp_set_num_threads(core::num_threads());
  if (resolve(o, nb) == SearchIndex::kIvfGemm) {
    ivf_gemm(pb.data, nb, pq.data, nq, d, g.k, false, o, g.score, g.ids, g.index);
    return g;
  }
  auto index = build(pb.data, nb, d, g.k, o, g.index);
  std::vector<idx_t> lab(static_cast<size_t>(nq * g.k));
  g.score.resize(static_cast<size_t>(nq * g.k));
  index->search(nq, pq.data, g.k, g.score.data(), lab.data());
  g.ids.assign(lab.begin(), lab.end());
  for (size_t i = 0; i < g.ids.size(); ++i)
    if (g.ids[i] < 0) g.score[i] = -std::numeric_limits<float>::infinity();
  return g;
}

KnnGraph knn_self_l2(const float* x, int64_t n, int64_t d, int64_t k) {
  check_shape(n, d, "embeddings");
  for (int64_t i = 0; i < n * d; ++i)
    if (!std::isfinite(x[i]))
      throw InvalidArgument("embeddings: row " + std::to_string(i / d) + " has a NaN or infinite value");
  KnnGraph g;
  g.rows = n;
  g.k = std::max<int64_t>(0, std::min(k, n - 1));
  g.index = "flat-l2";
  if (n == 0 || g.k == 0) return g;
  omp_set_num_threads(core::num_threads());
  faiss::IndexFlatL2 index(d);
  index.add(n, x);
  const int64_t kk = g.k + 1;
  std::vector<float> dist(static_cast<size_t>(n * kk));
  std::vector<idx_t> lab(static_cast<size_t>(n * kk));
  index.search(n, x, kk, dist.data(), lab.data());
  g.score.resize(static_cast<size_t>(n * g.k));
  g.ids.resize(static_cast<size_t>(n * g.k));
  for (int64_t i = 0; i < n; ++i) {
    int64_t out = 0;
    bool skipped = false;
    for (int64_t j = 0; j < kk && out < g.k; ++j) {
      const idx_t id = lab[i * kk + j];
      if (!skipped && id == i) {
        skipped = true;
        continue;
      }
      g.ids[i * g.k + out] = id;
      g.score[i * g.k + out] = std::sqrt(std::max(0.0f, dist[i * kk + j]));
      ++out;
    }
  }
  return g;
}

}  // namespace airtune::dedup
