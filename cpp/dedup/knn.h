// Nearest-neighbour graphs over float32 embeddings.
//
// Cosine: rows are L2-normalised (a normalised copy is made unless every row already has unit
// length, in which case the caller's buffer is searched directly, without a copy) and searched by
// inner product. A zero row or a NaN/inf value throws InvalidArgument naming the row.
//
// Index choice (SearchOptions::index = kAuto): exact search up to `flat_max_rows` base rows, else
// kIvfGemm. kFlat: every pair through the exact top-k of vectors/topk.h (BLAS candidates, exact
// decision). kIvfGemm ("ivf-gemm"): k-means (vectors/kmeans.h) into nlist = sqrt(n) lists, each
// query probes its nprobe = max(8, nlist / 20) best lists, and each (list, query block) product is
// one BLAS sgemm offered to the exact top-k; on Debian's generic FAISS build this is several times
// faster than IndexIVFFlat's scan. kIvf: FAISS IndexIVFFlat on the same k-means (nlist =
// clamp(4 sqrt(n), 16, 65536), nprobe = max(16, nlist / 16)), its candidates rescored exactly and
// widened until they provably hold the exact top-k of the probed lists. kHnsw: FAISS IndexHNSWFlat
// (M = hnsw_m, efConstruction 80, efSearch = max(ef_search or 64, 2k)), its candidates rescored
// exactly. Approximate indexes can miss neighbours: KnnGraph::index says which one ran and with what.
//
// Determinism: scores are vectors::dot_exact values and every list is ordered by (score
// descending, id ascending). flat, ivf-gemm and ivf return the same bits whatever the thread count,
// the CPU and the BLAS kernel (OPENBLAS_CORETYPE); so does hnsw with `deterministic` (the default),
// which builds the graph on one thread (FAISS's parallel HNSW insertion depends on thread timing:
// with deterministic = false the build is parallel and results may differ run to run). kAuto never
// picks hnsw.
//
// Threads: the oneTBB arena with BLAS at one thread (flat, ivf-gemm, k-means); FAISS (ivf, hnsw)
// runs on the calling thread with OpenMP at core::num_threads(). Never call these functions from
// inside a oneTBB task.
//
// Memory: rows x k x 16 bytes while searching and 12 bytes in the graph, plus the normalised copy
// when one is needed, plus the index (a copy of the vectors for IVF/HNSW; HNSW adds ~M * 8 bytes
// per row), plus one <= 1024 x 1024 (flat) or 256 x list-size (ivf-gemm) block of products per task.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace airtune::dedup {

enum class SearchIndex { kAuto, kFlat, kIvf, kHnsw, kIvfGemm };

/// "auto" | "flat" | "ivf" | "ivf-gemm" | "hnsw"; InvalidArgument otherwise.
SearchIndex parse_search_index(const std::string& name);

struct SearchOptions {
  SearchIndex index = SearchIndex::kAuto;
  int64_t flat_max_rows = 20000;  ///< kAuto: exact search up to this many base rows
  int nlist = 0;                  ///< IVF lists; 0 = automatic
  int nprobe = 0;                 ///< IVF lists probed; 0 = automatic
  int hnsw_m = 32;
  int ef_search = 0;          ///< HNSW; 0 = max(64, 2k)
  uint64_t seed = 1234;       ///< k-means seed of IVF training
  bool deterministic = true;  ///< HNSW: build on one thread (reproducible); false = FAISS's parallel build
};

/// k nearest neighbours of each query row. Row i's neighbours are ids[i*k .. i*k+k), best first;
/// missing neighbours (fewer than k candidates) have id -1 and score -inf.
struct KnnGraph {
  int64_t rows = 0;
  int64_t k = 0;
  std::vector<float> score;  ///< cosine similarity (cosine graphs) or Euclidean distance (L2 graphs)
  std::vector<int64_t> ids;
  std::string index;  ///< "flat", "ivf(nlist=..,nprobe=..)", "hnsw(M=..,ef=..)"
};

/// The lists and probes of an IVF search ("ivf" or "ivf-gemm" and its nlist/nprobe/seed rules):
/// k-means of the base rows into nlist lists, and each query's nprobe best lists by exact inner
/// product with the centroids (ties to the lower list). Both IVF indexes scan exactly these
/// lists, and another engine that scans them (a Python FAISS with GPU indexes) and has its
/// candidates rescored exactly (vectors::rescore_candidates) returns the same result.
struct IvfPlan {
  int nlist = 0;
  int nprobe = 0;
  int64_t dim = 0;                  ///< d, the width of a centroid
  std::vector<float> centroids;     ///< nlist x d, unit rows
  std::vector<int64_t> assign;      ///< per base row: its list
  std::vector<int64_t> probe_ids;   ///< nq x nprobe, best first
  std::vector<float> probe_scores;  ///< nq x nprobe, inner product with the centroid
};

/// The IvfPlan of `kind` (kIvf or kIvfGemm; InvalidArgument otherwise) for query rows against base
/// rows (cosine: both normalised as the searches normalise them). nb >= 1. Threads: the oneTBB arena.
IvfPlan ivf_plan(const float* base, int64_t nb, const float* query, int64_t nq, int64_t d, SearchIndex kind,
                 const SearchOptions& options);

/// Unit-length copy of `x` (n x d); InvalidArgument naming the first zero or non-finite row.
std::vector<float> l2_normalized(const float* x, int64_t n, int64_t d);

/// True when every row has norm within 1e-4 of 1 (and all values are finite).
bool rows_are_unit(const float* x, int64_t n, int64_t d);

/// Cosine kNN of every row against the others (itself excluded). k is clamped to n - 1.
KnnGraph knn_self_cosine(const float* x, int64_t n, int64_t d, int64_t k, const SearchOptions& options);

/// Cosine kNN of `query` rows against `base` rows. k is clamped to nb.
KnnGraph knn_cross_cosine(const float* base, int64_t nb, const float* query, int64_t nq, int64_t d, int64_t k,
                          const SearchOptions& options);

/// Exact Euclidean kNN of every row against the others (itself excluded), raw (unnormalised)
/// vectors; score holds distances, ascending (ties to the lower id; exact copies at distance 0).
KnnGraph knn_self_l2(const float* x, int64_t n, int64_t d, int64_t k);

}  // namespace airtune::dedup
