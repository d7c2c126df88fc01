// Unicode repair for text fields, in the spirit of ftfy (python-ftfy), without its Python cost.
//
// Steps, in order (each can be turned off):
//   1. unescape_html: decode character references (&amp; &#8217; ...); kAuto does it only when the
//      text has no '<' (it is then not HTML source), as ftfy does.
//   2. fix_encoding: mojibake repair. Runs of non-ASCII characters that are all windows-1252 or
//      latin-1 characters are re-encoded to bytes; every complete UTF-8 sequence found in those bytes
//      is decoded ("cafÃ©" -> "café", "â€œ" -> "“"); repeated up to three times for text that was
//      mis-decoded twice. Two-byte sequences are only taken when they decode to C1 controls, Latin, Greek,
//      Cyrillic, Hebrew or Arabic letters, so real text such as "CAFÉ…" is left alone. Leftover C1
//      controls (U+0080-U+009F) are read as the windows-1252 characters they stand for.
//   3. remove_control_chars: C0 controls except tab, LF, FF and CR; DEL; U+206A-206F; U+FFF9-FFFC;
//      tag characters U+E0000-E007F (ftfy's set). remove_zero_width: U+200B, U+2060, U+FEFF.
//   4. fix_line_breaks: CR LF, CR, U+0085, U+2028, U+2029 -> LF.
//   5. fix_latin_ligatures: ﬁ -> fi and the other Latin compatibility ligatures (ftfy's table).
//   6. uncurl_quotes: ‘ ’ ‚ ‛ -> ' and “ ” „ ‟ -> ".
//   7. normalize_whitespace: other space characters (no-break, en/em, ideographic...) -> ' ', trailing
//      spaces of lines removed, runs of blank lines -> one blank line, leading/trailing blank space
//      of the text removed.
//   8. normalization: Unicode normalisation form (NFC by default; NFKC, NFD, NFKD or none), with
//      utf8proc (core/normalize.h).
//
// Thread safety: pure functions; the batch form runs in parallel in airtune's arena. Any bytes are
// accepted: invalid UTF-8 becomes U+FFFD first. Time and memory are linear in the input.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/normalize.h"

namespace airtune::clean {

enum class UnescapeHtml { kNo, kYes, kAuto };

struct FixTextOptions {
  UnescapeHtml unescape_html = UnescapeHtml::kAuto;
  bool fix_encoding = true;
  bool fix_c1_controls = true;
  bool remove_control_chars = true;
  bool remove_zero_width = true;
  bool fix_line_breaks = true;
  bool fix_latin_ligatures = true;
  bool uncurl_quotes = false;
  bool normalize_whitespace = true;
  core::UnicodeForm normalization = core::UnicodeForm::kNFC;
};

/// The repaired text (valid UTF-8).
std::string fix_text(std::string_view text, const FixTextOptions& options);

/// fix_text over many texts, in parallel.
std::vector<std::string> fix_text_batch(const std::vector<std::string_view>& texts, const FixTextOptions& options);

}  // namespace airtune::clean
