// airtune._core.records: the text stages work on, taken out of records (selectors), and rewritten
// message contents written back, all columnar in C++ (see io/text_select.h).
#include <pybind11/stl.h>

#include <memory>

#include "common.h"
#include "core/normalize.h"
#include "core/threading.h"
#include "io/arrow_json.h"
#include "io/line_parser.h"
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

JsonColumn::Kind kind_of(const std::string& k) {
  using K = JsonColumn::Kind;
  static const std::pair<const char*, K> kinds[] = {
      {"null", K::kNull},     {"bool", K::kBool},       {"int64", K::kInt64},
      {"uint64", K::kUInt64}, {"float64", K::kFloat64}, {"string", K::kString},
      {"json", K::kRawJson},  {"list", K::kList},       {"struct", K::kStruct}};
  for (const auto& [name, kind] : kinds)
    if (k == name) return kind;
  throw InvalidArgument("arrow column: unknown kind '" + k + "'");
}

JsonColumn::Mode mode_of(const std::string& m) {
  if (m == "value") return JsonColumn::Mode::kValue;
  if (m == "skip_null") return JsonColumn::Mode::kSkipNull;
  if (m == "splice") return JsonColumn::Mode::kSplice;
  throw InvalidArgument("arrow column: unknown mode '" + m + "'");
}

// A JsonColumn over the buffers described by `d` (made by airtune.io.arrow_in); the numpy arrays
// are kept alive in `keep`.
JsonColumn column_from(const py::dict& d, std::vector<py::array>& keep) {
  JsonColumn c;
  c.kind = kind_of(d["kind"].cast<std::string>());
  c.length = d["length"].cast<int64_t>();
  c.offset = d.contains("offset") ? d["offset"].cast<int64_t>() : 0;
  auto buffer = [&](const char* key) -> const void* {
    if (!d.contains(key) || d[key].is_none()) return nullptr;
    py::array a = py::array::ensure(d[key], py::array::c_style);
    if (!a) throw InvalidArgument(std::string("arrow column: buffer '") + key + "' is not an array");
    keep.push_back(a);
    return a.data();
  };
  c.validity = static_cast<const uint8_t*>(buffer("validity"));
  c.values = buffer("values");
  c.data = static_cast<const char*>(buffer("data"));
  if (d.contains("offsets") && !d["offsets"].is_none()) {
    py::array a = py::array::ensure(d["offsets"], py::array::c_style);
    keep.push_back(a);
    if (a.itemsize() == 8)
      c.offsets64 = static_cast<const int64_t*>(a.data());
    else if (a.itemsize() == 4)
      c.offsets32 = static_cast<const int32_t*>(a.data());
    else
      throw InvalidArgument("arrow column: offsets must be int32 or int64");
  }
  if (d.contains("children"))
    for (auto child : d["children"].cast<py::list>()) c.children.push_back(column_from(child.cast<py::dict>(), keep));
  if (d.contains("names")) c.names = d["names"].cast<std::vector<std::string>>();
  if (d.contains("modes"))
    for (auto m : d["modes"].cast<std::vector<std::string>>()) c.modes.push_back(mode_of(m));
  if ((c.kind == JsonColumn::Kind::kList) != (c.children.size() == 1 && c.kind == JsonColumn::Kind::kList))
    throw InvalidArgument("arrow column: a list needs exactly one child");
  if (c.kind == JsonColumn::Kind::kStruct && c.names.size() != c.children.size())
    throw InvalidArgument("arrow column: struct names and children differ in number");
  return c;
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
      "json_array_elements",
      [](const std::string& text) {
        SelectedText out;
        {
          py::gil_scoped_release release;
          out.text = json_array_elements(text);
        }
        out.present.assign(out.text.size(), 1);
        out.selector = "json";
        return std::make_shared<SelectedText>(std::move(out));
      },
      py::arg("text"), "The compact JSON text of each element of a JSON array (one json.dumps for a column).");

  r.def(
      "parse_arrow",
      [](const py::dict& table, const std::string& format, const std::string& id_prefix, int64_t first_number) {
        std::vector<py::array> keep;
        const JsonColumn t = column_from(table, keep);
        const auto f = parse_format(format);
        if (!f) throw InvalidArgument("unknown format '" + format + "'");
        auto batch = std::make_shared<RecordBatch>();
        std::vector<LineError> errors;
        int64_t blank = 0;
        {
          py::gil_scoped_release release;
          constexpr int64_t kRows = 65536, kTask = 1024;
          LineParser parser(*f, id_prefix, SIZE_MAX);
          std::vector<airtune::core::StringColumn> parts;
          for (int64_t start = 0; start < t.length; start += kRows) {
            const int64_t stop = std::min(t.length, start + kRows);
            const int64_t tasks = (stop - start + kTask - 1) / kTask;
            parts.assign(static_cast<size_t>(tasks), {});
            airtune::core::parallel_for(static_cast<size_t>(tasks), 1, [&](size_t tb, size_t te) {
              for (size_t k = tb; k < te; ++k) {
                const int64_t b = start + static_cast<int64_t>(k) * kTask;
                encode_rows(t, b, std::min(stop, b + kTask), parts[k]);
                parts[k].data.append(simdjson::SIMDJSON_PADDING, ' ');  // readable padding, not in any line
              }
            });
            std::vector<LineInput> inputs;
            inputs.reserve(static_cast<size_t>(stop - start));
            int64_t row = start;
            for (const auto& part : parts)
              for (size_t j = 0; j < part.size(); ++j, ++row) {
                std::string_view line = part[j];
                const size_t readable = part.data.size() - static_cast<size_t>(part.offsets[j]);
                inputs.push_back({line, readable, first_number + row});
              }
            std::vector<const RecordBatch*> chunks;
            for (ParsedChunk& chunk : parser.parse(inputs)) {
              chunks.push_back(&chunk.batch);
              for (auto& [index, e] : chunk.errors) errors.push_back(std::move(e));
              blank += chunk.blank;
            }
            batch->append_all(chunks);
          }
        }
        py::list errs;
        for (auto& e : errors) errs.append(py::make_tuple(e.line, e.column, e.field, e.reason));
        return py::make_tuple(batch, errs, blank);
      },
      py::arg("table"), py::arg("format") = "auto", py::arg("id_prefix") = "arrow", py::arg("first_number") = 0,
      "Records from Arrow columns (described by airtune.io.arrow_in): encoded to JSON and parsed in C++.");

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
