// Character helpers of airtune::clean: cp1252, Unicode spaces, sanitising. Decoding and encoding
// are core/utf8.h's (decode_utf8 reads any bytes: a bad byte is U+FFFD with length 1).
//
// Thread safety: all functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/utf8.h"

namespace airtune::clean {

using core::append_utf8;
using core::decode_utf8;
using core::kReplacementChar;
using core::to_u32;
using core::to_utf8;

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
