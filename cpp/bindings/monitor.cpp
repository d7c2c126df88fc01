// airtune._core.monitor: drift statistics (MMD permutation test).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "common.h"
#include "monitor/mmd.h"

namespace py = pybind11;

namespace airtune::bindings {

void bind_monitor(py::module_& m) {
  auto mo = m.def_submodule("monitor", "Drift statistics of production traffic against the training data.");
  py::class_<monitor::MmdResult>(mo, "MmdResult", "Result of mmd_test (see cpp/monitor/mmd.h).")
      .def_readonly("mmd2", &monitor::MmdResult::mmd2, "observed biased MMD^2")
      .def_readonly("p_value", &monitor::MmdResult::p_value, "permutation p-value")
      .def_readonly("bandwidth", &monitor::MmdResult::bandwidth, "Gaussian kernel bandwidth used")
      .def_property_readonly(
          "null", [](const monitor::MmdResult& r) { return py::array_t<double>(r.null.size(), r.null.data()); },
          "MMD^2 of each permutation (a copy)");
  using F32 = py::array_t<float, py::array::c_style | py::array::forcecast>;
  mo.def(
      "mmd_test",
      [](F32 x, F32 y, double bandwidth, int permutations, uint64_t seed) {
        if (x.ndim() != 2 || y.ndim() != 2) throw InvalidArgument("mmd: expected two 2-D arrays (rows x dims)");
        if (x.shape(1) != y.shape(1))
          throw InvalidArgument("mmd: dimensions differ (" + std::to_string(x.shape(1)) + " vs " +
                                std::to_string(y.shape(1)) + ")");
        py::gil_scoped_release release;
        return monitor::mmd_test(x.data(), x.shape(0), y.data(), y.shape(0), x.shape(1), bandwidth, permutations, seed);
      },
      py::arg("x"), py::arg("y"), py::arg("bandwidth") = 0.0, py::arg("permutations") = 500, py::arg("seed") = 0,
      "Gaussian-kernel MMD^2 of x against y with a permutation p-value (median-heuristic bandwidth when <= 0).");
}

}  // namespace airtune::bindings
