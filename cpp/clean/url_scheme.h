// The scheme of a URL as browsers read it, to keep script URLs out of extracted text.
//
// A browser decodes an attribute value (character references: see html_tokenizer.h) and then hands
// it to the WHATWG URL parser, which strips leading and trailing C0 controls and spaces
// (U+0000-U+0020), removes ASCII tab and newline (U+0009, U+000A, U+000D) anywhere, and reads the
// scheme as an ASCII letter followed by letters, digits, '+', '-' or '.' up to ':', case-insensitively.
// So "&#x6A;avascript:", "java\tscript:", "\x01javascript:" and "JaVaScRiPt&colon;" are all
// javascript: URLs; these functions see them as the browser does (given the decoded value).
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace airtune::clean {

/// `url` as the URL parser starts from it: leading/trailing C0 controls and spaces stripped, ASCII tab
/// and newline removed.
std::string url_as_parsed(std::string_view url);

/// The lower-cased scheme of `url` (without ':'), or "" when it has none (a relative URL).
std::string url_scheme(std::string_view url);

/// True when following `url` runs script or renders a document inline: javascript:, vbscript: and
/// data: URLs.
bool is_script_url(std::string_view url);

}  // namespace airtune::clean
