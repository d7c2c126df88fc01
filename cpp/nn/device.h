// Device selection shared by every libtorch feature.
#pragma once

#include <torch/types.h>

#include <string>

namespace airtune::nn {

/// "auto" -> CUDA when libtorch sees a device, else CPU; "cpu", "cuda", "cuda:N" as given.
/// Throws InvalidArgument for anything else, or for "cuda" when no CUDA device is available.
torch::Device resolve_device(const std::string& name);

}  // namespace airtune::nn
