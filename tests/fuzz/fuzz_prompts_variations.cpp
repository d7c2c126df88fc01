// Fuzz target for prompt variations: any bytes as a prompt. Invalid UTF-8 and empty prompts must
// throw InvalidArgument; otherwise the protected spans must be sorted, disjoint and inside the text,
// and every variant must contain every protected span byte for byte (a text protected k times
// occurs at least k times; it may also occur in unprotected text, which variants may change).
// Never a crash.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/errors.h"
#include "prompts/protected_spans.h"
#include "prompts/scaffolds.h"
#include "prompts/variations.h"

using namespace airtune::prompts;

namespace {
size_t count(std::string_view hay, std::string_view needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string_view::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

const Variator& variator() {
  static const Variator v(
      Lexicon{{{"make sure to", "be sure to"}, {"concise", "brief"}, {"^you are a", "^act as a"}, {"respond", "reply"}},
              {{"do not", "don't"}, {"you are", "you're"}},
              {"keep", "respond", "be", "do", "use"},
              {"this", "it", "then"},
              {"Please", "Make sure to"}});
  return v;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view prompt(reinterpret_cast<const char*>(data), size);
  VariationOptions o;
  o.n = 4;
  o.min_distance = 0.0;
  o.max_attempts = 12;
  o.seed = size;
  VariationResult r;
  try {
    r = variator().generate(prompt, o);
  } catch (const airtune::InvalidArgument&) {
    return 0;
  }
  size_t prev_end = 0;
  for (const auto& s : r.protected_spans) {
    if (s.begin < prev_end || s.end <= s.begin || s.end > prompt.size()) std::abort();
    prev_end = s.end;
  }
  for (const auto& v : r.variants) {
    for (const auto& s : r.protected_spans) {
      const std::string_view span = prompt.substr(s.begin, s.end - s.begin);
      size_t protected_times = 0;
      for (const auto& o : r.protected_spans) protected_times += prompt.substr(o.begin, o.end - o.begin) == span;
      if (count(v.text, span) < protected_times) std::abort();
    }
  }
  (void)find_scaffolds({prompt, prompt.substr(0, size / 2), prompt.substr(size / 3)}, size % 2 == 1, 1, 2);
  return 0;
}
