// Fuzz target for airtune::clean: any bytes through html_to_text (both modes, as bytes and as text,
// all options), strip_garbage, fix_text and the quality filters. Every output must be valid UTF-8;
// the streamed events of a page must be those of its stored tree; main_content over its tree cap must
// be the full text; the URL scheme must not depend on what the URL parser strips. Sanitizers catch
// memory errors and undefined behaviour. Replayed over tests/fuzz/corpus/fuzz_clean_html/ by CTest.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "clean/fix_text.h"
#include "clean/html_dom.h"
#include "clean/html_to_text.h"
#include "clean/quality_filter.h"
#include "clean/strip_garbage.h"
#include "clean/text_utf8.h"
#include "clean/url_scheme.h"
#include "core/utf8.h"

namespace {

using namespace airtune::clean;

void require(bool ok) {
  if (!ok) std::abort();
}

void require_utf8(const std::string& s) { require(airtune::core::is_valid_utf8(s)); }

// The events as a string, adjacent text runs merged (the stored tree merges them).
class EventLog final : public DomVisitor {
 public:
  void open(int32_t i, const DomNode& n, std::string_view href) override {
    log += "<" + std::to_string(i) + ":" + std::to_string(n.tag) + ":" + std::to_string(n.flags) + ":";
    log.append(href);
    last_text_ = std::string::npos;
  }
  void close(int32_t i, const DomNode& n, std::string_view) override {
    log += ">" + std::to_string(i) + ":" + std::to_string(n.end);
    last_text_ = std::string::npos;
  }
  void leaf(DomLeaf::Kind k, int32_t i, const DomNode&, std::string_view t) override {
    if (k != DomLeaf::kText || last_text_ != log.size()) log += "|" + std::to_string(k) + ":" + std::to_string(i) + ":";
    log.append(t);
    last_text_ = k == DomLeaf::kText ? log.size() : std::string::npos;
  }
  std::string log;

 private:
  size_t last_text_ = std::string::npos;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
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

  // Streaming (full mode) and the stored tree (main_content) see the same events.
  std::string utf8;
  append_sanitized_utf8(utf8, input);
  EventLog streamed, replayed;
  stream_dom(utf8, streamed);
  replay_dom(build_dom(utf8), replayed);
  require(streamed.log == replayed.log);
  // Over its tree cap, main_content is the full text (a cap of 1 leaves room for the root only).
  opt.mode = ExtractMode::kFull;
  const std::string full_text = html_to_text(input, opt, false);
  opt.mode = ExtractMode::kMainContent;
  opt.max_tree_items = 1;
  require(html_to_text(input, opt, false) == full_text);
  // What the URL parser strips never changes the scheme.
  require(url_scheme(input) == url_scheme(url_as_parsed(input)));

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
