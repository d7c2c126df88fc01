// airtune._core.clean: HTML to text, garbage stripping, unicode repair, quality filters.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/typing.h>

#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "clean/chat_quality.h"
#include "clean/fix_text.h"
#include "clean/html_to_text.h"
#include "clean/quality_filter.h"
#include "clean/strip_garbage.h"
#include "common.h"
#include "core/errors.h"

namespace py = pybind11;

namespace {

using airtune::clean::ExtractMode;
using airtune::clean::HeadingStyle;
using airtune::clean::HtmlToTextOptions;

// Views of a list of str/bytes/None plus which rows are bytes. A str that cannot be encoded as
// UTF-8 (lone surrogates) is encoded with replacement characters into `keep`, which must outlive
// the views.
struct TextViews {
  std::vector<std::string_view> views;
  std::vector<uint8_t> is_bytes;
  std::vector<py::object> keep;
};

TextViews text_views(const py::sequence& seq, const char* what) {
  TextViews out;
  if (const airtune::io::SelectedText* col = airtune::bindings::text_column_of(seq)) {
    out.views = airtune::bindings::column_views(*col);
    out.is_bytes.assign(out.views.size(), 0);
    return out;
  }
  py::object fast = py::reinterpret_steal<py::object>(PySequence_Fast(seq.ptr(), "expected a sequence"));
  if (!fast) throw py::error_already_set();
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(fast.ptr());
  PyObject** items = PySequence_Fast_ITEMS(fast.ptr());
  out.views.reserve(static_cast<size_t>(n));
  out.is_bytes.assign(static_cast<size_t>(n), 0);
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* item = items[i];
    if (PyUnicode_Check(item)) {
      Py_ssize_t len = 0;
      const char* p = PyUnicode_AsUTF8AndSize(item, &len);
      if (!p) {
        PyErr_Clear();
        py::object enc = py::reinterpret_steal<py::object>(PyUnicode_AsEncodedString(item, "utf-8", "replace"));
        if (!enc) throw py::error_already_set();
        out.views.emplace_back(PyBytes_AS_STRING(enc.ptr()), static_cast<size_t>(PyBytes_GET_SIZE(enc.ptr())));
        out.keep.push_back(std::move(enc));
        continue;
      }
      out.views.emplace_back(p, static_cast<size_t>(len));
    } else if (PyBytes_Check(item)) {
      out.views.emplace_back(PyBytes_AS_STRING(item), static_cast<size_t>(PyBytes_GET_SIZE(item)));
      out.is_bytes[static_cast<size_t>(i)] = 1;
    } else if (PyByteArray_Check(item)) {
      out.views.emplace_back(PyByteArray_AS_STRING(item), static_cast<size_t>(PyByteArray_GET_SIZE(item)));
      out.is_bytes[static_cast<size_t>(i)] = 1;
    } else if (item == Py_None || (PyFloat_Check(item) && std::isnan(PyFloat_AS_DOUBLE(item)))) {
      out.views.emplace_back();  // missing (None, or NaN from pandas string columns)
    } else {
      throw py::type_error(std::string(what) + ": row " + std::to_string(i) + ": expected str or bytes, got " +
                           Py_TYPE(item)->tp_name);
    }
  }
  return out;
}

py::list to_str_list(const std::vector<std::string>& strings);

// The kernel's output as a list of str, or kept in C++ as a TextColumn (for rewrites of records).
py::object texts_out(std::vector<std::string>&& strings, bool as_column) {
  if (!as_column) return to_str_list(strings);
  return py::cast(std::make_shared<airtune::io::SelectedText>(airtune::io::text_column(std::move(strings), "texts")));
}

py::list to_str_list(const std::vector<std::string>& strings) {
  py::list out(strings.size());
  for (size_t i = 0; i < strings.size(); ++i) {
    PyObject* s = PyUnicode_DecodeUTF8(strings[i].data(), static_cast<Py_ssize_t>(strings[i].size()), "replace");
    if (!s) throw py::error_already_set();
    PyList_SET_ITEM(out.ptr(), static_cast<Py_ssize_t>(i), s);
  }
  return out;
}

py::object html_to_text(const py::sequence& docs, const std::string& mode, bool links, bool alt_texts,
                        const std::string& headings, bool list_bullets, bool keep_hidden, int64_t max_tree_items,
                        bool as_column) {
  HtmlToTextOptions opt;
  if (mode == "main_content")
    opt.mode = ExtractMode::kMainContent;
  else if (mode == "full")
    opt.mode = ExtractMode::kFull;
  else
    throw airtune::InvalidArgument("mode: expected 'main_content' or 'full', got '" + mode + "'");
  if (headings == "plain")
    opt.headings = HeadingStyle::kPlain;
  else if (headings == "markdown")
    opt.headings = HeadingStyle::kMarkdown;
  else
    throw airtune::InvalidArgument("headings: expected 'plain' or 'markdown', got '" + headings + "'");
  opt.links = links;
  opt.alt_texts = alt_texts;
  opt.list_bullets = list_bullets;
  opt.keep_hidden = keep_hidden;
  if (max_tree_items < 1)
    throw airtune::InvalidArgument("max_tree_items: expected a positive count, got " + std::to_string(max_tree_items));
  opt.max_tree_items = static_cast<size_t>(max_tree_items);
  TextViews in = text_views(docs, "docs");
  std::vector<std::string> out;
  {
    py::gil_scoped_release release;
    out = airtune::clean::html_to_text_batch(in.views, in.is_bytes, opt);
  }
  return texts_out(std::move(out), as_column);
}

py::object fix_text(const py::sequence& texts, const std::string& unescape_html, bool fix_encoding,
                    bool fix_c1_controls, bool remove_control_chars, bool remove_zero_width, bool fix_line_breaks,
                    bool fix_latin_ligatures, bool uncurl_quotes, bool normalize_whitespace,
                    const std::string& normalization, bool as_column) {
  airtune::clean::FixTextOptions opt;
  const auto form = airtune::core::parse_unicode_form(normalization);
  if (!form)
    throw airtune::InvalidArgument("normalization: expected NFC, NFKC, NFD, NFKD or none, got '" + normalization + "'");
  opt.normalization = *form;
  if (unescape_html == "auto")
    opt.unescape_html = airtune::clean::UnescapeHtml::kAuto;
  else if (unescape_html == "yes")
    opt.unescape_html = airtune::clean::UnescapeHtml::kYes;
  else if (unescape_html == "no")
    opt.unescape_html = airtune::clean::UnescapeHtml::kNo;
  else
    throw airtune::InvalidArgument("unescape_html: expected 'auto', 'yes' or 'no', got '" + unescape_html + "'");
  opt.fix_encoding = fix_encoding;
  opt.fix_c1_controls = fix_c1_controls;
  opt.remove_control_chars = remove_control_chars;
  opt.remove_zero_width = remove_zero_width;
  opt.fix_line_breaks = fix_line_breaks;
  opt.fix_latin_ligatures = fix_latin_ligatures;
  opt.uncurl_quotes = uncurl_quotes;
  opt.normalize_whitespace = normalize_whitespace;
  TextViews in = text_views(texts, "texts");
  std::vector<std::string> out;
  {
    py::gil_scoped_release release;
    out = airtune::clean::fix_text_batch(in.views, opt);
  }
  return texts_out(std::move(out), as_column);
}

// (keep mask, reasons list with None for kept rows, texts after line-level rules)
// (keep: uint8 per text, reason per text (None when kept), texts after the line rules)
using QualityOut = py::typing::Tuple<py::array_t<uint8_t>, py::typing::List<py::typing::Optional<py::str>>, py::list>;

QualityOut quality_filter(const py::sequence& texts, const airtune::clean::QualityParams& params) {
  TextViews in = text_views(texts, "texts");
  std::vector<airtune::clean::QualityVerdict> verdicts;
  {
    py::gil_scoped_release release;
    verdicts = airtune::clean::quality_check_batch(in.views, params);
  }
  std::vector<uint8_t> keep(verdicts.size());
  py::list reasons(verdicts.size());
  std::vector<std::string> cleaned(verdicts.size());
  for (size_t i = 0; i < verdicts.size(); ++i) {
    keep[i] = verdicts[i].keep ? 1 : 0;
    reasons[i] = verdicts[i].keep ? py::object(py::none()) : py::object(py::str(verdicts[i].reason));
    cleaned[i] = std::move(verdicts[i].text);
  }
  return QualityOut(py::make_tuple(airtune::bindings::to_numpy(std::move(keep)), reasons, to_str_list(cleaned)));
}

// Per text: what strip_garbage removed, one column per kind of garbage.
struct GarbageCounts {
  std::vector<int64_t> script_blocks, tags, entities, js_lines, base64, tracking_params, bytes_removed;
};

// (texts, counts)
std::pair<py::object, GarbageCounts> strip_garbage(const py::sequence& texts, bool script_blocks, bool tags,
                                                   bool entities, bool js_lines, bool base64, bool tracking_params,
                                                   bool as_column) {
  airtune::clean::GarbageOptions opt;
  opt.script_blocks = script_blocks;
  opt.tags = tags;
  opt.entities = entities;
  opt.js_lines = js_lines;
  opt.base64 = base64;
  opt.tracking_params = tracking_params;
  TextViews in = text_views(texts, "texts");
  std::vector<airtune::clean::GarbageResult> results;
  {
    py::gil_scoped_release release;
    results = airtune::clean::strip_garbage_batch(in.views, opt);
  }
  const size_t n = results.size();
  GarbageCounts c;
  for (auto* v : {&c.script_blocks, &c.tags, &c.entities, &c.js_lines, &c.base64, &c.tracking_params, &c.bytes_removed})
    v->resize(n);
  std::vector<std::string> out(n);
  for (size_t i = 0; i < n; ++i) {
    const auto& r = results[i].report;
    c.script_blocks[i] = r.script_blocks, c.tags[i] = r.tags, c.entities[i] = r.entities, c.js_lines[i] = r.js_lines;
    c.base64[i] = r.base64, c.tracking_params[i] = r.tracking_params, c.bytes_removed[i] = r.bytes_removed;
    out[i] = std::move(results[i].text);
  }
  return {texts_out(std::move(out), as_column), std::move(c)};
}

}  // namespace

namespace airtune::bindings {

void bind_clean(py::module_& m) {
  py::module_ c = m.def_submodule("clean", "HTML to text, garbage stripping, unicode repair, quality filters");

  py::class_<GarbageCounts> garbage(c, "GarbageCounts", "strip_garbage's counts: one entry per text.");
  def_column(garbage, "script_blocks", &GarbageCounts::script_blocks);
  def_column(garbage, "tags", &GarbageCounts::tags);
  def_column(garbage, "entities", &GarbageCounts::entities);
  def_column(garbage, "js_lines", &GarbageCounts::js_lines);
  def_column(garbage, "base64", &GarbageCounts::base64);
  def_column(garbage, "tracking_params", &GarbageCounts::tracking_params);
  def_column(garbage, "bytes_removed", &GarbageCounts::bytes_removed, "UTF-8 bytes removed");
  c.def("html_to_text", &html_to_text, py::arg("docs"), py::arg("mode") = "main_content", py::arg("links") = false,
        py::arg("alt_texts") = false, py::arg("headings") = "plain", py::arg("list_bullets") = true,
        py::arg("keep_hidden") = false,
        py::arg("max_tree_items") = static_cast<int64_t>(airtune::clean::HtmlToTextOptions{}.max_tree_items),
        py::arg("as_column") = false, "Text of each HTML page (str or bytes); runs in parallel with the GIL released.");
  c.def("fix_text", &fix_text, py::arg("texts"), py::arg("unescape_html") = "auto", py::arg("fix_encoding") = true,
        py::arg("fix_c1_controls") = true, py::arg("remove_control_chars") = true, py::arg("remove_zero_width") = true,
        py::arg("fix_line_breaks") = true, py::arg("fix_latin_ligatures") = true, py::arg("uncurl_quotes") = false,
        py::arg("normalize_whitespace") = true, py::arg("normalization") = "NFC", py::arg("as_column") = false,
        "Unicode repair of each text, then Unicode normalisation (utf8proc).");
  c.def("strip_garbage", &strip_garbage, py::arg("texts"), py::arg("script_blocks") = true, py::arg("tags") = true,
        py::arg("entities") = true, py::arg("js_lines") = true, py::arg("base64") = true,
        py::arg("tracking_params") = true, py::arg("as_column") = false,
        "Remove leaked markup, JS, base64 and tracking parameters.");

  using airtune::clean::QualityParams;
  py::class_<QualityParams> qp(c, "QualityParams", "Switches and thresholds of the quality filters.");
  qp.def(py::init<>());
#define AIRTUNE_FIELD(name) qp.def_readwrite(#name, &QualityParams::name)
  AIRTUNE_FIELD(gopher_repetition);
  AIRTUNE_FIELD(gopher_quality);
  AIRTUNE_FIELD(c4);
  AIRTUNE_FIELD(fineweb);
  AIRTUNE_FIELD(c4_filter_no_terminal_punct);
  AIRTUNE_FIELD(c4_min_sentences);
  AIRTUNE_FIELD(c4_min_words_per_line);
  AIRTUNE_FIELD(c4_max_word_length);
  AIRTUNE_FIELD(c4_filter_lorem_ipsum);
  AIRTUNE_FIELD(c4_filter_javascript);
  AIRTUNE_FIELD(c4_filter_curly_bracket);
  AIRTUNE_FIELD(c4_filter_policy);
  AIRTUNE_FIELD(c4_remove_citations);
  AIRTUNE_FIELD(min_doc_words);
  AIRTUNE_FIELD(max_doc_words);
  AIRTUNE_FIELD(min_avg_word_length);
  AIRTUNE_FIELD(max_avg_word_length);
  AIRTUNE_FIELD(max_symbol_word_ratio);
  AIRTUNE_FIELD(max_bullet_lines_ratio);
  AIRTUNE_FIELD(max_ellipsis_lines_ratio);
  AIRTUNE_FIELD(max_non_alpha_words_ratio);
  AIRTUNE_FIELD(min_stop_words);
  AIRTUNE_FIELD(dup_line_frac);
  AIRTUNE_FIELD(dup_para_frac);
  AIRTUNE_FIELD(dup_line_char_frac);
  AIRTUNE_FIELD(dup_para_char_frac);
  AIRTUNE_FIELD(top_2_gram_frac);
  AIRTUNE_FIELD(top_3_gram_frac);
  AIRTUNE_FIELD(top_4_gram_frac);
  AIRTUNE_FIELD(dup_5_gram_frac);
  AIRTUNE_FIELD(dup_6_gram_frac);
  AIRTUNE_FIELD(dup_7_gram_frac);
  AIRTUNE_FIELD(dup_8_gram_frac);
  AIRTUNE_FIELD(dup_9_gram_frac);
  AIRTUNE_FIELD(dup_10_gram_frac);
  AIRTUNE_FIELD(line_punct_thr);
  AIRTUNE_FIELD(line_punct_exclude_zero);
  AIRTUNE_FIELD(short_line_thr);
  AIRTUNE_FIELD(short_line_length);
  AIRTUNE_FIELD(char_duplicates_ratio);
  AIRTUNE_FIELD(new_line_ratio);
#undef AIRTUNE_FIELD

  using airtune::clean::ChatQualityParams;
  // After QualityParams is registered, so that its signature (and the stub) names the class.
  c.def("quality_filter", &quality_filter, py::arg("texts"), py::arg("params"),
        "Run the enabled quality filters: (keep uint8 array, reasons, texts after line rules).");

  py::class_<ChatQualityParams> cp(c, "ChatQualityParams", "Switches and thresholds of the chat quality checks.");
  cp.def(py::init<>());
#define AIRTUNE_FIELD(name) cp.def_readwrite(#name, &ChatQualityParams::name)
  AIRTUNE_FIELD(no_assistant);
  AIRTUNE_FIELD(empty_turn);
  AIRTUNE_FIELD(turn_too_long);
  AIRTUNE_FIELD(max_turn_chars);
  AIRTUNE_FIELD(markup);
  AIRTUNE_FIELD(refusal);
  AIRTUNE_FIELD(truncated);
  AIRTUNE_FIELD(truncated_min_words);
  AIRTUNE_FIELD(language_mismatch);
  AIRTUNE_FIELD(language_min_letters);
  AIRTUNE_FIELD(length_ratio);
  AIRTUNE_FIELD(max_length_ratio);
  AIRTUNE_FIELD(min_length_ratio);
  AIRTUNE_FIELD(repetition);
  AIRTUNE_FIELD(max_dup_line_frac);
#undef AIRTUNE_FIELD
  c.def("chat_quality_rules", &airtune::clean::chat_quality_rules);
  c.def(
      "chat_quality",
      [](const airtune::io::RecordBatch& batch, const ChatQualityParams& params) {
        std::vector<airtune::clean::ChatVerdict> verdicts;
        {
          py::gil_scoped_release release;
          verdicts = airtune::clean::chat_quality_batch(batch, params);
        }
        std::vector<uint8_t> keep(verdicts.size());
        py::list reasons(verdicts.size());
        for (size_t i = 0; i < verdicts.size(); ++i) {
          keep[i] = verdicts[i].keep ? 1 : 0;
          reasons[i] = verdicts[i].keep ? py::object(py::none()) : py::object(py::str(verdicts[i].reason));
        }
        return py::make_tuple(airtune::bindings::to_numpy(std::move(keep)), reasons);
      },
      py::arg("batch"), py::arg("params"),
      "Chat quality checks of every record: (keep uint8 array, reasons with None for kept rows).");
}

}  // namespace airtune::bindings
