// Fuzz target: the safetensors header parser (torch-free) must either return a header whose
// tensors tile the buffer exactly, or throw airtune::Error; never crash or read out of bounds.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/errors.h"
#include "io/safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto header = airtune::io::parse_safetensors_header(data, size, size, "fuzz");
    uint64_t end = 0;
    for (const auto& t : header.tensors) {
      if (t.begin != end) std::abort();
      end = t.end;
    }
    if (header.data_start + end != size) std::abort();
    // Re-serialising what we accepted must parse back to the same layout.
    auto copy = header;
    std::string bytes = airtune::io::serialize_safetensors_header(copy);
    bytes.resize(bytes.size() + end, '\0');
    auto again = airtune::io::parse_safetensors_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                                                       bytes.size(), "fuzz-roundtrip");
    if (again.tensors.size() != header.tensors.size()) std::abort();
  } catch (const airtune::Error&) {
  }
  return 0;
}
