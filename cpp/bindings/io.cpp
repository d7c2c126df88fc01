// airtune._core.io: JSONL reading/writing and the columnar RecordBatch.
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>
#include <pybind11/typing.h>

#include <filesystem>
#include <limits>
#include <memory>
#include <optional>

#include "common.h"
#include "core/enum_names.h"
#include "io/jsonl_reader.h"
#include "io/jsonl_writer.h"
#include "io/line_parser.h"
#include "io/summary.h"

namespace py = pybind11;
using airtune::InvalidArgument;
using namespace airtune::io;

namespace {

Format format_arg(const std::string& name) {
  auto f = parse_format(name);
  if (!f)
    throw InvalidArgument("unknown format '" + name + "': use auto, chat, sharegpt, alpaca, prompt_completion or text");
  return *f;
}

ErrorMode errors_arg(const std::string& name) {
  static constexpr airtune::core::EnumName<ErrorMode> kModes[] = {
      {"raise", ErrorMode::Raise}, {"skip", ErrorMode::Skip}, {"quarantine", ErrorMode::Quarantine}};
  if (const auto mode = airtune::core::find_enum(name, kModes)) return *mode;
  throw InvalidArgument("unknown errors mode '" + name + "': use raise, skip or quarantine");
}

using BatchPtr = std::shared_ptr<RecordBatch>;

// RecordBatch.columns(): {name: array, or a string column's (data, offsets, valid-or-None)}.
using ColumnMap = py::typing::Dict<
    py::str, py::typing::Union<py::array, py::typing::Tuple<py::array, py::array, py::typing::Optional<py::array>>>>;

// (data, offsets, valid) numpy views into a column of a batch that `owner` keeps alive.
py::tuple string_buffers(const airtune::core::StringColumn& col, const BatchPtr& owner) {
  auto* keep = new BatchPtr(owner);
  py::capsule base(keep, [](void* p) { delete static_cast<BatchPtr*>(p); });
  py::array_t<uint8_t> data({static_cast<py::ssize_t>(col.data.size())}, {1},
                            reinterpret_cast<const uint8_t*>(col.data.data()), base);
  py::object valid =
      col.valid.empty() ? py::object(py::none()) : py::object(airtune::bindings::view_of(col.valid, owner));
  return py::make_tuple(data, airtune::bindings::view_of(col.offsets, owner), valid);
}

// (line, column, field, reason) per error
py::typing::List<py::typing::Tuple<py::int_, py::int_, py::str, py::str>> errors_to_list(
    std::vector<LineError>& errors) {
  py::typing::List<py::typing::Tuple<py::int_, py::int_, py::str, py::str>> out;
  for (auto& e : errors) out.append(py::make_tuple(e.line, e.column, e.field, e.reason));
  errors.clear();
  return out;
}

}  // namespace

namespace airtune::bindings {

void bind_io(py::module_& m) {
  auto io = m.def_submodule("io", "JSONL ingestion into canonical records (columnar).");

  // Result structs (io/summary.h, io/jsonl_reader.h).
  py::class_<BatchSummary> summary(io, "BatchSummary", "RecordBatch.summary()'s result (io/summary.h).");
  summary.def_readonly("rows", &BatchSummary::rows)
      .def_readonly("messages", &BatchSummary::messages)
      .def_property_readonly(
          "formats",
          [](const BatchSummary& s) {
            py::typing::Dict<py::str, py::int_> d;
            for (int f = 0; f < kFormatCount; ++f)
              d[py::str(std::string(format_name(static_cast<Format>(f))))] = s.formats[f];
            return d;
          },
          "records per format, in Format order")
      .def_property_readonly(
          "roles",
          [](const BatchSummary& s) {
            py::typing::Dict<py::str, py::int_> d;
            for (int r = 0; r < kRoleCount; ++r) d[py::str(std::string(role_name(static_cast<Role>(r))))] = s.roles[r];
            return d;
          },
          "messages per role, in Role order")
      .def_readonly("instruct_rows", &BatchSummary::instruct_rows, "[system,] user, assistant")
      .def_readonly("rows_with_system", &BatchSummary::rows_with_system)
      .def_readonly("empty_contents", &BatchSummary::empty_contents, "messages with empty or null content")
      .def_readonly("distinct_system_prompts", &BatchSummary::distinct_system_prompts)
      .def_readonly("top_system_prompts", &BatchSummary::top_system_prompts, "(text, count), most frequent first");
  def_column(summary, "turns", &BatchSummary::turns, "messages per record");
  def_column(summary, "content_chars", &BatchSummary::content_chars, "Unicode code points per message");

  py::class_<ReadCounts>(io, "ReadCounts", "What a JsonlReader has read (io/jsonl_reader.h).")
      .def_readonly("lines_read", &ReadCounts::lines_read)
      .def_readonly("kept", &ReadCounts::kept)
      .def_readonly("rejected", &ReadCounts::rejected)
      .def_readonly("blank", &ReadCounts::blank)
      .def_readonly("bytes", &ReadCounts::bytes, "bytes of (decompressed) input consumed")
      .def_readonly("errors_not_kept", &ReadCounts::errors_not_kept, "rejections over max_errors");

  py::class_<RecordBatch, BatchPtr>(io, "RecordBatch", "Canonical records in columns. Immutable once handed to Python.")
      .def(py::init<>())
      .def("__len__", &RecordBatch::size)
      .def_property_readonly("message_count", &RecordBatch::message_count)
      .def(
          "columns",
          [](const BatchPtr& self) {
            using airtune::bindings::view_of;
            ColumnMap d;
            d["id"] = string_buffers(self->id, self);
            d["format"] = view_of(self->format, self);
            d["line"] = view_of(self->line, self);
            d["message_offsets"] = view_of(self->message_offsets, self);
            d["label"] = string_buffers(self->label, self);
            d["metadata"] = string_buffers(self->metadata, self);
            d["role"] = view_of(self->role, self);
            d["content"] = string_buffers(self->content, self);
            d["name"] = string_buffers(self->name, self);
            d["tool_calls"] = string_buffers(self->tool_calls, self);
            d["tool_call_id"] = string_buffers(self->tool_call_id, self);
            d["extra"] = string_buffers(self->extra, self);
            return d;
          },
          "Zero-copy numpy views of every column: string columns as (data, offsets, valid-or-None).")
      .def(
          "take",
          [](const RecordBatch& self, const std::vector<int64_t>& rows) {
            py::gil_scoped_release release;
            return std::make_shared<RecordBatch>(self.take(rows));
          },
          py::arg("rows"))
      .def_static(
          "concat",
          [](const std::vector<BatchPtr>& parts) {
            py::gil_scoped_release release;
            auto out = std::make_shared<RecordBatch>();
            for (const auto& p : parts) out->append(*p);
            return out;
          },
          py::arg("parts"))
      .def(
          "to_json",
          [](const RecordBatch& self, size_t i, const std::string& format) {
            return record_to_json(self, i, format_arg(format));
          },
          py::arg("i"), py::arg("format") = "auto")
      .def("instruct_mask",
           [](const RecordBatch& self) {
             std::vector<uint8_t> mask(self.size());
             for (size_t i = 0; i < self.size(); ++i) mask[i] = self.is_instruct(i);
             return airtune::bindings::to_numpy(std::move(mask));
           })
      .def(
          "summary",
          [](const RecordBatch& self, size_t top_k) {
            BatchSummary s;
            {
              py::gil_scoped_release release;
              s = summarize(self, top_k);
            }
            return s;
          },
          py::arg("top_k") = 5);

  py::class_<JsonlReader>(io, "JsonlReader", "Streaming JSONL reader; see airtune.io.read_jsonl.")
      .def(py::init([](const std::filesystem::path& path, const std::string& format, const std::string& errors,
                       const std::optional<std::filesystem::path>& quarantine_path, size_t block_bytes,
                       size_t max_line_bytes, std::optional<uint64_t> max_bytes, std::optional<int64_t> max_lines,
                       size_t max_errors, uint64_t start_offset, int64_t first_line) {
             ReadOptions o;
             o.format = format_arg(format);
             o.errors = errors_arg(errors);
             if (quarantine_path) o.quarantine_path = quarantine_path->native();
             o.block_bytes = block_bytes;
             o.max_line_bytes = max_line_bytes;
             o.max_bytes = max_bytes.value_or(std::numeric_limits<uint64_t>::max());
             o.max_lines = max_lines.value_or(std::numeric_limits<int64_t>::max());
             o.max_errors = max_errors;
             o.start_offset = start_offset;
             o.first_line = first_line;
             py::gil_scoped_release release;  // opening a FIFO waits for its writer
             return std::make_unique<JsonlReader>(path.native(), std::move(o));
           }),
           py::arg("path"), py::arg("format") = "auto", py::arg("errors") = "raise",
           py::arg("quarantine_path") = py::none(), py::arg("block_bytes") = size_t{16} << 20,
           py::arg("max_line_bytes") = size_t{64} << 20, py::arg("max_bytes") = py::none(),
           py::arg("max_lines") = py::none(), py::arg("max_errors") = size_t{1000},
           py::arg("start_offset") = uint64_t{0}, py::arg("first_line") = int64_t{1},
           "Paths are str, bytes or os.PathLike (file system encoding). max_bytes / max_lines: None for no limit. "
           "start_offset / first_line: read a byte range of a plain file that starts at a line start.")
      .def(
          "read_block",
          [](JsonlReader& self, RecordBatch& out) {
            py::gil_scoped_release release;
            return self.read_block(out);
          },
          py::arg("out"), "Appends the next block's records to `out`; False at the end.")
      .def("finish", &JsonlReader::finish, py::call_guard<py::gil_scoped_release>())
      .def("reserve_for_file", &JsonlReader::reserve_for_file, py::arg("out"),
           "Reserve address space in `out` for the whole file (no reallocation while reading).")
      .def("counts", &JsonlReader::counts)
      .def_property_readonly(
          "limit_reached",
          [](const JsonlReader& self) -> std::optional<std::string> {
            switch (self.limit_reached()) {
              case Limit::MaxBytes:
                return "max_bytes";
              case Limit::MaxLines:
                return "max_lines";
              case Limit::None:
                break;
            }
            return std::nullopt;
          },
          "The limit that ended the read before the end of the input: max_bytes, max_lines or None.")
      .def(
          "take_errors", [](JsonlReader& self) { return errors_to_list(self.errors()); },
          "Errors since the last call as (line, column, field, reason) tuples.")
      .def_property_readonly("file_size", &JsonlReader::file_size);

  io.def(
      "write_jsonl",
      [](const RecordBatch& batch, const std::filesystem::path& path, const std::string& format) {
        const Format f = format_arg(format);
        py::gil_scoped_release release;
        return write_jsonl(batch, path.native(), f);
      },
      py::arg("batch"), py::arg("path"), py::arg("format") = "auto");

  io.def(
      "parse_lines",
      [](const py::sequence& lines, const std::string& format, const std::string& id_prefix, int64_t first_number) {
        std::vector<std::string_view> views = airtune::bindings::utf8_views(lines);
        const Format f = format_arg(format);
        auto batch = std::make_shared<RecordBatch>();
        std::vector<LineError> errors;
        int64_t blank = 0;
        {
          py::gil_scoped_release release;
          std::vector<LineInput> inputs;
          inputs.reserve(views.size());
          for (size_t i = 0; i < views.size(); ++i)
            inputs.push_back({views[i], 0, first_number + static_cast<int64_t>(i)});
          LineParser parser(f, id_prefix, views.empty() ? 1 : SIZE_MAX);
          std::vector<const RecordBatch*> parts;
          for (ParsedChunk& chunk : parser.parse(inputs)) {
            parts.push_back(&chunk.batch);
            for (auto& [index, e] : chunk.errors) errors.push_back(std::move(e));
            blank += chunk.blank;
          }
          batch->append_all(parts);
        }
        return py::make_tuple(batch, errors_to_list(errors), blank);
      },
      py::arg("lines"), py::arg("format") = "auto", py::arg("id_prefix") = "row", py::arg("first_number") = 0,
      "Parses JSON texts (one record each) in parallel: (batch, errors, blank_count).");
}

}  // namespace airtune::bindings
