// Fuzz target: the safetensors header parser (torch-free) must either return a header whose
// tensors tile the buffer exactly, or throw airtune::Error; never crash or read out of bounds.
// What it accepts must also hold what the torch reader relies on: every name found at its index
// by the hash lookup, shapes whose products fit in int64, and the same header when only the
// first 8 + N bytes are at hand (the metadata path reads no data).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/errors.h"
#include "io/safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto header = airtune::io::parse_safetensors_header(data, size, size, "fuzz");
    uint64_t end = 0;
    for (size_t i = 0; i < header.tensors.size(); ++i) {
      const auto& t = header.tensors[i];
      if (t.begin != end) std::abort();
      end = t.end;
      if (header.find(t.name) != static_cast<int64_t>(i)) std::abort();
      __int128 n = 1;
      for (int64_t d : t.shape) {
        if (d < 0) std::abort();
        n *= d > 0 ? d : 1;
        if (n > INT64_MAX) std::abort();
      }
      (void)t.numel();
    }
    if (header.find("__metadata__") >= 0) std::abort();
    if (header.data_start + end != size) std::abort();
    // The header alone (what read_safetensors_header hands the parser) gives the same result.
    auto head_only = airtune::io::parse_safetensors_header(data, header.data_start, size, "fuzz-head");
    if (head_only.tensors.size() != header.tensors.size() || head_only.metadata != header.metadata) std::abort();
    // Re-serialising what we accepted must parse back to the same layout.
    auto copy = header;
    std::string bytes = airtune::io::serialize_safetensors_header(copy);
    bytes.resize(bytes.size() + end, '\0');
    auto again = airtune::io::parse_safetensors_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                                                       bytes.size(), "fuzz-roundtrip");
    if (again.tensors.size() != header.tensors.size()) std::abort();
    for (const auto& t : header.tensors) {
      const int64_t i = again.find(t.name);
      if (i < 0 || again.tensors[static_cast<size_t>(i)].shape != t.shape) std::abort();
    }
  } catch (const airtune::Error&) {
  }
  return 0;
}
