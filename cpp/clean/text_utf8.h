// Small UTF-8 encode/decode helpers used across airtune::clean (no allocation of their own).
//
// Thread safety: all functions are pure. Invalid input never crashes: decode_utf8 reports a bad
// byte as U+FFFD with length 1, so a scan over any bytes makes progress and stays in bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/utf8.h"

namespace airtune::clean {

constexpr char32_t kReplacementChar = 0xFFFD;

/// Decodes the code point at s[i] (i < s.size()). Sets `len` to the bytes consumed (1..4).
/// Invalid, truncated, overlong or surrogate sequences give U+FFFD with len = 1.
char32_t decode_utf8(std::string_view s, size_t i, size_t& len) noexcept;

/// Appends the UTF-8 form of `cp` to `out`; surrogates and values > U+10FFFF become U+FFFD.
using core::append_utf8;  // UTF-8 encoding of one code point (cpp/core/utf8.h)

/// Appends `s` to `out` with every invalid UTF-8 sequence replaced by U+FFFD.
void append_sanitized_utf8(std::string& out, std::string_view s);

/// Unicode code point -> cp1252 byte (0x00-0xFF) or -1. Latin-1 code points map to themselves
/// (including the C1 controls U+0080-U+009F, so text decoded as either latin-1 or cp1252 reverses).
int cp1252_byte(char32_t cp) noexcept;

/// cp1252 byte -> Unicode code point (undefined slots 0x81, 0x8D, 0x8F, 0x90, 0x9D map to the C1 control).
char32_t cp1252_char(uint8_t b) noexcept;

/// True for the Unicode White_Space characters plus U+200B (zero width space).
bool is_unicode_space(char32_t cp) noexcept;

}  // namespace airtune::clean
