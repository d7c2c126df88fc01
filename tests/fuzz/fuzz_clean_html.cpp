// Fuzz target for airtune::clean: any bytes through html_to_text (both modes, as bytes and as text,
// all options), strip_garbage, fix_text and the quality filters. Every output must be valid UTF-8;
// sanitizers catch memory errors and undefined behaviour. Replayed over
// tests/fuzz/corpus/fuzz_clean_html/ by CTest.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "clean/fix_text.h"
#include "clean/html_to_text.h"
#include "clean/quality_filter.h"
#include "clean/strip_garbage.h"
#include "core/utf8.h"

namespace {

void require_utf8(const std::string& s) {
  if (!airtune::core::is_valid_utf8(s)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace airtune::clean;
  if (size > (1u << 20)) return 0;
  const uint8_t flags = size > 0 ? data[0] : 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  HtmlToTextOptions opt;
  opt.links = flags & 1;
  opt.alt_texts = flags & 2;
  opt.headings = (flags & 4) ? HeadingStyle::kMarkdown : HeadingStyle::kPlain;
  opt.list_bullets = flags & 8;
  opt.keep_hidden = flags & 16;
  for (ExtractMode mode : {ExtractMode::kFull, ExtractMode::kMainContent}) {
    opt.mode = mode;
    require_utf8(html_to_text(input, opt, /*is_bytes=*/true));
    require_utf8(html_to_text(input, opt, /*is_bytes=*/false));
  }

  GarbageOptions g;
  const GarbageResult garbage = strip_garbage(input, g);
  require_utf8(garbage.text);
  if (garbage.report.total() < 0) std::abort();

  FixTextOptions f;
  f.uncurl_quotes = flags & 32;
  require_utf8(fix_text(input, f));

  QualityParams q;
  q.c4 = q.gopher_quality = q.gopher_repetition = q.fineweb = true;
  const QualityVerdict v = quality_check(input, q);
  require_utf8(v.text);
  if (v.keep != v.reason.empty()) std::abort();
  return 0;
}
