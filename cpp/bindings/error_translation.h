// Translation of airtune's C++ errors (cpp/core/errors.h) into Python exceptions, shared by
// _core and _nn. Plain CPython API only: the two modules are compiled against different pybind11
// copies (ours and torch's), so this header must not depend on either.
//
//   ParseError      -> airtune.ParseError (a ValueError) with source, line, column, reason set
//   IoError         -> OSError
//   InvalidArgument -> ValueError
//   FormatError     -> ValueError
//   other Error     -> RuntimeError
// Anything else is rethrown for the next translator. Call with the GIL held.
// Messages are UTF-8 with any other byte shown as \xNN: they may name a path that is not UTF-8.
#pragma once

#include <Python.h>

#include <exception>

#include "core/errors.h"

namespace airtune::bindings {

inline void set_attr(PyObject* obj, const char* name, PyObject* value) {
  if (value) {
    PyObject_SetAttrString(obj, name, value);
    Py_DECREF(value);
  }
}

/// A str from UTF-8 bytes that may not be UTF-8 (paths): invalid bytes become \xNN.
inline PyObject* text(const std::string& s) {
  return PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "backslashreplace");
}

inline void set_error(PyObject* type, const char* message) {
  PyObject* value = text(message);
  if (!value) return;  // the failed decode left its own Python error set
  PyErr_SetObject(type, value);
  Py_DECREF(value);
}

/// `parse_error` is the airtune.ParseError type object (borrowed; must outlive the call).
inline void translate_airtune_errors(std::exception_ptr p, PyObject* parse_error) {
  try {
    if (p) std::rethrow_exception(p);
  } catch (const airtune::ParseError& e) {
    PyObject* message = text(e.what());
    PyObject* inst = message ? PyObject_CallFunctionObjArgs(parse_error, message, nullptr) : nullptr;
    Py_XDECREF(message);
    if (!inst) return;  // the failed call left its own Python error set
    set_attr(inst, "source", text(e.source()));
    set_attr(inst, "line", PyLong_FromLongLong(e.line()));
    set_attr(inst, "column", PyLong_FromLongLong(e.column()));
    set_attr(inst, "reason", text(e.reason()));
    PyErr_SetObject(parse_error, inst);
    Py_DECREF(inst);
  } catch (const airtune::IoError& e) {
    set_error(PyExc_OSError, e.what());
  } catch (const airtune::InvalidArgument& e) {
    set_error(PyExc_ValueError, e.what());
  } catch (const airtune::FormatError& e) {
    set_error(PyExc_ValueError, e.what());
  } catch (const airtune::Error& e) {
    set_error(PyExc_RuntimeError, e.what());
  }
}

}  // namespace airtune::bindings
