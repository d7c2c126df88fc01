// The HTML elements airtune::clean knows, with the properties text extraction needs.
//
// Thread safety: lookups read a static table.
#pragma once

#include <cstdint>
#include <string_view>

namespace airtune::clean {

/// Properties of an element (bit flags).
enum TagFlag : uint32_t {
  kTagVoid = 1u << 0,          ///< no content, no end tag (br, img, ...)
  kTagSkip = 1u << 1,          ///< content is never text (script, style, svg, template, head, ...)
  kTagBlock = 1u << 2,         ///< starts and ends a line
  kTagParagraph = 1u << 3,     ///< starts and ends a paragraph (blank line)
  kTagHeading = 1u << 4,       ///< h1-h6
  kTagListItem = 1u << 5,      ///< li
  kTagList = 1u << 6,          ///< ul, ol, menu, dir
  kTagCell = 1u << 7,          ///< td, th
  kTagRow = 1u << 8,           ///< tr
  kTagPre = 1u << 9,           ///< whitespace kept (pre, listing, plaintext)
  kTagLink = 1u << 10,         ///< a
  kTagBoilerplate = 1u << 11,  ///< nav, aside, footer, form controls: removed in main_content mode
  kTagHeadOnly = 1u << 12,     ///< may appear in <head> without closing it
  kTagFormControl = 1u << 13,  ///< input, select, textarea, button, option
};

/// Id of a known tag (stable within a build); unknown tag names get ids >= kFirstCustomTag.
enum class Tag : uint16_t {
  kUnknown = 0,
#define AIRTUNE_TAG(id, name, flags) id,
#include "clean/html_tag_list.inc"
#undef AIRTUNE_TAG
  kCount
};

constexpr uint32_t kFirstCustomTag = static_cast<uint32_t>(Tag::kCount);

/// The known tag called `lower_name`, or Tag::kUnknown.
Tag lookup_tag(std::string_view lower_name) noexcept;

/// Flags of a tag id (0 for custom ids).
uint32_t tag_flags(uint32_t id) noexcept;

/// Heading level 1-6 for h1-h6, else 0.
int heading_level(uint32_t id) noexcept;

}  // namespace airtune::clean
