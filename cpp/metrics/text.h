// Text primitives shared by the metrics (UTF-8 decoding is core/utf8.h's): Python's notion of whitespace
// (str.split / str.rstrip), the Unicode classes of the tokenisers, and token interning.
//
// All functions take valid UTF-8 (callers check with core::is_valid_utf8 and report the row);
// string_views returned point into the input or into a caller-owned buffer, never own memory.
// Thread safety: pure functions, safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/utf8.h"

namespace airtune::metrics {

using core::next_code_point;  // decoding of validated UTF-8 (cpp/core/utf8.h)

using core::append_utf8;

/// Python's str.isspace(): the separators of str.split() and str.rstrip().
bool is_py_space(char32_t cp) noexcept;
/// Python re's `\w` for str patterns (letters, digits, underscore in Unicode).
bool is_py_word(char32_t cp) noexcept;
/// Unicode general categories P*, S*, N* as the `regex` module sees them.
bool is_unicode_punct(char32_t cp) noexcept;
bool is_unicode_symbol(char32_t cp) noexcept;
bool is_unicode_number(char32_t cp) noexcept;

/// Python's s.split() with no argument: maximal runs of non-whitespace, appended to out.
void py_split(std::string_view s, std::vector<std::string_view>& out);

/// Python's s.rstrip() with no argument.
std::string_view py_rstrip(std::string_view s) noexcept;

/// Bits needed to store ids < count (at least 1).
int bits_for(uint64_t count) noexcept;

}  // namespace airtune::metrics
