// Text normalisation: the one definition of "the same text" (exact dedup, holdout grouping,
// leakage, the MinHash index, chat-quality checks).
//
// normalize() maps a UTF-8 text to its normal form in one pass over code points:
//   1. Unicode form (utf8proc): NFKC by default (full-width letters, ligatures, compatibility
//      characters folded), NFC, or none;
//   2. case folding: full Unicode case folding (utf8proc's, so "ß" == "ss" and "É" == "é");
//   3. whitespace: every Unicode space separator, line/paragraph separator and ASCII/C1 space
//      control becomes a separator; runs collapse to one ' ', trimmed at both ends;
//   4. punctuation (off by default): every code point of a Unicode punctuation (P*) or symbol (S*)
//      category becomes a separator (ASCII: !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~);
//   5. digits (off by default): every decimal digit (Nd) becomes '0'.
// ASCII-only texts never reach utf8proc (a table per option set, 64 bytes per step on CPUs with
// AVX-512 VBMI2), so ASCII data pays nothing for the Unicode steps. A text that is not valid UTF-8
// skips steps 1-2 for its non-ASCII bytes, which are kept as they are (ASCII case folding still
// applies): the result is deterministic.
//
// unicode_normalize() is the plain NFC/NFKC/NFD/NFKD transform (fix_text's last step).
//
// Thread safety: pure functions; the buffers they use are thread-local.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace airtune::core {

enum class UnicodeForm : uint8_t { kNone = 0, kNFC = 1, kNFKC = 2, kNFD = 3, kNFKD = 4 };

/// "none", "NFC", "NFKC", "NFD", "NFKD" (case-insensitive); nullopt otherwise.
std::optional<UnicodeForm> parse_unicode_form(std::string_view name) noexcept;
std::string_view unicode_form_name(UnicodeForm form) noexcept;

struct NormalizeOptions {
  bool lowercase = true;                  ///< full Unicode case folding
  bool collapse_whitespace = true;        ///< runs of whitespace -> one space, trimmed at both ends
  bool strip_punctuation = false;         ///< punctuation and symbols -> space (then collapsed when that is on)
  bool digits_to_zero = false;            ///< every decimal digit -> '0'
  UnicodeForm form = UnicodeForm::kNFKC;  ///< kNone, kNFC or kNFKC (decomposed forms are not identities)

  /// The options as bit flags (the MinHash index file stores them): bit 0 lowercase, 1 whitespace,
  /// 2 punctuation, 3 digits, bits 4-6 the Unicode form.
  uint32_t flags() const noexcept;
  static NormalizeOptions from_flags(uint32_t flags);  ///< throws InvalidArgument on unknown bits
};

/// Writes the normalised form of `text` into `out` (cleared first; capacity reused).
void normalize_into(std::string_view text, const NormalizeOptions& options, std::string& out);

/// The normalised form of `text`.
std::string normalize(std::string_view text, const NormalizeOptions& options);

/// `text` in Unicode normalisation form `form` (kNone returns it unchanged). Invalid UTF-8 is
/// returned unchanged.
std::string unicode_normalize(std::string_view text, UnicodeForm form);

namespace detail {
/// The ASCII fast path's kernels, each callable by tests: scalar everywhere, AVX-512 VBMI2
/// (Ice Lake, Zen 4 and later) where the CPU has it; normalize() picks the best once.
enum class AsciiKernel : uint8_t { kScalar, kAvx512 };
bool ascii_kernel_available(AsciiKernel kernel);
/// normalize() of an all-ASCII `text` into `out` (room for text.size() bytes); returns the
/// output length. Throws InvalidArgument for a kernel this CPU lacks.
size_t normalize_ascii(std::string_view text, const NormalizeOptions& options, char* out, AsciiKernel kernel);
}  // namespace detail

}  // namespace airtune::core
