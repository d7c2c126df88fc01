// HTML character references (&amp; &#233; &#x2014; and the 2,231 WHATWG named references).
//
// Thread safety: pure functions over a static sorted table.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace airtune::clean {

/// Tries to decode the character reference that starts at s[i] == '&'. On success appends the
/// UTF-8 replacement to `out` and returns the number of input bytes consumed (> 0); returns 0 when
/// s[i..] is not a reference (the caller then copies '&' literally). Numeric references follow the
/// HTML rules: 0x80-0x9F map through cp1252, 0, surrogates and values > U+10FFFF give U+FFFD.
/// `in_attribute` applies the attribute rule for legacy names without ';' (not decoded when the next
/// character is alphanumeric or '=').
size_t decode_entity(std::string_view s, size_t i, std::string& out, bool in_attribute = false);

/// Appends `s` to `out` with every character reference decoded.
void append_unescaped(std::string& out, std::string_view s, bool in_attribute = false);

}  // namespace airtune::clean
