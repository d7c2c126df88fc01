// Text primitives shared by the metrics: UTF-8 decoding, Python's notion of whitespace
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

/// Decodes the code point at s[i] (valid UTF-8) and advances i past it.
inline char32_t next_code_point(std::string_view s, size_t& i) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  if (b0 < 0xE0) {
    char32_t cp = ((b0 & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
    i += 2;
    return cp;
  }
  if (b0 < 0xF0) {
    char32_t cp = ((b0 & 0x0Fu) << 12) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6) |
                  (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
    i += 3;
    return cp;
  }
  char32_t cp = ((b0 & 0x07u) << 18) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 12) |
                ((static_cast<unsigned char>(s[i + 2]) & 0x3Fu) << 6) | (static_cast<unsigned char>(s[i + 3]) & 0x3Fu);
  i += 4;
  return cp;
}

/// Appends the UTF-8 encoding of cp to out.
using core::append_utf8;  // UTF-8 encoding of one code point (cpp/core/utf8.h)

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
