// Decoding raw page bytes to UTF-8: byte-order marks, <meta charset> / http-equiv declarations,
// and a fallback for undeclared non-UTF-8 bytes.
//
// Supported encodings: UTF-8, UTF-16LE/BE (with a BOM), windows-1252 and its aliases (latin-1,
// iso-8859-1, ascii: the WHATWG rule maps them all to windows-1252), and the common single-byte
// encodings (windows-1250/1251/1253-1258, iso-8859-2/4/5/7/9/13/15, koi8-r, koi8-u, macintosh; see
// charset_tables.inc). Multi-byte legacy encodings (Shift_JIS, GBK, Big5, EUC-*) are read as UTF-8
// with invalid sequences replaced by U+FFFD (never an error). Undeclared bytes that are not valid
// UTF-8 are read as windows-1252.
//
// Thread safety: pure functions. Memory: at most one output string of about 3x the input.
#pragma once

#include <string>
#include <string_view>

namespace airtune::clean {

enum class Charset { kUtf8, kUtf16Le, kUtf16Be, kWindows1252, kSingleByte, kOther };

/// The encoding that `raw` declares (BOM first, then a meta declaration in the first 4 KiB).
/// `declared` is set to whether a declaration was found at all.
Charset sniff_charset(std::string_view raw, bool& declared);

/// Valid UTF-8 text of `raw`. Returns a view of `raw` itself when no conversion is needed (the
/// common case: valid UTF-8 without a BOM), else of `storage`, which it fills.
std::string_view decode_to_utf8(std::string_view raw, std::string& storage);

}  // namespace airtune::clean
