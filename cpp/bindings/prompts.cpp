// airtune._core.prompts: protected spans, prompt variations, system-prompt grouping, scaffolds,
// diversity measures and k-means for gap analysis.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <string>
#include <string_view>

#include "common.h"
#include "core/errors.h"
#include "prompts/diversity.h"
#include "prompts/prompt_groups.h"
#include "prompts/protected_spans.h"
#include "prompts/scaffolds.h"
#include "prompts/variations.h"
#include "vectors/kmeans.h"

namespace py = pybind11;

namespace airtune::bindings {

namespace {

using namespace airtune::prompts;
using Ranges = std::vector<std::pair<size_t, size_t>>;
using Slots = std::vector<std::pair<std::string, std::vector<std::string>>>;

// (begin, end, kind) per span
py::typing::List<py::typing::Tuple<py::int_, py::int_, py::str>> spans_list(const std::vector<Span>& spans) {
  py::typing::List<py::typing::Tuple<py::int_, py::int_, py::str>> out;
  for (const auto& s : spans) out.append(py::make_tuple(s.begin, s.end, span_kind_name(s.kind)));
  return out;
}

py::tuple result_tuple(VariationResult&& r) {
  py::list variants;
  for (auto& v : r.variants) variants.append(py::make_tuple(py::str(v.text), v.transforms, v.min_distance));
  return py::make_tuple(variants, spans_list(r.protected_spans), r.attempts);
}

VariationOptions options(int n, uint64_t seed, double min_distance, int max_attempts, uint32_t transforms,
                         Ranges protect, std::vector<std::string> optional, Slots slots) {
  VariationOptions o;
  o.n = n;
  o.seed = seed;
  o.min_distance = min_distance;
  o.max_attempts = max_attempts;
  o.transforms = transforms;
  o.protect = std::move(protect);
  o.optional_sentences = std::move(optional);
  o.slots = std::move(slots);
  return o;
}

}  // namespace

void bind_prompts(py::module_& m) {
  auto p = m.def_submodule("prompts", "Prompt variations, system-prompt statistics, gap analysis");

  // Result structs (prompts/prompt_groups.h, prompts/scaffolds.h, vectors/kmeans.h): columns as numpy views.
  py::class_<Scaffold> scaffold(p, "Scaffold", "A prefix (or suffix) many texts share (prompts/scaffolds.h).");
  scaffold.def_readonly("text", &Scaffold::text)
      .def_readonly("suffix", &Scaffold::suffix)
      .def_readonly("rows", &Scaffold::rows)
      .def_readonly("distinct", &Scaffold::distinct, "distinct texts among its rows");
  def_column(scaffold, "members", &Scaffold::members, "row indices, ascending");

  py::class_<PromptGroups> groups(p, "PromptGroups", "Exact and near-duplicate groups of prompts.");
  groups.def_readonly("n_near", &PromptGroups::n_near, "number of near-duplicate groups")
      .def_readonly("near_truncated", &PromptGroups::near_truncated);
  def_column(groups, "exact_of_row", &PromptGroups::exact_of_row, "per row: distinct-prompt id, -1 when absent");
  def_column(groups, "count", &PromptGroups::count, "per distinct prompt: rows");
  def_column(groups, "first_row", &PromptGroups::first_row, "per distinct prompt: first row");
  def_column(groups, "near_of_distinct", &PromptGroups::near_of_distinct,
             "per distinct prompt: near-duplicate group id");

  using K = vectors::KMeansResult;
  py::class_<K> km(p, "KMeansResult", "kmeans' result (vectors/kmeans.h).");
  km.def_readonly("inertia", &K::objective, "sum of squared distances to the assigned centroids")
      .def_property_readonly(
          "assign", [](const K& r) { return to_numpy(std::vector<int64_t>(r.assign.begin(), r.assign.end())); },
          "per row: its centroid (int64)");
  def_matrix(km, "centroids", &K::centroids, &K::d, "k x d");
  def_column(km, "distance", &K::score, "per row: squared L2 distance to its centroid");
  p.def("transform_names", &transform_names);
  p.def(
      "find_protected_spans",
      [](std::string_view text, Ranges caller) {
        std::vector<Span> spans;
        {
          py::gil_scoped_release nogil;
          spans = find_protected_spans(text, caller);
        }
        return spans_list(spans);
      },
      py::arg("text"), py::arg("caller") = Ranges{}, "Protected [begin, end, kind] byte spans of a UTF-8 text.");

  py::class_<Variator>(p, "Variator")
      .def(py::init([](std::vector<std::vector<std::string>> synonyms,
                       std::vector<std::pair<std::string, std::string>> contractions,
                       std::vector<std::string> imperative_verbs, std::vector<std::string> anaphora,
                       std::vector<std::string> polite_prefixes) {
             return Variator(Lexicon{std::move(synonyms), std::move(contractions), std::move(imperative_verbs),
                                     std::move(anaphora), std::move(polite_prefixes)});
           }),
           py::arg("synonyms"), py::arg("contractions"), py::arg("imperative_verbs"), py::arg("anaphora"),
           py::arg("polite_prefixes") = std::vector<std::string>{})
      .def(
          "generate",
          [](const Variator& v, std::string_view prompt, int n, uint64_t seed, double min_distance, int max_attempts,
             uint32_t transforms, Ranges protect, std::vector<std::string> optional, Slots slots) {
            auto o = options(n, seed, min_distance, max_attempts, transforms, std::move(protect), std::move(optional),
                             std::move(slots));
            VariationResult r;
            {
              py::gil_scoped_release nogil;
              r = v.generate(prompt, o);
            }
            return result_tuple(std::move(r));
          },
          py::arg("prompt"), py::arg("n"), py::arg("seed"), py::arg("min_distance"), py::arg("max_attempts"),
          py::arg("transforms"), py::arg("protect"), py::arg("optional"), py::arg("slots"))
      .def(
          "generate_many",
          [](const Variator& v, const py::sequence& prompts, int n, uint64_t seed, double min_distance,
             int max_attempts, uint32_t transforms, std::vector<std::string> optional, Slots slots) {
            auto views = utf8_views(prompts);
            auto o =
                options(n, seed, min_distance, max_attempts, transforms, {}, std::move(optional), std::move(slots));
            std::vector<VariationResult> rs;
            {
              py::gil_scoped_release nogil;
              rs = v.generate_many(views, o);
            }
            py::list out;
            for (auto& r : rs) out.append(result_tuple(std::move(r)));
            return out;
          },
          py::arg("prompts"), py::arg("n"), py::arg("seed"), py::arg("min_distance"), py::arg("max_attempts"),
          py::arg("transforms"), py::arg("optional"), py::arg("slots"));

  p.def(
      "group_prompts",
      [](const py::sequence& prompts, double threshold, int shingle, int64_t max_distinct) {
        auto views = utf8_views(prompts);
        // None marks a row without a prompt.
        std::vector<uint8_t> present(views.size(), 1);
        {
          py::object fast = py::reinterpret_steal<py::object>(PySequence_Fast(prompts.ptr(), "expected a sequence"));
          PyObject** items = PySequence_Fast_ITEMS(fast.ptr());
          for (size_t i = 0; i < views.size(); ++i) present[i] = items[i] != Py_None;
        }
        PromptGroups g;
        {
          py::gil_scoped_release nogil;
          g = group_prompts(views, present, threshold, shingle, max_distinct);
        }
        return g;
      },
      py::arg("prompts"), py::arg("threshold"), py::arg("shingle"), py::arg("max_distinct"),
      "Exact and near-duplicate groups of prompts; None entries are rows without a prompt.");
  p.def("shingle_jaccard", &shingle_jaccard, py::arg("a"), py::arg("b"), py::arg("shingle") = 5);
  p.def("shingle_distance", &shingle_distance, py::arg("a"), py::arg("b"));

  p.def(
      "find_scaffolds",
      [](const py::sequence& texts, bool suffix, size_t min_chars, int64_t min_rows) {
        auto views = utf8_views(texts);
        std::vector<Scaffold> s;
        {
          py::gil_scoped_release nogil;
          s = find_scaffolds(views, suffix, min_chars, min_rows);
        }
        return s;
      },
      py::arg("texts"), py::arg("suffix"), py::arg("min_chars"), py::arg("min_rows"));

  p.def(
      "self_bleu",
      [](const py::sequence& texts) {
        auto views = utf8_views(texts);
        py::gil_scoped_release nogil;
        return self_bleu(views);
      },
      py::arg("texts"));
  p.def(
      "distinct_n",
      [](const py::sequence& texts, int n) {
        auto views = utf8_views(texts);
        py::gil_scoped_release nogil;
        return distinct_n(views, n);
      },
      py::arg("texts"), py::arg("n"));

  p.def(
      "kmeans",
      [](py::array_t<float, py::array::c_style> x, int64_t k, int niter, uint64_t seed, int nredo) {
        if (x.ndim() != 2) throw InvalidArgument("kmeans: expected a 2-D array");
        const int64_t n = x.shape(0), d = x.shape(1);
        if (k < 1 || k > n)
          throw InvalidArgument("kmeans: k must be in [1, n] (k=" + std::to_string(k) + ", n=" + std::to_string(n) +
                                ")");
        if (niter < 1) throw InvalidArgument("kmeans: niter must be >= 1");
        vectors::KMeansOptions o;
        o.k = static_cast<int>(k);
        o.niter = niter;
        o.seed = seed;
        o.nredo = nredo;
        o.max_points_per_centroid = 0;  // every row trains
        o.metric = vectors::KMeansMetric::kL2;
        o.init = vectors::KMeansInit::kPlusPlus;
        vectors::KMeansResult r;
        {
          py::gil_scoped_release nogil;
          r = vectors::kmeans(x.data(), n, d, o);
        }
        return r;
      },
      py::arg("x"), py::arg("k"), py::arg("niter"), py::arg("seed"), py::arg("nredo") = 1,
      "Deterministic L2 k-means (k-means++ init, nredo restarts keep the lowest inertia): centroids (k x d), assign "
      "(n), distance (squared L2 to the assigned centroid), inertia.");
}

}  // namespace airtune::bindings
