// Text normalisation before hashing (exact dedup, MinHash shingles).
//
// Works on UTF-8 bytes in one pass. Case folding here is ASCII only and NFKC is not applied:
// the Python layer (airtune.dedup) applies unicodedata NFKC and str.lower() to non-ASCII rows
// first when those options are on, so the C++ pass only needs to be exact for ASCII. Unicode
// whitespace (U+00A0, U+2000-U+200A, U+2028/9, U+202F, U+205F, U+3000) counts as whitespace;
// ASCII punctuation, Latin-1 punctuation (U+00A1-U+00BF) and the General Punctuation and CJK
// punctuation blocks (U+2010-U+205E, U+3001-U+303F) count as punctuation. Invalid UTF-8 bytes
// are kept as they are.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace airtune::dedup {

struct NormalizeOptions {
  bool lowercase = true;            ///< ASCII A-Z -> a-z
  bool collapse_whitespace = true;  ///< runs of whitespace -> one space, trimmed at both ends
  bool strip_punctuation = false;   ///< punctuation -> space (then collapsed when that is on)
  bool digits_to_zero = false;      ///< every ASCII digit -> '0'
};

/// Writes the normalised form of `text` into `out` (cleared first; capacity reused).
void normalize_into(std::string_view text, const NormalizeOptions& options, std::string& out);

/// The normalised form of `text`.
std::string normalize(std::string_view text, const NormalizeOptions& options);

}  // namespace airtune::dedup
