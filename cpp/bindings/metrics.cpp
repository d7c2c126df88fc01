// airtune._core.metrics: thin bindings over cpp/metrics (convert, release the GIL, call the core).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <cmath>
#include <string>
#include <vector>

#include "bindings/common.h"
#include "metrics/answer_match.h"
#include "metrics/bleu.h"
#include "metrics/chrf.h"
#include "metrics/classification.h"
#include "metrics/json_validity.h"
#include "metrics/length_stats.h"
#include "metrics/porter_stemmer.h"
#include "metrics/resampling.h"
#include "metrics/rouge.h"
#include "metrics/taxonomy.h"

namespace py = pybind11;
using namespace airtune;
using airtune::bindings::to_numpy;
using airtune::bindings::utf8_views;

namespace {

// Reference streams (a list of lists, streams[k][i]); None entries become missing references.
metrics::References to_refs(const py::sequence& streams) {
  metrics::References refs;
  bool any_none = false;
  std::vector<std::vector<uint8_t>> present;
  for (size_t k = 0; k < py::len(streams); ++k) {
    py::sequence s = streams[k];
    refs.streams.push_back(utf8_views(s));
    std::vector<uint8_t> mask(py::len(s), 1);
    for (size_t i = 0; i < mask.size(); ++i) {
      if (s[i].is_none()) {
        mask[i] = 0;
        any_none = true;
      }
    }
    present.push_back(std::move(mask));
  }
  if (any_none) refs.present = std::move(present);
  return refs;
}

template <typename T>
py::array_t<T> matrix(std::vector<T>&& v, size_t rows, size_t cols) {
  return to_numpy(std::move(v)).attr("reshape")(static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols));
}

template <typename T>
std::vector<T> to_vector(const py::array_t<T, py::array::c_style | py::array::forcecast>& a) {
  return std::vector<T>(a.data(), a.data() + a.size());
}

metrics::BleuOptions bleu_options(const std::string& tokenize, int max_order, const std::string& smooth,
                                  double smooth_value, bool effective_order) {
  metrics::BleuOptions o;
  o.tokenizer = metrics::parse_bleu_tokenizer(tokenize);
  o.max_order = max_order;
  o.smooth = metrics::parse_bleu_smooth(smooth);
  o.smooth_value = smooth_value;
  o.effective_order = effective_order;
  return o;
}

metrics::ChrfOptions chrf_options(int char_order, int word_order, double beta, bool whitespace, bool eps) {
  metrics::ChrfOptions o;
  o.char_order = char_order;
  o.word_order = word_order;
  o.beta = beta;
  o.whitespace = whitespace;
  o.eps_smoothing = eps;
  return o;
}

// An aggregate's options as MetricResult.options holds them ({"column": 0}, {"n_classes": 3,
// "statistic": "macro_f1"}, BLEU/chrF settings); read in one place, aggregator(), with defaults.
using AggregateOptions = py::typing::Dict<py::str, py::typing::Union<py::bool_, py::int_, py::float_, py::str>>;

metrics::Aggregator aggregator(const std::string& kind, const AggregateOptions& opt) {
  metrics::Aggregator a;
  auto get = [&](const char* key, auto def) { return opt.contains(key) ? opt[key].cast<decltype(def)>() : def; };
  if (kind == "bleu") {
    a.kind = metrics::Aggregator::kBleu;
    a.bleu = bleu_options("13a", get("max_order", 4), get("smooth", std::string("exp")), get("smooth_value", -1.0),
                          get("effective_order", false));
  } else if (kind == "chrf") {
    a.kind = metrics::Aggregator::kChrf;
    a.chrf =
        chrf_options(get("char_order", 6), get("word_order", 0), get("beta", 2.0), false, get("eps_smoothing", false));
  } else if (kind == "mean") {
    a.kind = metrics::Aggregator::kMean;
    a.column = get("column", 0);
  } else if (kind == "classification") {
    a.kind = metrics::Aggregator::kClassification;
    a.n_classes = get("n_classes", 0);
    a.class_statistic = metrics::parse_class_statistic(get("statistic", std::string("macro_f1")));
  } else if (kind == "hierarchical") {
    a.kind = metrics::Aggregator::kHierarchical;
    a.hierarchical = metrics::parse_hierarchical_statistic(get("statistic", std::string("f1")));
  } else {
    throw InvalidArgument("unknown aggregate '" + kind + "' (mean, bleu, chrf, classification, hierarchical)");
  }
  return a;
}

using F64 = py::array_t<double, py::array::c_style | py::array::forcecast>;
using I64 = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;
using I32 = py::array_t<int32_t, py::array::c_style | py::array::forcecast>;
using U8 = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>;

std::vector<double> stats_matrix(const F64& a, size_t& n, size_t& k, const char* name) {
  if (a.ndim() != 2) throw InvalidArgument(std::string(name) + ": expected a 2-D statistics array");
  n = static_cast<size_t>(a.shape(0));
  k = static_cast<size_t>(a.shape(1));
  for (py::ssize_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a.data()[i])) {
      throw InvalidArgument(std::string(name) + ": row " + std::to_string(static_cast<size_t>(i) / (k ? k : 1)) +
                            " has a NaN or infinite value");
    }
  }
  return to_vector(a);
}

// Per-item results as columns (struct of arrays), the form def_column hands to numpy.
struct TaxonomyColumns {
  std::vector<int32_t> gold_depth, pred_depth, common;  // levels; common: matched levels from the top
  std::vector<uint8_t> valid;                           // 1: the prediction is a valid path
};

struct JsonValidityColumns {
  std::vector<int8_t> status;    // 0 strict, 1 lenient, 2 invalid
  std::vector<int8_t> top_type;  // JsonType of the document, kNone when invalid
  std::vector<int8_t> reason;    // 0 ok, 1 missing, 2 wrong type, 3 not an object, 4 invalid document
  std::vector<int32_t> bad_key;  // first failing required key, -1 if none
};

}  // namespace

namespace airtune::bindings {

void bind_metrics(py::module_& m) {
  py::module_ sm = m.def_submodule("metrics", "Exact batch metrics and resampling statistics (C++).");

  // Result structs (metrics/classification.h and the columns above): columns as numpy views.
  using R = metrics::ClassReport;
  py::class_<R> report(sm, "ClassReport", "classification_report's result (metrics/classification.h).");
  def_column(report, "precision", &R::precision, "per class");
  def_column(report, "recall", &R::recall, "per class");
  def_column(report, "f1", &R::f1, "per class");
  def_column(report, "support", &R::support, "per class (true count)");
  report.def_readonly("accuracy", &R::accuracy)
      .def_readonly("macro_precision", &R::macro_precision)
      .def_readonly("macro_recall", &R::macro_recall)
      .def_readonly("macro_f1", &R::macro_f1)
      .def_readonly("weighted_precision", &R::weighted_precision)
      .def_readonly("weighted_recall", &R::weighted_recall)
      .def_readonly("weighted_f1", &R::weighted_f1)
      .def_readonly("micro_precision", &R::micro_precision)
      .def_readonly("micro_recall", &R::micro_recall)
      .def_readonly("micro_f1", &R::micro_f1)
      .def_readonly("invalid", &R::invalid, "predictions outside the classes")
      .def_readonly("total", &R::total);

  py::class_<TaxonomyColumns> tax(sm, "TaxonomyColumns", "taxonomy_items' result: one entry per item.");
  def_column(tax, "gold_depth", &TaxonomyColumns::gold_depth);
  def_column(tax, "pred_depth", &TaxonomyColumns::pred_depth);
  def_column(tax, "common", &TaxonomyColumns::common, "matched levels from the top");
  def_column(tax, "valid", &TaxonomyColumns::valid, "1: the prediction is a valid path");

  py::class_<JsonValidityColumns> jv(sm, "JsonValidityColumns", "json_validity's result: one entry per text.");
  def_column(jv, "status", &JsonValidityColumns::status, "0 strict, 1 lenient, 2 invalid");
  def_column(jv, "top_type", &JsonValidityColumns::top_type, "JsonType of the document, None (0) when invalid");
  def_column(jv, "reason", &JsonValidityColumns::reason,
             "0 ok, 1 missing, 2 wrong type, 3 not an object, 4 invalid document");
  def_column(jv, "bad_key", &JsonValidityColumns::bad_key, "first failing required key, -1 if none");

  sm.def(
      "bleu_statistics",
      [](const py::sequence& hyps, const py::sequence& refs, const std::string& tokenize, int max_order) {
        auto h = utf8_views(hyps);
        auto r = to_refs(refs);
        auto opt = bleu_options(tokenize, max_order, "exp", -1.0, false);
        std::vector<int64_t> s;
        {
          py::gil_scoped_release release;
          s = metrics::bleu_statistics(h, r, opt);
        }
        return matrix(std::move(s), h.size(), static_cast<size_t>(metrics::bleu_stats_width(max_order)));
      },
      py::arg("hyps"), py::arg("refs"), py::arg("tokenize") = "13a", py::arg("max_order") = 4,
      "Per-item BLEU statistics [hyp_len, ref_len, correct_1..N, total_1..N] (n x (2 + 2N) int64).");

  sm.def(
      "bleu_score",
      [](const F64& sums, int max_order, const std::string& smooth, double smooth_value, bool effective_order) {
        auto opt = bleu_options("13a", max_order, smooth, smooth_value, effective_order);
        if (sums.size() != metrics::bleu_stats_width(max_order)) {
          throw InvalidArgument("bleu_score: sums must have 2 + 2 * max_order entries");
        }
        auto s = metrics::bleu_from_stats(sums.data(), opt);
        return py::make_tuple(s.score, s.bp, s.precisions);
      },
      py::arg("sums"), py::arg("max_order") = 4, py::arg("smooth") = "exp", py::arg("smooth_value") = -1.0,
      py::arg("effective_order") = false, "BLEU (score, bp, precisions) from summed statistics.");

  sm.def(
      "bleu_sentence_scores",
      [](const I64& stats, int max_order, const std::string& smooth, double smooth_value, bool effective_order) {
        auto opt = bleu_options("13a", max_order, smooth, smooth_value, effective_order);
        const auto w = static_cast<size_t>(metrics::bleu_stats_width(max_order));
        if (stats.ndim() != 2 || static_cast<size_t>(stats.shape(1)) != w) {
          throw InvalidArgument("bleu_sentence_scores: statistics must be n x (2 + 2 * max_order)");
        }
        const size_t n = static_cast<size_t>(stats.shape(0));
        std::vector<double> out(n);
        const int64_t* p = stats.data();
        {
          py::gil_scoped_release release;
          std::vector<double> row(w);
          for (size_t i = 0; i < n; ++i) {
            for (size_t c = 0; c < w; ++c) row[c] = static_cast<double>(p[i * w + c]);
            out[i] = metrics::bleu_from_stats(row.data(), opt).score;
          }
        }
        return to_numpy(std::move(out));
      },
      py::arg("stats"), py::arg("max_order") = 4, py::arg("smooth") = "exp", py::arg("smooth_value") = -1.0,
      py::arg("effective_order") = true);

  sm.def(
      "tokenize_bleu",
      [](const std::string& line, const std::string& tokenize) {
        return metrics::bleu_tokenized_line(line, metrics::parse_bleu_tokenizer(tokenize));
      },
      py::arg("line"), py::arg("tokenize") = "13a", "The line as sacreBLEU's tokenizer returns it.");

  sm.def(
      "chrf_statistics",
      [](const py::sequence& hyps, const py::sequence& refs, int char_order, int word_order, double beta,
         bool whitespace, bool eps_smoothing) {
        auto h = utf8_views(hyps);
        auto r = to_refs(refs);
        auto opt = chrf_options(char_order, word_order, beta, whitespace, eps_smoothing);
        std::vector<int64_t> s;
        {
          py::gil_scoped_release release;
          s = metrics::chrf_statistics(h, r, opt);
        }
        return matrix(std::move(s), h.size(), static_cast<size_t>(metrics::chrf_stats_width(opt)));
      },
      py::arg("hyps"), py::arg("refs"), py::arg("char_order") = 6, py::arg("word_order") = 0, py::arg("beta") = 2.0,
      py::arg("whitespace") = false, py::arg("eps_smoothing") = false);

  sm.def(
      "chrf_scores",
      [](const F64& stats, int char_order, int word_order, double beta, bool eps_smoothing) {
        auto opt = chrf_options(char_order, word_order, beta, false, eps_smoothing);
        const auto w = static_cast<size_t>(metrics::chrf_stats_width(opt));
        if (stats.ndim() != 2 || static_cast<size_t>(stats.shape(1)) != w) {
          throw InvalidArgument("chrf_scores: statistics must be n x 3 * (char_order + word_order)");
        }
        const size_t n = static_cast<size_t>(stats.shape(0));
        std::vector<double> out(n);
        for (size_t i = 0; i < n; ++i) out[i] = metrics::chrf_from_stats(stats.data() + i * w, opt);
        return to_numpy(std::move(out));
      },
      py::arg("stats"), py::arg("char_order") = 6, py::arg("word_order") = 0, py::arg("beta") = 2.0,
      py::arg("eps_smoothing") = false, "chrF of each row of (summed) statistics.");

  sm.def(
      "rouge_scores",
      [](const py::sequence& preds, const py::sequence& refs, const std::vector<std::string>& types, bool use_stemmer) {
        auto p = utf8_views(preds);
        auto r = to_refs(refs);
        metrics::RougeOptions opt;
        for (const auto& t : types) opt.types.push_back(metrics::parse_rouge_type(t));
        opt.use_stemmer = use_stemmer;
        std::vector<double> s;
        {
          py::gil_scoped_release release;
          s = metrics::rouge_scores(p, r, opt);
        }
        return matrix(std::move(s), p.size(), 3 * types.size());
      },
      py::arg("predictions"), py::arg("refs"), py::arg("types"), py::arg("use_stemmer") = false,
      "Per-item (P, R, F) for each rouge type, n x 3T.");

  sm.def("rouge_tokenize", &metrics::rouge_tokenize, py::arg("text"), py::arg("use_stemmer") = false);
  sm.def("porter_stem", &metrics::porter_stem, py::arg("word"));
  sm.def("squad_normalize", &metrics::squad_normalize, py::arg("text"));

  sm.def(
      "exact_match",
      [](const py::sequence& preds, const py::sequence& refs, bool ignore_punctuation, bool ignore_numbers,
         bool strip) {
        auto p = utf8_views(preds);
        auto r = to_refs(refs);
        metrics::ExactMatchOptions o{ignore_punctuation, ignore_numbers, strip};
        std::vector<double> s;
        {
          py::gil_scoped_release release;
          s = metrics::exact_match(p, r, o);
        }
        return to_numpy(std::move(s));
      },
      py::arg("predictions"), py::arg("refs"), py::arg("ignore_punctuation") = false, py::arg("ignore_numbers") = false,
      py::arg("strip") = false);

  sm.def(
      "squad_scores",
      [](const py::sequence& preds, const py::sequence& refs, bool v2) {
        auto p = utf8_views(preds);
        auto r = to_refs(refs);
        std::vector<double> s;
        {
          py::gil_scoped_release release;
          s = metrics::squad_scores(p, r, v2);
        }
        return matrix(std::move(s), p.size(), 2);
      },
      py::arg("predictions"), py::arg("refs"), py::arg("v2") = false, "Per-item SQuAD (EM, F1), n x 2.");

  sm.def(
      "confusion_matrix",
      [](const I32& y_true, const I32& y_pred, int32_t n_classes) {
        auto t = to_vector(y_true);
        auto p = to_vector(y_pred);
        auto m = metrics::confusion_matrix(t, p, n_classes);
        return matrix(std::move(m), static_cast<size_t>(n_classes), static_cast<size_t>(n_classes) + 1);
      },
      py::arg("y_true"), py::arg("y_pred"), py::arg("n_classes"),
      "K x (K + 1) counts (rows true, columns predicted, last column invalid predictions).");

  sm.def(
      "classification_report",
      [](const I64& confusion, int32_t n_classes) {
        return metrics::classification_report(to_vector(confusion), n_classes);
      },
      py::arg("confusion"), py::arg("n_classes"));

  sm.def(
      "cohen_kappa",
      [](const F64& confusion, const std::string& weights) {
        if (confusion.ndim() != 2 || confusion.shape(0) != confusion.shape(1)) {
          throw InvalidArgument("cohen_kappa: expected a square confusion matrix");
        }
        return metrics::cohen_kappa(to_vector(confusion), static_cast<int32_t>(confusion.shape(0)),
                                    metrics::parse_kappa_weights(weights));
      },
      py::arg("confusion"), py::arg("weights") = "none");

  sm.def(
      "taxonomy_items",
      [](const py::sequence& gold, const py::sequence& pred, const py::sequence& valid, const std::string& sep) {
        auto g = utf8_views(gold);
        auto p = utf8_views(pred);
        auto v = utf8_views(valid);
        std::vector<metrics::TaxonomyItem> items;
        {
          py::gil_scoped_release release;
          items = metrics::taxonomy_items(g, p, v, sep);
        }
        TaxonomyColumns c;
        for (const auto& it : items) {
          c.gold_depth.push_back(it.gold_depth);
          c.pred_depth.push_back(it.pred_depth);
          c.common.push_back(it.common);
          c.valid.push_back(it.valid);
        }
        return c;
      },
      py::arg("gold"), py::arg("pred"), py::arg("valid_paths"), py::arg("sep") = " > ");

  sm.def(
      "json_validity",
      [](const py::sequence& texts, const std::vector<std::pair<std::string, std::string>>& keys) {
        auto t = utf8_views(texts);
        std::vector<metrics::JsonKey> ks;
        for (const auto& [name, type] : keys) ks.push_back({name, metrics::parse_json_type(type)});
        std::vector<metrics::JsonItem> items;
        {
          py::gil_scoped_release release;
          items = metrics::json_validity(t, ks);
        }
        JsonValidityColumns c;
        for (const auto& it : items) {
          c.status.push_back(it.status);
          c.top_type.push_back(it.top_type);
          c.reason.push_back(it.reason);
          c.bad_key.push_back(it.bad_key);
        }
        return c;
      },
      py::arg("texts"), py::arg("keys") = std::vector<std::pair<std::string, std::string>>{});

  sm.def("json_lenient_span", [](const std::string& s) { return std::string(metrics::json_lenient_span(s)); });

  sm.def(
      "length_stats",
      [](const py::sequence& texts) {
        auto t = utf8_views(texts);
        std::vector<int64_t> s;
        {
          py::gil_scoped_release release;
          s = metrics::length_stats(t);
        }
        return matrix(std::move(s), t.size(), 3);
      },
      py::arg("texts"), "Per item [bytes, code points, words] (n x 3 int64).");

  sm.def(
      "bootstrap",
      [](const F64& stats, const std::string& aggregate, const AggregateOptions& options, size_t n_samples,
         uint64_t seed, const py::object& indices) {
        size_t n = 0, k = 0;
        auto s = stats_matrix(stats, n, k, "bootstrap");
        auto agg = aggregator(aggregate, options);
        std::vector<int64_t> idx;
        if (!indices.is_none()) idx = to_vector(indices.cast<I64>());
        std::vector<double> out;
        {
          py::gil_scoped_release release;
          out = metrics::bootstrap_scores(s, n, k, agg, n_samples, seed, idx);
        }
        return to_numpy(std::move(out));
      },
      py::arg("stats"), py::arg("aggregate"), py::arg("options"), py::arg("n_samples"), py::arg("seed"),
      py::arg("indices") = py::none());

  sm.def(
      "aggregate",
      [](const F64& stats, const std::string& aggregate, const AggregateOptions& options) {
        size_t n = 0, k = 0;
        auto s = stats_matrix(stats, n, k, "aggregate");
        auto agg = aggregator(aggregate, options);
        py::gil_scoped_release release;
        return metrics::aggregate_scores(s, n, k, agg);
      },
      py::arg("stats"), py::arg("aggregate"), py::arg("options"),
      "The corpus score of all rows of the statistics (what the metric reports), no resampling.");

  sm.def(
      "resample_indices",
      [](size_t n, size_t first, size_t count, uint64_t seed) {
        std::vector<int64_t> out;
        {
          py::gil_scoped_release release;
          out = metrics::resample_indices(n, first, count, seed);
        }
        return matrix(std::move(out), count, n);
      },
      py::arg("n"), py::arg("first"), py::arg("count"), py::arg("seed"),
      "count x n item indices of resamples first..first+count-1: the draws of bootstrap(seed).");

  sm.def(
      "paired_bootstrap",
      [](const F64& a, const F64& b, const std::string& aggregate, const AggregateOptions& options, size_t n_samples,
         uint64_t seed, const py::object& indices) {
        size_t n = 0, k = 0, n2 = 0, k2 = 0;
        auto sa = stats_matrix(a, n, k, "paired_bootstrap");
        auto sb = stats_matrix(b, n2, k2, "paired_bootstrap");
        if (n != n2 || k != k2) throw InvalidArgument("paired_bootstrap: the two systems' statistics differ in shape");
        auto agg = aggregator(aggregate, options);
        std::vector<int64_t> idx;
        if (!indices.is_none()) idx = to_vector(indices.cast<I64>());
        std::vector<double> out;
        {
          py::gil_scoped_release release;
          out = metrics::paired_bootstrap_scores(sa, sb, n, k, agg, n_samples, seed, idx);
        }
        return matrix(std::move(out), 2, n_samples);
      },
      py::arg("a"), py::arg("b"), py::arg("aggregate"), py::arg("options"), py::arg("n_samples"), py::arg("seed"),
      py::arg("indices") = py::none());

  sm.def(
      "approximate_randomization",
      [](const F64& a, const F64& b, const std::string& aggregate, const AggregateOptions& options, size_t n_trials,
         uint64_t seed, const py::object& swaps) {
        size_t n = 0, k = 0, n2 = 0, k2 = 0;
        auto sa = stats_matrix(a, n, k, "approximate_randomization");
        auto sb = stats_matrix(b, n2, k2, "approximate_randomization");
        if (n != n2 || k != k2) {
          throw InvalidArgument("approximate_randomization: the two systems' statistics differ in shape");
        }
        auto agg = aggregator(aggregate, options);
        std::vector<uint8_t> sw;
        if (!swaps.is_none()) sw = to_vector(swaps.cast<U8>());
        std::vector<double> out;
        {
          py::gil_scoped_release release;
          out = metrics::approximate_randomization_scores(sa, sb, n, k, agg, n_trials, seed, sw);
        }
        return matrix(std::move(out), 2, n_trials);
      },
      py::arg("a"), py::arg("b"), py::arg("aggregate"), py::arg("options"), py::arg("n_trials"), py::arg("seed"),
      py::arg("swaps") = py::none());
}

}  // namespace airtune::bindings
