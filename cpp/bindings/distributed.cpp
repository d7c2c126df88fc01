// airtune._core.distributed: what the Ray engine of the pipeline needs from C++: records rebuilt
// from the Arrow buffers of a block (one copy of each buffer, no per-row Python), and the per-row
// keys and per-group kernels of deduplication across machines (dedup/shuffle_keys.h).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <memory>
#include <span>
#include <string>

#include "common.h"
#include "core/errors.h"
#include "dedup/lsh_index.h"
#include "dedup/shuffle_keys.h"
#include "io/record.h"
#include "vectors/kmeans.h"

namespace py = pybind11;
using namespace airtune;
using namespace airtune::dedup;
using airtune::bindings::to_numpy;
using airtune::bindings::utf8_views;

namespace {

using I32 = py::array_t<int32_t, py::array::c_style | py::array::forcecast>;
using I64 = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;
using U64 = py::array_t<uint64_t, py::array::c_style | py::array::forcecast>;

using U8 = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>;
using F32 = py::array_t<float, py::array::c_style | py::array::forcecast>;

template <typename T, typename A>
std::span<const T> span_of(const A& a) {
  return {a.data(), static_cast<size_t>(a.size())};
}

template <typename T>
std::vector<T> vector_of(const py::dict& d, const char* key, size_t expect) {
  auto a = d[key].cast<py::array_t<T, py::array::c_style | py::array::forcecast>>();
  if (static_cast<size_t>(a.size()) != expect)
    throw InvalidArgument(std::string("batch_from_columns: ") + key + " has " + std::to_string(a.size()) +
                          " entries, expected " + std::to_string(expect));
  return std::vector<T>(a.data(), a.data() + a.size());
}

// (data uint8, offsets int64 from 0, valid uint8 flags or None) -> StringColumn of `n` strings.
core::StringColumn string_column(const py::dict& d, const char* key, size_t n) {
  auto t = d[key].cast<py::tuple>();
  if (t.size() != 3)
    throw InvalidArgument(std::string("batch_from_columns: ") + key + ": expected (data, offsets, valid)");
  const auto data = t[0].cast<U8>();
  const auto off = t[1].cast<I64>();
  core::StringColumn c;
  if (static_cast<size_t>(off.size()) != n + 1)
    throw InvalidArgument(std::string("batch_from_columns: ") + key + " has " + std::to_string(off.size()) +
                          " offsets, expected " + std::to_string(n + 1));
  const int64_t* o = off.data();
  if (o[0] != 0 || o[n] != static_cast<int64_t>(data.size()))
    throw InvalidArgument(std::string("batch_from_columns: ") + key + ": offsets must run from 0 to the data size");
  for (size_t i = 0; i < n; ++i)
    if (o[i + 1] < o[i]) throw InvalidArgument(std::string("batch_from_columns: ") + key + ": offsets decrease");
  c.data.assign(reinterpret_cast<const char*>(data.data()), static_cast<size_t>(data.size()));
  c.offsets.assign(o, o + n + 1);
  if (!t[2].is_none()) {
    const auto v = t[2].cast<U8>();
    if (static_cast<size_t>(v.size()) != n)
      throw InvalidArgument(std::string("batch_from_columns: ") + key + ": validity has the wrong length");
    c.valid.assign(v.data(), v.data() + n);
  }
  return c;
}

}  // namespace

namespace airtune::bindings {

void bind_distributed(py::module_& m) {
  auto s = m.def_submodule("distributed",
                           "Records from Arrow block buffers; per-row keys and per-group kernels "
                           "of deduplication across machines.");

  py::class_<MinHashKeys> keys(s, "MinHashKeys", "minhash_keys' result (dedup/shuffle_keys.h): one row per text.");
  keys.def_readonly("bands", &MinHashKeys::bands);
  def_matrix(keys, "band_keys", &MinHashKeys::band_keys, &MinHashKeys::bands, "rows x bands");
  def_column(keys, "signature_hash", &MinHashKeys::signature_hash, "per row: XXH64 of the signature values");
  def_column(keys, "set_hash", &MinHashKeys::set_hash, "per row: XXH64 of the sorted shingle hashes");
  def_column(keys, "empty", &MinHashKeys::empty, "per row: 1 when the text has no shingles");
  def_column(keys, "shingle_data", &MinHashKeys::shingle_data, "every shingle set back to back (sorted, unique)");
  def_column(keys, "shingle_offsets", &MinHashKeys::shingle_offsets, "rows + 1 entries");

  s.def(
      "batch_from_columns",
      [](const py::dict& d) {
        auto b = std::make_shared<io::RecordBatch>();
        const size_t n = static_cast<size_t>(d["line"].cast<I64>().size());
        b->line = vector_of<int64_t>(d, "line", n);
        b->format = vector_of<uint8_t>(d, "format", n);
        b->input_at = vector_of<int64_t>(d, "input_at", n);
        b->message_offsets = vector_of<int64_t>(d, "message_offsets", n + 1);
        const size_t m = static_cast<size_t>(d["role"].cast<U8>().size());
        b->role = vector_of<uint8_t>(d, "role", m);
        if (b->message_offsets[0] != 0 || b->message_offsets[n] != static_cast<int64_t>(m))
          throw InvalidArgument("batch_from_columns: message_offsets must run from 0 to the message count");
        for (size_t i = 0; i < n; ++i)
          if (b->message_offsets[i + 1] < b->message_offsets[i])
            throw InvalidArgument("batch_from_columns: message_offsets decrease");
        for (uint8_t f : b->format)
          if (f >= io::kFormatCount)
            throw InvalidArgument("batch_from_columns: unknown format code " + std::to_string(f));
        for (uint8_t r : b->role)
          if (r >= io::kRoleCount) throw InvalidArgument("batch_from_columns: unknown role code " + std::to_string(r));
        b->id = string_column(d, "id", n);
        b->label = string_column(d, "label", n);
        b->metadata = string_column(d, "metadata", n);
        b->content = string_column(d, "content", m);
        b->name = string_column(d, "name", m);
        b->tool_calls = string_column(d, "tool_calls", m);
        b->tool_call_id = string_column(d, "tool_call_id", m);
        b->extra = string_column(d, "extra", m);
        return b;
      },
      py::arg("columns"),
      "A RecordBatch from columns laid out as RecordBatch.columns() gives them (plus input_at), offsets "
      "starting at 0; each buffer is copied once and checked (lengths, offsets, format and role codes).");

  s.def(
      "input_at",
      [](const io::RecordBatch& b) {
        std::vector<int64_t> v =
            b.input_at.size() == b.size() ? b.input_at : std::vector<int64_t>(b.size(), io::RecordBatch::kNoInput);
        return to_numpy(std::move(v));
      },
      py::arg("batch"), "Per record: where an Alpaca input starts (RecordBatch::input_at; -1 when not Alpaca).");

  s.def(
      "exact_keys",
      [](const py::sequence& texts, uint32_t flags) {
        auto views = utf8_views(texts);
        const auto o = core::NormalizeOptions::from_flags(flags);
        ExactKeys k;
        {
          py::gil_scoped_release release;
          k = exact_keys(views, o);
        }
        return py::make_tuple(to_numpy(std::move(k.hash)), to_numpy(std::move(k.check)));
      },
      py::arg("texts"), py::arg("flags"),
      "(hash, check): XXH64 of each normalised text with seed 0 (the exact-dedup hash) and with a second "
      "seed. `flags`: NormalizeOptions::flags() (bit 0 lowercase, 1 whitespace, 2 punctuation, 3 digits, "
      "bits 4-6 the Unicode form).");

  s.def(
      "minhash_keys",
      [](const py::sequence& texts, const MinHashIndex& index) {
        auto views = utf8_views(texts);
        MinHashKeys k;
        {
          py::gil_scoped_release release;
          k = minhash_keys(views, index.options(), index.bands(), index.rows());
        }
        return k;
      },
      py::arg("texts"), py::arg("index"),
      "Band keys (rows x bands), copy-group keys, empty flags and shingle sets of `texts` under the "
      "options, bands and rows of `index` (an airtune._core.dedup.MinHashIndex; it is not modified).");

  s.def(
      "bucket_pairs",
      [](const I32& band, const U64& key, const I64& row, int64_t max_bucket) {
        RowPairs p;
        {
          py::gil_scoped_release release;
          p = bucket_pairs(span_of<int32_t>(band), span_of<uint64_t>(key), span_of<int64_t>(row), max_bucket);
        }
        return py::make_tuple(to_numpy(std::move(p.a)), to_numpy(std::move(p.b)), p.capped_buckets);
      },
      py::arg("band"), py::arg("key"), py::arg("row"), py::arg("max_bucket") = 256,
      "(a, b, capped_buckets): the candidate pairs (a < b, sorted, unique) of the buckets of equal (band, key).");

  s.def(
      "jaccard_rows",
      [](const U64& a_data, const I64& a_offsets, const U64& b_data, const I64& b_offsets) {
        std::vector<double> out;
        {
          py::gil_scoped_release release;
          out = jaccard_rows(span_of<uint64_t>(a_data), span_of<int64_t>(a_offsets), span_of<uint64_t>(b_data),
                             span_of<int64_t>(b_offsets));
        }
        return to_numpy(std::move(out));
      },
      py::arg("a_data"), py::arg("a_offsets"), py::arg("b_data"), py::arg("b_offsets"),
      "Exact Jaccard of set i of A with set i of B (sorted unique uint64 sets given by data and offsets).");
  s.def(
      "semantic_centroids",
      [](const F32& x, int64_t k, int niter, uint64_t seed) {
        if (x.ndim() != 2) throw InvalidArgument("semantic_centroids: expected a 2-D array");
        const int64_t n = x.shape(0), d = x.shape(1);
        if (n < 1 || k < 1) throw InvalidArgument("semantic_centroids: needs at least one row and k >= 1");
        vectors::KMeansOptions o;
        o.k = static_cast<int>(std::min<int64_t>(k, n));
        o.niter = niter;
        o.seed = seed;
        o.max_points_per_centroid = 0;  // the caller's sample is the training set
        o.metric = vectors::KMeansMetric::kCosine;
        o.init = vectors::KMeansInit::kPlusPlus;
        vectors::KMeansResult r;
        {
          py::gil_scoped_release release;
          r = vectors::kmeans(x.data(), n, d, o);
        }
        return to_numpy(std::move(r.centroids)).reshape({static_cast<int64_t>(r.k), d});
      },
      py::arg("x"), py::arg("k"), py::arg("niter") = 20, py::arg("seed") = 1234,
      "Spherical k-means centroids (min(k, n) x d, unit rows) of the unit rows `x` (every row trains, "
      "k-means++ init): the clusters semantic dedup routes rows to. Deterministic.");

  s.def(
      "semantic_route",
      [](const F32& x, const F32& centroids) {
        if (x.ndim() != 2 || centroids.ndim() != 2 || x.shape(1) != centroids.shape(1) || centroids.shape(0) < 1)
          throw InvalidArgument("semantic_route: expected rows (n x d) and centroids (k x d), k >= 1");
        const int64_t n = x.shape(0), d = x.shape(1);
        std::vector<int32_t> assign(static_cast<size_t>(n));
        std::vector<float> score(static_cast<size_t>(n));
        if (n) {
          py::gil_scoped_release release;
          vectors::assign_to_centroids(x.data(), n, d, centroids.data(), static_cast<int>(centroids.shape(0)),
                                       vectors::KMeansMetric::kCosine, assign.data(), score.data());
        }
        return to_numpy(std::move(assign));
      },
      py::arg("x"), py::arg("centroids"),
      "Per row of `x` (unit rows): its centroid (highest inner product, ties to the lower centroid), decided "
      "by the exact kernel, so a row gets the same centroid whatever the other rows of its batch.");
}

}  // namespace airtune::bindings
