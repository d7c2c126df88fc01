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

/// `parse_error` is the airtune.ParseError type object (borrowed; must outlive the call).
inline void translate_airtune_errors(std::exception_ptr p, PyObject* parse_error) {
  try {
    if (p) std::rethrow_exception(p);
  } catch (const airtune::ParseError& e) {
    PyObject* inst = PyObject_CallFunction(parse_error, "s", e.what());
    if (!inst) return;  // the failed call left its own Python error set
    set_attr(inst, "source", PyUnicode_FromString(e.source().c_str()));
    set_attr(inst, "line", PyLong_FromLongLong(e.line()));
    set_attr(inst, "column", PyLong_FromLongLong(e.column()));
    set_attr(inst, "reason", PyUnicode_FromString(e.reason().c_str()));
    PyErr_SetObject(parse_error, inst);
    Py_DECREF(inst);
  } catch (const airtune::IoError& e) {
    PyErr_SetString(PyExc_OSError, e.what());
  } catch (const airtune::InvalidArgument& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const airtune::FormatError& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const airtune::Error& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
}

}  // namespace airtune::bindings
