// Helpers shared by the binding files: text in without copies, columns out without copies.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/errors.h"
#include "core/string_column.h"
#include "io/text_select.h"

namespace airtune::bindings {

namespace py = pybind11;

/// The C++ text column behind `obj` when it is an airtune._core.records.TextColumn (the text a
/// selector took out of records), else nullptr. Its views stay valid while `obj` is alive.
inline const io::SelectedText* text_column_of(const py::handle& obj) {
  if (!py::isinstance<io::SelectedText>(obj)) return nullptr;
  return &obj.cast<const io::SelectedText&>();
}

/// Views of every string of a text column (no copy).
inline std::vector<std::string_view> column_views(const io::SelectedText& col) {
  std::vector<std::string_view> out(col.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = col.text[i];
  return out;
}

/// UTF-8 views of a sequence of str (or bytes) without copying: str objects cache their UTF-8
/// form, and the views stay valid while `seq` is alive and unmodified. Call with the GIL held;
/// use the views after releasing it. None becomes an empty view. Other types raise TypeError
/// naming the row. A TextColumn (records' text from a selector) is viewed in place.
inline std::vector<std::string_view> utf8_views(const py::sequence& seq) {
  if (const io::SelectedText* col = text_column_of(seq)) return column_views(*col);
  std::vector<std::string_view> out;
  const size_t n = py::len(seq);
  out.reserve(n);
  py::object fast = py::reinterpret_steal<py::object>(PySequence_Fast(seq.ptr(), "expected a sequence"));
  if (!fast) throw py::error_already_set();
  PyObject** items = PySequence_Fast_ITEMS(fast.ptr());
  for (size_t i = 0; i < n; ++i) {
    PyObject* item = items[i];
    if (PyUnicode_Check(item)) {
      Py_ssize_t len = 0;
      const char* p = PyUnicode_AsUTF8AndSize(item, &len);
      if (!p) throw py::error_already_set();
      out.emplace_back(p, static_cast<size_t>(len));
    } else if (PyBytes_Check(item)) {
      out.emplace_back(PyBytes_AS_STRING(item), static_cast<size_t>(PyBytes_GET_SIZE(item)));
    } else if (item == Py_None) {
      out.emplace_back();
    } else {
      throw py::type_error("row " + std::to_string(i) + ": expected str or bytes, got " +
                           std::string(Py_TYPE(item)->tp_name));
    }
  }
  return out;
}

/// A numpy array that views `vec`'s memory; `owner` keeps it alive (no copy).
template <typename T, typename Owner>
py::array_t<T> view_of(const std::vector<T>& vec, const std::shared_ptr<Owner>& owner) {
  auto* keep = new std::shared_ptr<Owner>(owner);
  py::capsule base(keep, [](void* p) { delete static_cast<std::shared_ptr<Owner>*>(p); });
  return py::array_t<T>({static_cast<py::ssize_t>(vec.size())}, {static_cast<py::ssize_t>(sizeof(T))}, vec.data(),
                        base);
}

/// A vector moved into a numpy array that owns it (no copy of the elements).
template <typename T>
py::array_t<T> to_numpy(std::vector<T>&& vec) {
  auto owner = std::make_shared<std::vector<T>>(std::move(vec));
  return view_of(*owner, owner);
}

/// A numpy array of `shape` (C order) viewing `vec`'s memory; its base is `owner`, the Python
/// object that holds `vec`, so no copy is made and `vec` lives as long as the array.
template <typename T>
py::array_t<T> view_in(const std::vector<T>& vec, const py::object& owner, std::vector<py::ssize_t> shape = {}) {
  if (shape.empty()) shape.push_back(static_cast<py::ssize_t>(vec.size()));
  std::vector<py::ssize_t> strides(shape.size(), static_cast<py::ssize_t>(sizeof(T)));
  for (size_t i = shape.size() - 1; i > 0; --i) strides[i - 1] = strides[i] * shape[i];
  return py::array_t<T>(shape, strides, vec.data(), owner);
}

/// Binds `field`, a std::vector<T> column of the result struct S, as a read-only property of `cls`
/// returning a 1-D numpy array that views the vector (view_in: no copy, the array keeps the
/// struct's Python object alive). The one way a result struct's columns cross into Python
/// (docs/ARCHITECTURE.md, "The Python/C++ boundary"); def_matrix for a row-major matrix.
template <typename S, typename T, typename... Options>
py::class_<S, Options...>& def_column(py::class_<S, Options...>& cls, const char* name, std::vector<T> S::*field,
                                      const char* doc = "") {
  return cls.def_property_readonly(
      name, [field](const py::object& self) { return view_in(self.cast<const S&>().*field, self); }, doc);
}

/// def_column for a row-major matrix held in one vector: `width` (a member of S) columns.
template <typename S, typename T, typename W, typename... Options>
py::class_<S, Options...>& def_matrix(py::class_<S, Options...>& cls, const char* name, std::vector<T> S::*field,
                                      W S::*width, const char* doc = "") {
  return cls.def_property_readonly(
      name,
      [field, width](const py::object& self) {
        const S& s = self.cast<const S&>();
        const auto w = static_cast<py::ssize_t>(s.*width);
        const auto n = static_cast<py::ssize_t>((s.*field).size());
        return view_in(s.*field, self, {w > 0 ? n / w : 0, w});
      },
      doc);
}

/// A StringColumn moved out as (data: uint8 array, offsets: int64 array, valid: uint8 array or
/// None), the three buffers of an Arrow large_string array (no copy of the bytes). The Python side
/// assembles them with airtune._arrow.
inline py::tuple string_column_buffers(core::StringColumn&& col) {
  auto owner = std::make_shared<core::StringColumn>(std::move(col));
  auto* keep = new std::shared_ptr<core::StringColumn>(owner);
  py::capsule base(keep, [](void* p) { delete static_cast<std::shared_ptr<core::StringColumn>*>(p); });
  py::array_t<uint8_t> data({static_cast<py::ssize_t>(owner->data.size())}, {1},
                            reinterpret_cast<const uint8_t*>(owner->data.data()), base);
  py::object valid = owner->valid.empty() ? py::object(py::none()) : py::object(view_of(owner->valid, owner));
  return py::make_tuple(data, view_of(owner->offsets, owner), valid);
}

}  // namespace airtune::bindings
