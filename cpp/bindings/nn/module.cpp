// airtune._nn: the libtorch part of airtune. Compiled against torch's own pybind11 so that
// torch.Tensor arguments and results cross the boundary without conversion.
#include <torch/extension.h>
#include <torch/version.h>

namespace {

// Proves the link: a tensor goes in, C++ computes on it, a tensor comes back (same dtype/device).
torch::Tensor roundtrip(const torch::Tensor& x) {
  pybind11::gil_scoped_release release;
  return (x.contiguous() * 2).contiguous();
}

bool cuda_available() { return torch::cuda::is_available(); }

pybind11::dict build_info() {
  pybind11::dict info;
  info["torch_compiled"] = AIRTUNE_TORCH_VERSION;
  info["torch_runtime"] = TORCH_VERSION;
  info["cuda_available"] = torch::cuda::is_available();
  info["cuda_devices"] = torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
  return info;
}

}  // namespace

PYBIND11_MODULE(_nn, m) {
  m.doc() = "airtune's libtorch module. Use airtune.nn / airtune.train rather than this module.";
  m.def("roundtrip", &roundtrip, pybind11::arg("x"), "Returns 2 * x computed by libtorch in C++.");
  m.def("cuda_available", &cuda_available, "True when libtorch sees a CUDA device.");
  m.def("build_info", &build_info);
}
