// airtune._core.clean: HTML to text, garbage stripping, unicode repair, quality filters.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <string_view>
#include <vector>

#include "clean/html_to_text.h"
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
    } else if (item == Py_None) {
      out.views.emplace_back();
    } else {
      throw py::type_error(std::string(what) + ": row " + std::to_string(i) + ": expected str or bytes, got " +
                           Py_TYPE(item)->tp_name);
    }
  }
  return out;
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

py::list html_to_text(const py::sequence& docs, const std::string& mode, bool links, bool alt_texts,
                      const std::string& headings, bool list_bullets, bool keep_hidden) {
  HtmlToTextOptions opt;
  if (mode == "main_content") opt.mode = ExtractMode::kMainContent;
  else if (mode == "full") opt.mode = ExtractMode::kFull;
  else throw airtune::InvalidArgument("mode: expected 'main_content' or 'full', got '" + mode + "'");
  if (headings == "plain") opt.headings = HeadingStyle::kPlain;
  else if (headings == "markdown") opt.headings = HeadingStyle::kMarkdown;
  else throw airtune::InvalidArgument("headings: expected 'plain' or 'markdown', got '" + headings + "'");
  opt.links = links;
  opt.alt_texts = alt_texts;
  opt.list_bullets = list_bullets;
  opt.keep_hidden = keep_hidden;
  TextViews in = text_views(docs, "docs");
  std::vector<std::string> out;
  {
    py::gil_scoped_release release;
    out = airtune::clean::html_to_text_batch(in.views, in.is_bytes, opt);
  }
  return to_str_list(out);
}

}  // namespace

namespace airtune::bindings {

void bind_clean(py::module_& m) {
  py::module_ c = m.def_submodule("clean", "HTML to text, garbage stripping, unicode repair, quality filters");
  c.def("html_to_text", &html_to_text, py::arg("docs"), py::arg("mode") = "main_content", py::arg("links") = false,
        py::arg("alt_texts") = false, py::arg("headings") = "plain", py::arg("list_bullets") = true,
        py::arg("keep_hidden") = false,
        "Text of each HTML page (str or bytes); runs in parallel with the GIL released.");
}

}  // namespace airtune::bindings
