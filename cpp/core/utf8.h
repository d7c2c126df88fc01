// UTF-8 helpers shared by the readers and text modules.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace airtune::core {

/// True when `s` is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). SIMD-accelerated.
bool is_valid_utf8(std::string_view s) noexcept;

/// Byte offset of the first invalid UTF-8 sequence in `s`, or s.size() when it is all valid.
size_t first_invalid_utf8(std::string_view s) noexcept;

/// Number of code points in valid UTF-8 `s` (counts lead bytes; invalid bytes count as one each).
size_t utf8_length(std::string_view s) noexcept;

/// Appends code point `cp` as UTF-8; surrogates and values above U+10FFFF become U+FFFD.
void append_utf8(std::string& out, char32_t cp);

/// The longest prefix of `s` of at most `max_bytes` bytes that does not cut a UTF-8 sequence.
std::string_view utf8_truncate(std::string_view s, size_t max_bytes) noexcept;

}  // namespace airtune::core
