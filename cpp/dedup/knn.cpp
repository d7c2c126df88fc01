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

namespace airtune::dedup {
namespace {

using idx_t = faiss::Index::idx_t;

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
  SearchIndex kind = o.index;
  if (kind == SearchIndex::kAuto) kind = nb <= o.flat_max_rows ? SearchIndex::kFlat : SearchIndex::kIvf;
  if (kind == SearchIndex::kIvf && nb < 64) kind = SearchIndex::kFlat;  // too few rows to train lists
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
  throw InvalidArgument("index: expected 'auto', 'flat', 'ivf' or 'hnsw', got '" + name + "'");
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
      if (!std::isfinite(v)) throw InvalidArgument("embeddings: row " + std::to_string(i) + " has a NaN or infinite value");
      s += double(v) * v;
    }
    if (s <= 0.0) throw InvalidArgument("embeddings: row " + std::to_string(i) + " is a zero vector (cosine undefined)");
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
    if (!std::isfinite(x[i])) throw InvalidArgument("embeddings: row " + std::to_string(i / d) + " has a NaN or infinite value");
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
