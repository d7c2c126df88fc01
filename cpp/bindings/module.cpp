// airtune._core: exception translation, build information, threads; then every area's bindings.
#include <dlfcn.h>
#include <faiss/Index.h>
#include <faiss/IndexFlat.h>
#include <omp.h>
#include <oneapi/tbb/version.h>
#include <pybind11/pybind11.h>
#include <pybind11/typing.h>
#include <simdjson.h>

#include <climits>
#include <cstdlib>
#include <string>
#include <vector>

#include "airtune_registry.h"
#include "core/errors.h"
#include "core/threading.h"
#include "error_translation.h"
#include "vectors/blas.h"

namespace py = pybind11;

#ifndef AIRTUNE_NN_TORCH_VERSION
#define AIRTUNE_NN_TORCH_VERSION ""  // built without the libtorch module _nn
#endif

#define AIRTUNE_STRINGIFY_(x) #x
#define AIRTUNE_STRINGIFY(x) AIRTUNE_STRINGIFY_(x)

namespace {

// Created once and deliberately never freed: exception types live as long as the interpreter.
PyObject* g_parse_error = nullptr;

void translate(std::exception_ptr p) { airtune::bindings::translate_airtune_errors(p, g_parse_error); }

// OpenMP (FAISS) and OpenBLAS get the same thread count as the arena.
void sync_external_threads(int n) {
  omp_set_num_threads(n);
  airtune::vectors::set_blas_threads(n);
}

// A FAISS search large enough to go through BLAS sgemm: proves FAISS links and which BLAS it runs on.
void faiss_probe() {
  constexpr int kDim = 8, kRows = 64;
  std::vector<float> x(kDim * kRows);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7919) % 101) / 101.0f;
  faiss::IndexFlatIP index(kDim);
  index.add(kRows, x.data());
  std::vector<float> distances(kRows);
  std::vector<faiss::Index::idx_t> labels(kRows);
  index.search(kRows, x.data(), 1, distances.data(), labels.data());
}

// build_info's values: versions and names (str), flags (bool), counts (int); "blas" is a mapping.
using BlasInfo = py::typing::Dict<py::str, py::typing::Union<py::str, py::int_>>;
using BuildInfo = py::typing::Dict<py::str, py::typing::Union<py::str, py::bool_, py::int_, BlasInfo>>;

BlasInfo blas_info() {
  BlasInfo info;
  std::string path;
  faiss_probe();
  if (void* sym = airtune::vectors::linked_symbol("sgemm_")) {
    Dl_info dl{};
    if (dladdr(sym, &dl) && dl.dli_fname) {
      char resolved[PATH_MAX];
      path = realpath(dl.dli_fname, resolved) ? resolved : dl.dli_fname;
    }
  }
  const std::string config = airtune::vectors::blas_config();
  std::string name = "unknown";
  if (!config.empty())
    name = "openblas";
  else if (path.find("mkl") != std::string::npos)
    name = "mkl";
  else if (path.find("/blas/") != std::string::npos)
    name = "reference";
  info["name"] = name;
  info["library"] = path;
  info["config"] = config;
  info["core"] = airtune::vectors::blas_core();
  info["threads"] = airtune::vectors::blas_threads();
  return info;
}

BuildInfo build_info() {
  BuildInfo info;
  info["version"] = AIRTUNE_VERSION;
  info["faiss"] = std::to_string(FAISS_VERSION_MAJOR) + "." + std::to_string(FAISS_VERSION_MINOR) + "." +
                  std::to_string(FAISS_VERSION_PATCH);
#if __has_include(<faiss/gpu/StandardGpuResources.h>)
  info["faiss_gpu"] = true;
#else
  info["faiss_gpu"] = false;
#endif
  info["simdjson"] = AIRTUNE_STRINGIFY(SIMDJSON_VERSION);
  info["simdjson_implementation"] = simdjson::get_active_implementation()->name();
  info["onetbb"] = std::string(TBB_runtime_version());
  info["openmp_max_threads"] = omp_get_max_threads();
  info["blas"] = blas_info();
  info["compiler"] = std::string("g++ ") + __VERSION__;
  info["num_threads"] = airtune::core::num_threads();
  return info;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "airtune's C++ core (no torch). Use the airtune package rather than this module.";
  m.attr("__version__") = AIRTUNE_VERSION;
  m.attr("NN_TORCH_VERSION") = AIRTUNE_NN_TORCH_VERSION;

  g_parse_error = PyErr_NewExceptionWithDoc(
      "airtune.ParseError",
      "Malformed input. Attributes: source (file), line and column (1-based; 0 if unknown), reason.", PyExc_ValueError,
      nullptr);
  m.attr("ParseError") = py::handle(g_parse_error);
  py::register_exception_translator(&translate);

  airtune::core::on_num_threads_changed(&sync_external_threads);
  m.def("build_info", &build_info, "Versions of the libraries linked into _core and the BLAS in use.");
  m.def("set_num_threads", &airtune::core::set_num_threads, py::arg("n"),
        "Size of the oneTBB arena (and of OpenMP/OpenBLAS) used by all airtune work.");
  m.def("get_num_threads", &airtune::core::num_threads);

  airtune::bindings::register_all(m);
}
