#include "nn/device.h"

#include <torch/cuda.h>

#include "core/errors.h"

namespace airtune::nn {

torch::Device resolve_device(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available())
      throw InvalidArgument("device '" + name + "' requested but libtorch sees no CUDA device");
    try {
      return torch::Device(name);
    } catch (const std::exception&) {
      throw InvalidArgument("invalid device '" + name + "': use 'auto', 'cpu', 'cuda' or 'cuda:N'");
    }
  }
  throw InvalidArgument("invalid device '" + name + "': use 'auto', 'cpu', 'cuda' or 'cuda:N'");
}

}  // namespace airtune::nn
