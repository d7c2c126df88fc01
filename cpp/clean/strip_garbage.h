// Garbage in plain-text fields: what leaks into production responses and scraped text fields.
//
// Removed, in this order (each can be turned off), with a count of each kind in the report:
//   1. script_blocks: <script>...</script> and <style>...</style> blocks with their content (an
//      unclosed one runs to the end of the text), and HTML comments <!-- ... -->;
//   2. tags: start/end tags of known HTML elements (<div class="x">, </p>, <br/>); block-level ones
//      leave a line break, inline ones nothing. "a < b" and "<T>" (unknown names) stay;
//   3. entities: character references terminated by ';' (&amp; &nbsp; &#39; &#x2014;) are decoded;
//   4. js_lines: lines that read as JavaScript (at least two signals among: function/=>, var/let/const
//      declarations, document./window./jQuery/$(, addEventListener, console., dataLayer/gtag, and a
//      line made mostly of code punctuation); javascript: and vbscript: URLs (after step 3, so
//      "javascript&colon;" is one);
//   5. base64: data: URIs and runs of 64+ base64 characters mixing upper case, lower case and digits;
//   6. tracking_params: utm_*, fbclid, gclid, dclid, msclkid, mc_cid, mc_eid, _ga, _gl, yclid, igshid
//      and similar query parameters of http(s) URLs (a URL left without parameters loses its '?').
// Afterwards runs of spaces are collapsed, trailing spaces removed and 3+ line breaks become 2.
//
// Thread safety: pure functions; the batch form runs in parallel. Any bytes are accepted (invalid
// UTF-8 becomes U+FFFD). Time and memory are linear in the input.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace airtune::clean {

struct GarbageOptions {
  bool script_blocks = true;
  bool tags = true;
  bool entities = true;
  bool js_lines = true;
  bool base64 = true;
  bool tracking_params = true;
};

struct GarbageReport {
  int64_t script_blocks = 0;
  int64_t tags = 0;
  int64_t entities = 0;
  int64_t js_lines = 0;
  int64_t base64 = 0;
  int64_t tracking_params = 0;
  int64_t bytes_removed = 0;  ///< input bytes minus output bytes

  int64_t total() const { return script_blocks + tags + entities + js_lines + base64 + tracking_params; }
};

struct GarbageResult {
  std::string text;
  GarbageReport report;
};

GarbageResult strip_garbage(std::string_view text, const GarbageOptions& options);

std::vector<GarbageResult> strip_garbage_batch(const std::vector<std::string_view>& texts,
                                               const GarbageOptions& options);

}  // namespace airtune::clean
