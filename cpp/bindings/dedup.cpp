// airtune._core.dedup: exact, MinHash-LSH and FAISS-based deduplication, outliers.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <span>

#include "common.h"
#include "core/errors.h"
#include "dedup/exact.h"
#include "dedup/knn.h"
#include "dedup/lsh_index.h"
#include "dedup/minhash.h"
#include "dedup/outliers.h"
#include "dedup/semdedup.h"
#include "dedup/survivors.h"
#include "vectors/topk.h"

namespace py = pybind11;
using namespace airtune;
using namespace airtune::dedup;
using airtune::bindings::def_column;
using airtune::bindings::def_matrix;
using airtune::bindings::to_numpy;
using airtune::bindings::utf8_views;

namespace {

using F32 = py::array_t<float, py::array::c_style>;
using F64 = py::array_t<double, py::array::c_style | py::array::forcecast>;
using I64 = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;
using U64 = py::array_t<uint64_t, py::array::c_style | py::array::forcecast>;

// The Unicode form of a NormalizeOptions as Python sees it: "NFKC", "NFC" or None.
std::optional<std::string> unicode_name(const NormalizeOptions& o) {
  if (o.form == core::UnicodeForm::kNone) return std::nullopt;
  return std::string(core::unicode_form_name(o.form));
}

void set_unicode(NormalizeOptions& o, const std::optional<std::string>& name) {
  const auto form = core::parse_unicode_form(name.value_or("none"));
  if (!form || *form == core::UnicodeForm::kNFD || *form == core::UnicodeForm::kNFKD)
    throw InvalidArgument("normalize: unicode must be 'NFKC', 'NFC' or None, got '" + name.value_or("None") + "'");
  o.form = *form;
}

MinHashOptions minhash_from(int num_perm, int ngram, bool char_ngrams, uint64_t seed, const NormalizeOptions& norm) {
  MinHashOptions o;
  o.num_perm = num_perm;
  o.ngram = ngram;
  o.char_ngrams = char_ngrams;
  o.seed = seed;
  o.normalize = norm;
  validate(o);
  return o;
}

std::vector<double> doubles(const std::optional<F64>& a) {
  if (!a) return {};
  auto r = a->unchecked<1>();
  return std::vector<double>(r.data(0), r.data(0) + r.shape(0));
}

template <typename T, int F>
std::span<const T> span_of(const py::array_t<T, F>& a) {
  if (a.ndim() != 1) throw InvalidArgument("expected a 1-D array, got " + std::to_string(a.ndim()) + " dimensions");
  return {a.data(), static_cast<size_t>(a.size())};
}

void check_matrix(const F32& x, const char* name) {
  if (x.ndim() != 2) throw InvalidArgument(std::string(name) + ": expected a 2-D array");
}

SearchOptions search_from(const std::string& index, int64_t flat_max_rows, int nlist, int nprobe, int hnsw_m,
                          int ef_search, uint64_t seed, bool deterministic) {
  SearchOptions o;
  o.index = parse_search_index(index);
  o.flat_max_rows = flat_max_rows;
  o.nlist = nlist;
  o.nprobe = nprobe;
  o.hnsw_m = hnsw_m;
  o.ef_search = ef_search;
  o.seed = seed;
  o.deterministic = deterministic;
  return o;
}

// (scores: rows x k float32, ids: rows x k int64, the index used)
py::typing::Tuple<py::array_t<float>, py::array_t<int64_t>, py::str> graph_tuple(KnnGraph&& g) {
  const int64_t rows = g.rows, k = g.k;
  auto s = to_numpy(std::move(g.score));
  auto i = to_numpy(std::move(g.ids));
  return py::typing::Tuple<py::array_t<float>, py::array_t<int64_t>, py::str>(
      py::make_tuple(s.reshape({rows, k}), i.reshape({rows, k}), g.index));
}

}  // namespace

namespace airtune::bindings {

void bind_dedup(py::module_& m) {
  auto d = m.def_submodule("dedup", "Deduplication core (exact, MinHash-LSH, FAISS kNN, SemDeDup, outliers).");

  // Options classes (core/normalize.h, dedup/minhash.h): the fields and defaults of the C++ structs.
  py::class_<NormalizeOptions>(d, "NormalizeOptions",
                               "The one text normalisation's options (core/normalize.h); unicode: 'NFKC', 'NFC' "
                               "or None (validated when set).")
      .def(py::init([](bool lowercase, bool collapse_whitespace, bool strip_punctuation, bool digits_to_zero,
                       const std::optional<std::string>& unicode) {
             NormalizeOptions o;
             o.lowercase = lowercase;
             o.collapse_whitespace = collapse_whitespace;
             o.strip_punctuation = strip_punctuation;
             o.digits_to_zero = digits_to_zero;
             set_unicode(o, unicode);
             return o;
           }),
           py::arg("lowercase") = true, py::arg("collapse_whitespace") = true, py::arg("strip_punctuation") = false,
           py::arg("digits_to_zero") = false, py::arg("unicode") = "NFKC")
      .def_readwrite("lowercase", &NormalizeOptions::lowercase)
      .def_readwrite("collapse_whitespace", &NormalizeOptions::collapse_whitespace)
      .def_readwrite("strip_punctuation", &NormalizeOptions::strip_punctuation)
      .def_readwrite("digits_to_zero", &NormalizeOptions::digits_to_zero)
      .def_property("unicode", &unicode_name, &set_unicode);

  py::class_<MinHashOptions>(d, "MinHashOptions", "A MinHash index's options (dedup/minhash.h).")
      .def_readonly("num_perm", &MinHashOptions::num_perm)
      .def_readonly("ngram", &MinHashOptions::ngram)
      .def_readonly("char_ngrams", &MinHashOptions::char_ngrams)
      .def_readonly("seed", &MinHashOptions::seed)
      .def_readonly("normalize", &MinHashOptions::normalize);

  // Result structs: scalars as read-only attributes, columns as numpy views (def_column).
  py::class_<Clusters> clusters(d, "Clusters", "Duplicate clusters with one survivor each (dedup/survivors.h).");
  clusters.def_readonly("n_clusters", &Clusters::n_clusters, "clusters with at least two rows")
      .def_readonly("n_removed", &Clusters::n_removed, "rows with keep == 0");
  def_column(clusters, "cluster", &Clusters::cluster, "per row: cluster id = the surviving row's index");
  def_column(clusters, "size", &Clusters::size, "per row: size of its cluster");
  def_column(clusters, "keep", &Clusters::keep, "per row: 1 for the survivor (and every singleton)");

  py::class_<ExactResult> exact(d, "ExactResult", "exact_duplicates' result (dedup/exact.h).");
  exact.def_readonly("clusters", &ExactResult::clusters)
      .def_readonly("hash_collisions", &ExactResult::hash_collisions,
                    "equal hashes with different normalised text (kept apart)");
  def_column(exact, "hashes", &ExactResult::hashes, "per row: XXH64 of the normalised text");

  py::class_<PairSet> pairs(d, "PairSet", "Pairs of similar rows (dedup/lsh_index.h).");
  pairs.def_readonly("candidates", &PairSet::candidates, "distinct candidate pairs examined")
      .def_readonly("capped_buckets", &PairSet::capped_buckets, "buckets larger than max_bucket");
  def_column(pairs, "a", &PairSet::a);
  def_column(pairs, "b", &PairSet::b);
  def_column(pairs, "similarity", &PairSet::similarity, "exact Jaccard when verified, else the estimate");

  py::class_<OutlierScores> outliers(d, "OutlierScores", "Outlier scores and flags (dedup/outliers.h).");
  outliers.def_readonly("fence", &OutlierScores::fence, "score above which a row is flagged");
  def_column(outliers, "score", &OutlierScores::score, "higher = more outlying");
  def_column(outliers, "flag", &OutlierScores::flag, "1 = outlier");

  py::class_<IvfPlan> ivf(d, "IvfPlan", "ivf_plan's result (dedup/knn.h): the lists and probes an IVF search scans.");
  ivf.def_readonly("nlist", &IvfPlan::nlist);
  ivf.def_readonly("nprobe", &IvfPlan::nprobe);
  def_matrix(ivf, "centroids", &IvfPlan::centroids, &IvfPlan::dim, "nlist x d, unit rows");
  def_column(ivf, "assign", &IvfPlan::assign, "per base row: its list");
  def_matrix(ivf, "probe_ids", &IvfPlan::probe_ids, &IvfPlan::nprobe, "nq x nprobe, best first");
  def_matrix(ivf, "probe_scores", &IvfPlan::probe_scores, &IvfPlan::nprobe,
             "nq x nprobe: inner product with the centroid");

  py::class_<SemDedupResult> sem(d, "SemDedupResult", "semdedup's result (dedup/semdedup.h).");
  sem.def_readonly("n_clusters", &SemDedupResult::n_clusters);
  def_column(sem, "cluster", &SemDedupResult::cluster, "k-means cluster of each row");
  def_column(sem, "centroid_distance", &SemDedupResult::centroid_distance, "1 - cosine to its centroid");
  def_column(sem, "max_similarity", &SemDedupResult::max_similarity,
             "max cosine to an earlier row of its cluster (-1 for the first)");
  def_column(sem, "max_id", &SemDedupResult::max_id, "that earlier row (-1 for the first)");

  d.def(
      "normalize", [](const std::string& text, const NormalizeOptions& norm) { return normalize(text, norm); },
      py::arg("text"), py::arg("normalize"));

  d.def(
      "exact_hashes",
      [](const py::sequence& texts, const NormalizeOptions& norm) {
        auto views = utf8_views(texts);
        const auto o = norm;
        std::vector<uint64_t> h;
        {
          py::gil_scoped_release release;
          h = exact_hashes(views, o);
        }
        return to_numpy(std::move(h));
      },
      py::arg("texts"), py::arg("normalize"));

  d.def(
      "exact_duplicates",
      [](const py::sequence& texts, const NormalizeOptions& norm, const std::string& keep, std::optional<F64> scores) {
        auto views = utf8_views(texts);
        const auto o = norm;
        const auto rule = parse_survivor_rule(keep);
        const auto sc = doubles(scores);
        ExactResult r;
        {
          py::gil_scoped_release release;
          r = exact_duplicates(views, o, rule, sc);
        }
        return r;
      },
      py::arg("texts"), py::arg("normalize"), py::arg("keep") = "first", py::arg("scores") = py::none());

  d.def(
      "clusters_from_pairs",
      [](int64_t n, I64 a, I64 b, const std::string& keep, std::optional<I64> lengths, std::optional<F64> scores) {
        const auto rule = parse_survivor_rule(keep);
        std::vector<int64_t> len;
        if (lengths) len.assign(lengths->data(), lengths->data() + lengths->size());
        const auto sc = doubles(scores);
        Clusters c;
        {
          py::gil_scoped_release release;
          c = clusters_from_pairs(n, span_of(a), span_of(b), rule, len, sc);
        }
        return c;
      },
      py::arg("n"), py::arg("a"), py::arg("b"), py::arg("keep") = "first", py::arg("lengths") = py::none(),
      py::arg("scores") = py::none(), "Clusters of rows [0, n) joined by the pairs (a[k], b[k]), survivors by keep.");

  d.def(
      "removed_at_thresholds",
      [](int64_t n, I64 a, I64 b, F64 similarity, F64 thresholds) {
        std::vector<int64_t> out;
        {
          py::gil_scoped_release release;
          out = removed_at_thresholds(n, span_of(a), span_of(b), span_of(similarity), span_of(thresholds));
        }
        return to_numpy(std::move(out));
      },
      py::arg("n"), py::arg("a"), py::arg("b"), py::arg("similarity"), py::arg("thresholds"),
      "Rows removed (keep='first') at each threshold when the pairs with similarity >= it join rows.");

  d.def(
      "shingles",
      [](const std::string& text, int ngram, bool char_ngrams, const NormalizeOptions& norm) {
        return shingles(text, minhash_from(1, ngram, char_ngrams, 1, norm));
      },
      py::arg("text"), py::arg("ngram"), py::arg("char_ngrams"), py::arg("normalize"));

  d.def(
      "shingle_hashes",
      [](const std::string& text, int ngram, bool char_ngrams, const NormalizeOptions& norm) {
        return to_numpy(shingle_hashes(text, minhash_from(1, ngram, char_ngrams, 1, norm)));
      },
      py::arg("text"), py::arg("ngram"), py::arg("char_ngrams"), py::arg("normalize"));

  d.def(
      "signatures_of_sets",
      [](U64 hashes, I64 offsets, int num_perm, uint64_t seed) -> py::array_t<uint64_t> {
        MinHashOptions o;
        o.num_perm = num_perm;
        o.seed = seed;
        std::vector<uint64_t> v;
        {
          py::gil_scoped_release release;
          v = signatures_of_sets({hashes.data(), static_cast<size_t>(hashes.size())},
                                 {offsets.data(), static_cast<size_t>(offsets.size())}, o);
        }
        // moved, not copied: a memcpy under the GIL into fresh pages was a third of the call
        const auto rows = static_cast<py::ssize_t>(offsets.size() - 1);
        return to_numpy(std::move(v)).reshape({rows, static_cast<py::ssize_t>(num_perm)});
      },
      py::arg("hashes"), py::arg("offsets"), py::arg("num_perm") = 128, py::arg("seed") = 1,
      "MinHash signatures (rows x num_perm, uint64) of shingle sets given as 64-bit hashes: set i is "
      "hashes[offsets[i]:offsets[i+1]] (any order, repeats allowed).");

  d.def(
      "choose_bands_rows",
      [](double threshold, int num_perm, double fp_weight, double fn_weight) {
        BandsRows br;
        {
          py::gil_scoped_release release;
          br = choose_bands_rows(threshold, num_perm, fp_weight, fn_weight);
        }
        return py::make_tuple(br.bands, br.rows);
      },
      py::arg("threshold"), py::arg("num_perm"), py::arg("fp_weight") = 0.5, py::arg("fn_weight") = 0.5);
  d.def("candidate_probability", &candidate_probability, py::arg("s"), py::arg("bands"), py::arg("rows"));

  py::class_<MinHashIndex>(d, "MinHashIndex")
      .def(py::init([](int num_perm, int ngram, bool char_ngrams, uint64_t seed, const NormalizeOptions& norm,
                       int bands, int rows, bool keep_shingles) {
             return MinHashIndex(minhash_from(num_perm, ngram, char_ngrams, seed, norm), bands, rows, keep_shingles);
           }),
           py::arg("num_perm"), py::arg("ngram"), py::arg("char_ngrams"), py::arg("seed"), py::arg("normalize"),
           py::arg("bands"), py::arg("rows"), py::arg("keep_shingles") = true)
      .def("add",
           [](MinHashIndex& self, const py::sequence& texts) {
             auto views = utf8_views(texts);
             py::gil_scoped_release release;
             self.add(views);
           })
      .def(
          "self_pairs",
          [](const MinHashIndex& self, double threshold, bool verify, int64_t max_bucket,
             const std::optional<py::sequence>& texts) {
            std::vector<std::string_view> views;
            if (texts) views = utf8_views(*texts);
            py::gil_scoped_release release;  // reacquired before the result is converted
            return self.self_pairs(threshold, verify, max_bucket, views);
          },
          py::arg("threshold"), py::arg("verify") = true, py::arg("max_bucket") = 256, py::arg("texts") = py::none())
      .def(
          "pairs_within",
          [](const MinHashIndex& self, const py::sequence& texts, double threshold, int64_t max_bucket) {
            auto views = utf8_views(texts);
            py::gil_scoped_release release;  // reacquired before the result is converted
            return self.pairs_within(views, threshold, max_bucket);
          },
          py::arg("texts"), py::arg("threshold"), py::arg("max_bucket") = 256)
      .def(
          "query",
          [](const MinHashIndex& self, const py::sequence& texts, double threshold, bool verify) {
            auto views = utf8_views(texts);
            py::gil_scoped_release release;  // reacquired before the result is converted
            return self.query(views, threshold, verify);
          },
          py::arg("texts"), py::arg("threshold"), py::arg("verify") = true)
      .def("save", &MinHashIndex::save, py::arg("path"), py::call_guard<py::gil_scoped_release>())
      .def_static("load", &MinHashIndex::load, py::arg("path"), py::call_guard<py::gil_scoped_release>())
      .def("__len__", &MinHashIndex::size)
      .def_property_readonly("bands", &MinHashIndex::bands)
      .def_property_readonly("rows", &MinHashIndex::rows)
      .def_property_readonly("has_shingles", &MinHashIndex::has_shingles)
      .def_property("threshold", &MinHashIndex::threshold, &MinHashIndex::set_threshold)
      .def_property_readonly("options", &MinHashIndex::options)
      .def("signatures", [](const MinHashIndex& self) {
        const auto& s = self.signatures();
        py::array_t<uint64_t> out({static_cast<py::ssize_t>(s.size()), static_cast<py::ssize_t>(s.num_perm)});
        std::memcpy(out.mutable_data(), s.values.data(), s.values.size() * sizeof(uint64_t));
        return out;
      });

  d.def(
      "knn_self_cosine",
      [](F32 x, int64_t k, const std::string& index, int64_t flat_max_rows, int nlist, int nprobe, int hnsw_m,
         int ef_search, uint64_t seed, bool deterministic) {
        check_matrix(x, "embeddings");
        const auto o = search_from(index, flat_max_rows, nlist, nprobe, hnsw_m, ef_search, seed, deterministic);
        KnnGraph g;
        {
          py::gil_scoped_release release;
          g = knn_self_cosine(x.data(), x.shape(0), x.shape(1), k, o);
        }
        return graph_tuple(std::move(g));
      },
      py::arg("x"), py::arg("k"), py::arg("index") = "auto", py::arg("flat_max_rows") = 20000, py::arg("nlist") = 0,
      py::arg("nprobe") = 0, py::arg("hnsw_m") = 32, py::arg("ef_search") = 0, py::arg("seed") = 1234,
      py::arg("deterministic") = true);

  d.def(
      "knn_cross_cosine",
      [](F32 base, F32 query, int64_t k, const std::string& index, int64_t flat_max_rows, int nlist, int nprobe,
         int hnsw_m, int ef_search, uint64_t seed, bool deterministic) {
        check_matrix(base, "base embeddings");
        check_matrix(query, "query embeddings");
        if (base.shape(1) != query.shape(1))
          throw InvalidArgument("embeddings: dimensions differ (" + std::to_string(base.shape(1)) + " vs " +
                                std::to_string(query.shape(1)) + ")");
        const auto o = search_from(index, flat_max_rows, nlist, nprobe, hnsw_m, ef_search, seed, deterministic);
        KnnGraph g;
        {
          py::gil_scoped_release release;
          g = knn_cross_cosine(base.data(), base.shape(0), query.data(), query.shape(0), base.shape(1), k, o);
        }
        return graph_tuple(std::move(g));
      },
      py::arg("base"), py::arg("query"), py::arg("k"), py::arg("index") = "auto", py::arg("flat_max_rows") = 20000,
      py::arg("nlist") = 0, py::arg("nprobe") = 0, py::arg("hnsw_m") = 32, py::arg("ef_search") = 0,
      py::arg("seed") = 1234, py::arg("deterministic") = true);

  d.def(
      "ivf_plan",
      [](F32 base, F32 query, const std::string& index, int nlist, int nprobe, uint64_t seed) {
        check_matrix(base, "base embeddings");
        check_matrix(query, "query embeddings");
        const int64_t nb = base.shape(0), nq = query.shape(0), dim = base.shape(1);
        if (query.shape(1) != dim) throw InvalidArgument("ivf_plan: base and query dimensions differ");
        const SearchIndex kind = parse_search_index(index);
        SearchOptions o;
        o.nlist = nlist;
        o.nprobe = nprobe;
        o.seed = seed;
        IvfPlan p;
        {
          py::gil_scoped_release release;
          p = ivf_plan(base.data(), nb, query.data(), nq, dim, kind, o);
        }
        return p;
      },
      py::arg("base"), py::arg("query"), py::arg("index"), py::arg("nlist") = 0, py::arg("nprobe") = 0,
      py::arg("seed") = 1234,
      "The lists and probes that index='ivf' or 'ivf-gemm' scans (k-means of the base rows; each query's nprobe "
      "best lists, best first) as an IvfPlan. Another engine scanning them, its candidates rescored by rescore_knn, "
      "returns "
      "the same kNN graph.");

  d.def(
      "unit_rows",
      [](F32 x) -> F32 {
        check_matrix(x, "embeddings");
        const int64_t n = x.shape(0), dim = x.shape(1);
        if (rows_are_unit(x.data(), n, dim)) return x;
        std::vector<float> u;
        {
          py::gil_scoped_release release;
          u = l2_normalized(x.data(), n, dim);
        }
        return to_numpy(std::move(u)).reshape({n, dim});
      },
      py::arg("x"),
      "The rows every cosine search uses: x itself when each row has unit length, else a normalised copy "
      "(ValueError naming a zero or non-finite row).");

  d.def(
      "rescore_knn",
      [](F32 base, F32 query, I64 rows, I64 cand_ids, F32 cand_scores, int64_t k, bool exclude_self) {
        check_matrix(base, "base");
        check_matrix(query, "query");
        const int64_t nb = base.shape(0), nq = query.shape(0), dim = base.shape(1);
        if (query.shape(1) != dim) throw InvalidArgument("rescore_knn: base and query dimensions differ");
        if (rows.ndim() != 1 || cand_ids.ndim() != 2 || cand_scores.ndim() != 2 || cand_ids.shape(0) != rows.shape(0) ||
            cand_scores.shape(0) != rows.shape(0) || cand_ids.shape(1) != cand_scores.shape(1))
          throw InvalidArgument("rescore_knn: rows (r), cand_ids and cand_scores (r x kc) do not match");
        const int64_t r = rows.shape(0), kc = cand_ids.shape(1);
        const int64_t kk = std::max<int64_t>(0, std::min(k, nb - (exclude_self ? 1 : 0)));
        std::vector<int64_t> rv(rows.data(), rows.data() + r);
        std::vector<int64_t> sorted = rv;
        std::sort(sorted.begin(), sorted.end());
        if (!sorted.empty() && (sorted.front() < 0 || sorted.back() >= nq))
          throw InvalidArgument("rescore_knn: a row is outside the query rows");
        if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
          throw InvalidArgument("rescore_knn: rows must be distinct");
        std::vector<float> sim(static_cast<size_t>(r * kk));
        std::vector<int64_t> ids(static_cast<size_t>(r * kk));
        std::vector<uint8_t> proven(r);
        {
          py::gil_scoped_release release;
          vectors::TopK top(nq, kk);
          const double tol = vectors::candidate_tolerance(dim, vectors::max_row_norm(query.data(), nq, dim),
                                                          vectors::max_row_norm(base.data(), nb, dim));
          vectors::rescore_candidates(top, query.data(), base.data(), nb, dim, rv, cand_ids.data(), cand_scores.data(),
                                      kc, exclude_self, tol, proven.data());
          for (int64_t i = 0; i < r; ++i)
            for (int64_t j = 0; j < kk; ++j) {
              sim[i * kk + j] = static_cast<float>(top.scores(rv[i])[j]);
              ids[i * kk + j] = top.ids(rv[i])[j];
            }
        }
        auto s = to_numpy(std::move(sim));
        auto i = to_numpy(std::move(ids));
        auto p = to_numpy(std::move(proven));
        return py::make_tuple(s.reshape({r, kk}), i.reshape({r, kk}), p.attr("astype")("bool"));
      },
      py::arg("base"), py::arg("query"), py::arg("rows"), py::arg("cand_ids"), py::arg("cand_scores"), py::arg("k"),
      py::arg("exclude_self"),
      "Exact top-k (score desc, id asc) of query rows[i] among cand_ids[i] (float32 scores of any engine), and "
      "whether each list provably holds the exact top-k (else: search again with more candidates).");

  d.def(
      "semdedup",
      [](F32 x, int n_clusters, int niter, uint64_t seed, const std::string& keep, std::optional<F64> scores) {
        check_matrix(x, "embeddings");
        SemDedupOptions o;
        o.n_clusters = n_clusters;
        o.niter = niter;
        o.seed = seed;
        o.keep = parse_semdedup_keep(keep);
        const auto sc = doubles(scores);
        SemDedupResult r;
        {
          py::gil_scoped_release release;
          r = semdedup(x.data(), x.shape(0), x.shape(1), o, sc);
        }
        return r;
      },
      py::arg("x"), py::arg("n_clusters") = 0, py::arg("niter") = 20, py::arg("seed") = 1234, py::arg("keep") = "hard",
      py::arg("scores") = py::none());

  d.def(
      "knn_outliers",
      [](F32 sim, I64 ids, double factor) {
        if (sim.ndim() != 2 || ids.ndim() != 2 || sim.shape(0) != ids.shape(0) || sim.shape(1) != ids.shape(1))
          throw InvalidArgument("knn graph: scores and ids must be 2-D arrays of one shape");
        KnnGraph g;
        g.rows = sim.shape(0);
        g.k = sim.shape(1);
        g.score.assign(sim.data(), sim.data() + sim.size());
        g.ids.assign(ids.data(), ids.data() + ids.size());
        return knn_distance_outliers(g, factor);
      },
      py::arg("sim"), py::arg("ids"), py::arg("factor"));
  d.def(
      "lof_outliers",
      [](F32 x, int64_t k, double threshold) {
        check_matrix(x, "embeddings");
        OutlierScores s;
        {
          py::gil_scoped_release release;
          s = lof_outliers(x.data(), x.shape(0), x.shape(1), k, threshold);
        }
        return s;
      },
      py::arg("x"), py::arg("k"), py::arg("threshold"));
  d.def(
      "centroid_outliers",
      [](F32 x, double factor) {
        check_matrix(x, "embeddings");
        OutlierScores s;
        {
          py::gil_scoped_release release;
          s = centroid_outliers(x.data(), x.shape(0), x.shape(1), factor);
        }
        return s;
      },
      py::arg("x"), py::arg("factor"));
  d.def(
      "reference_outliers",
      [](F32 x, F32 ref, double factor) {
        check_matrix(x, "embeddings");
        check_matrix(ref, "reference");
        if (x.shape(1) != ref.shape(1)) throw InvalidArgument("reference: dimensions differ from embeddings");
        OutlierScores s;
        {
          py::gil_scoped_release release;
          s = reference_outliers(x.data(), x.shape(0), ref.data(), ref.shape(0), x.shape(1), factor, SearchOptions{});
        }
        return s;
      },
      py::arg("x"), py::arg("reference"), py::arg("factor"));
  d.def(
      "iqr_fence", [](std::vector<double> v, double factor) { return iqr_fence(v, factor); }, py::arg("values"),
      py::arg("factor"));
}

}  // namespace airtune::bindings
