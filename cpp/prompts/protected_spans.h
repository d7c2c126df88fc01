// Protected spans of a prompt: the parts that prompt variations must copy byte for byte.
//
// find_protected_spans() locates fenced code blocks (``` or ~~~), inline code (`...`), URLs
// (http://, https://, www.), placeholders ({name}, {{var}}, ${var}), XML-like tags (<context>,
// </context>), snake_case identifiers (label and field names such as talk_to_agent), e-mail
// addresses, JSON values (objects starting with `{"` or `{}`, arrays starting with `[{`, `["` or
// `[[`, balanced with string awareness; JSON schemas included; an unbalanced one runs to the end of
// the text, the conservative choice) and caller-given byte ranges, and merges overlapping ones.
//
// Offsets are bytes into the UTF-8 text; spans are half-open [begin, end), sorted, disjoint.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace airtune::prompts {

enum class SpanKind : uint8_t {
  kFencedCode,
  kInlineCode,
  kUrl,
  kPlaceholder,
  kTag,
  kJson,
  kCaller,
  kIdentifier,
  kEmail
};

/// The name of a kind ("fenced_code", "inline_code", "url", "placeholder", "tag", "json", "caller",
/// "identifier", "email").
const char* span_kind_name(SpanKind kind) noexcept;

struct Span {
  size_t begin = 0;
  size_t end = 0;
  SpanKind kind = SpanKind::kCaller;
};

/// All protected spans of `text`, merged (an overlap keeps the kind of the earlier span).
/// `caller` holds extra [begin, end) byte ranges; a range outside the text or not on UTF-8
/// character boundaries throws InvalidArgument naming it. Linear in the text size.
std::vector<Span> find_protected_spans(std::string_view text,
                                       const std::vector<std::pair<size_t, size_t>>& caller = {});

}  // namespace airtune::prompts
