// UTF-8 helpers shared by the readers and text modules: the one decoder and encoder of airtune.
//
// Two ways to decode, one definition of a code point:
//   decode_utf8       any bytes: an invalid, truncated, overlong or surrogate sequence reads as
//                     U+FFFD of length 1, so a scan over untrusted bytes always makes progress;
//   next_code_point   trusted input only (already checked with is_valid_utf8 / first_invalid_utf8,
//                     as the metrics do per row): no checks, for the tokenisers' inner loops.
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace airtune::core {

inline constexpr char32_t kReplacementChar = 0xFFFD;

/// True when `s` is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). SIMD-accelerated.
bool is_valid_utf8(std::string_view s) noexcept;

/// Byte offset of the first invalid UTF-8 sequence in `s`, or s.size() when it is all valid.
size_t first_invalid_utf8(std::string_view s) noexcept;

/// Number of code points in valid UTF-8 `s` (counts lead bytes; invalid bytes count as one each).
size_t utf8_length(std::string_view s) noexcept;

/// Decodes the code point at s[i] (i < s.size()) and sets `len` to the bytes it takes (1..4).
/// Invalid, truncated, overlong or surrogate sequences give U+FFFD with len = 1.
char32_t decode_utf8(std::string_view s, size_t i, size_t& len) noexcept;

/// Decodes the code point at s[i] of VALID UTF-8 and advances i past it (no checks).
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

/// Byte offsets where the code points of `s` start, then s.size() (cleared first; a stray
/// continuation byte belongs to the code point before it). For code-point n-grams.
void code_point_starts(std::string_view s, std::vector<size_t>& starts);

/// The code points of `s` (any bytes; invalid sequences become U+FFFD as in decode_utf8).
std::u32string to_u32(std::string_view s);

/// The UTF-8 form of code points (surrogates and values above U+10FFFF become U+FFFD).
std::string to_utf8(std::u32string_view s);

/// Appends code point `cp` as UTF-8; surrogates and values above U+10FFFF become U+FFFD.
void append_utf8(std::string& out, char32_t cp);

/// The longest prefix of `s` of at most `max_bytes` bytes that does not cut a UTF-8 sequence.
std::string_view utf8_truncate(std::string_view s, size_t max_bytes) noexcept;

}  // namespace airtune::core
