// airtune._core.records: the text stages work on, taken out of records (selectors), and rewritten
// message contents written back, all columnar in C++ (see io/text_select.h).
#include <pybind11/stl.h>

#include <memory>

#include "common.h"
#include "core/normalize.h"
#include "io/text_select.h"

namespace py = pybind11;
using airtune::InvalidArgument;
using namespace airtune::io;

namespace {

using BatchPtr = std::shared_ptr<RecordBatch>;
using ColumnPtr = std::shared_ptr<SelectedText>;
using I64 = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

std::vector<std::string> role_list(const py::object& roles) {
  if (roles.is_none()) return {};
  if (py::isinstance<py::str>(roles)) return {roles.cast<std::string>()};
  return roles.cast<std::vector<std::string>>();
}

py::str decode(std::string_view s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace");
  if (!o) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}

}  // namespace

namespace airtune::bindings {

void bind_records(py::module_& m) {
  auto r = m.def_submodule("records", "Selectors (text out of records) and rewrites (contents back in), in C++.");

  py::class_<SelectedText, ColumnPtr>(
      r, "TextColumn",
      "One text per row, owned by C++ (a selector's result or a kernel's output). Every text binding "
      "of airtune._core reads it in place.")
      .def("__len__", &SelectedText::size)
      .def("__getitem__",
           [](const SelectedText& self, int64_t i) {
             const int64_t n = static_cast<int64_t>(self.size());
             if (i < 0) i += n;
             if (i < 0 || i >= n) throw py::index_error("text " + std::to_string(i) + " out of range");
             return decode(self.text[static_cast<size_t>(i)]);
           })
      .def(
          "to_list",
          [](const SelectedText& self) {
            py::list out(self.size());
            for (size_t i = 0; i < self.size(); ++i) out[i] = decode(self.text[i]);
            return out;
          },
          "The texts as a list of str.")
      .def("byte_lengths",
           [](const SelectedText& self) {
             std::vector<int64_t> out(self.size());
             for (size_t i = 0; i < out.size(); ++i) out[i] = self.text.offsets[i + 1] - self.text.offsets[i];
             return to_numpy(std::move(out));
           })
      .def_property_readonly(
          "present", [](const ColumnPtr& self) { return view_of(self->present, self); },
          "uint8 per row: 1 when the row had the selected field (a view).")
      .def_readonly("missing", &SelectedText::missing)
      .def_readonly("first_missing", &SelectedText::first_missing)
      .def_readonly("selector", &SelectedText::selector)
      .def(
          "buffers",
          [](const ColumnPtr& self) {
            py::capsule base(new ColumnPtr(self), [](void* p) { delete static_cast<ColumnPtr*>(p); });
            py::array_t<uint8_t> data({static_cast<py::ssize_t>(self->text.data.size())}, {1},
                                      reinterpret_cast<const uint8_t*>(self->text.data.data()), base);
            return py::make_tuple(data, view_of(self->text.offsets, self), py::none());
          },
          "(data, offsets, None): the Arrow large_string buffers (no copy).");

  r.def(
      "select_text",
      [](const RecordBatch& batch, const std::string& selector) {
        const TextSelector sel = parse_selector(selector);
        py::gil_scoped_release release;
        return std::make_shared<SelectedText>(select_text(batch, sel));
      },
      py::arg("batch"), py::arg("selector"), "The selected text of every record (see io/text_select.h).");

  r.def(
      "messages_with_roles",
      [](const RecordBatch& batch, const py::object& roles) {
        const auto names = role_list(roles);
        return to_numpy(messages_with_roles(batch, role_mask(names)));
      },
      py::arg("batch"), py::arg("roles") = py::none(),
      "Indices of the messages of those roles (None or 'all': every role) with a non-null content.");

  r.def(
      "message_record",
      [](const RecordBatch& batch, const I64& messages) {
        std::vector<int64_t> out(static_cast<size_t>(messages.size()));
        const int64_t* p = messages.data();
        const auto& off = batch.message_offsets;
        for (size_t k = 0; k < out.size(); ++k) {
          if (p[k] < 0 || p[k] >= static_cast<int64_t>(batch.message_count()))
            throw InvalidArgument("message index " + std::to_string(p[k]) + " out of range");
          out[k] = static_cast<int64_t>(std::upper_bound(off.begin(), off.end(), p[k]) - off.begin()) - 1;
        }
        return to_numpy(std::move(out));
      },
      py::arg("batch"), py::arg("messages"), "The record of each message index.");

  r.def(
      "message_texts",
      [](const RecordBatch& batch, const I64& messages) {
        std::span<const int64_t> idx(messages.data(), static_cast<size_t>(messages.size()));
        py::gil_scoped_release release;
        return std::make_shared<SelectedText>(message_texts(batch, idx));
      },
      py::arg("batch"), py::arg("messages"));

  r.def(
      "with_contents",
      [](const RecordBatch& batch, const I64& messages, const py::sequence& texts) {
        auto views = utf8_views(texts);
        std::span<const int64_t> idx(messages.data(), static_cast<size_t>(messages.size()));
        py::gil_scoped_release release;
        return std::make_shared<RecordBatch>(with_contents(batch, idx, views));
      },
      py::arg("batch"), py::arg("messages"), py::arg("texts"),
      "A new batch with message messages[k] holding texts[k]; everything else is kept.");

  r.def(
      "with_metadata_field",
      [](const RecordBatch& batch, const std::string& key, const py::sequence& json_values) {
        auto views = utf8_views(json_values);
        airtune::core::StringColumn values;
        for (auto v : views) values.push_back(v);
        py::gil_scoped_release release;
        return std::make_shared<RecordBatch>(with_metadata_field(batch, key, values));
      },
      py::arg("batch"), py::arg("key"), py::arg("json_values"),
      "A new batch with metadata[key] = json_values[i] (JSON texts) in every record.");

  r.def(
      "with_lines",
      [](const RecordBatch& batch, const I64& lines) {
        if (static_cast<size_t>(lines.size()) != batch.size())
          throw InvalidArgument("with_lines: " + std::to_string(lines.size()) + " lines for " +
                                std::to_string(batch.size()) + " records");
        auto out = std::make_shared<RecordBatch>(batch);
        out->line.assign(lines.data(), lines.data() + lines.size());
        return out;
      },
      py::arg("batch"), py::arg("lines"), "A copy of `batch` with these source lines.");

  r.def(
      "empty_message_rows",
      [](const RecordBatch& batch, const py::object& roles) {
        const auto names = role_list(roles);
        return to_numpy(empty_message_rows(batch, role_mask(names)));
      },
      py::arg("batch"), py::arg("roles") = py::none(),
      "uint8 per record: 1 when a message of those roles has an empty content (and no tool calls).");

  r.def(
      "unicode_normalize",
      [](const std::string& text, const std::string& form) {
        const auto f = airtune::core::parse_unicode_form(form);
        if (!f) throw InvalidArgument("form: expected NFC, NFKC, NFD, NFKD or none, got '" + form + "'");
        return airtune::core::unicode_normalize(text, *f);
      },
      py::arg("text"), py::arg("form") = "NFC", "Unicode normalisation (utf8proc).");
}

}  // namespace airtune::bindings
