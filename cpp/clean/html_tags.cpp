#include "clean/html_tags.h"

#include <algorithm>
#include <iterator>

namespace airtune::clean {

namespace {

struct TagEntry {
  std::string_view name;
  Tag tag;
  uint32_t flags;
};

// Sorted by name in the .inc file, so lookup is a binary search.
constexpr TagEntry kTags[] = {
#define AIRTUNE_TAG(id, name, flags) {name, Tag::id, flags},
#include "clean/html_tag_list.inc"
#undef AIRTUNE_TAG
};

constexpr bool sorted() {
  for (size_t i = 1; i < std::size(kTags); ++i)
    if (!(kTags[i - 1].name < kTags[i].name)) return false;
  return true;
}
static_assert(sorted(), "html_tag_list.inc must be sorted by name");

}  // namespace

Tag lookup_tag(std::string_view lower_name) noexcept {
  auto it = std::lower_bound(std::begin(kTags), std::end(kTags), lower_name,
                             [](const TagEntry& e, std::string_view n) { return e.name < n; });
  if (it != std::end(kTags) && it->name == lower_name) return it->tag;
  return Tag::kUnknown;
}

uint32_t tag_flags(uint32_t id) noexcept {
  if (id == 0 || id >= kFirstCustomTag) return 0;
  return kTags[id - 1].flags;
}

int heading_level(uint32_t id) noexcept {
  const auto t = static_cast<Tag>(id);
  if (id >= kFirstCustomTag) return 0;
  switch (t) {
    case Tag::kH1:
      return 1;
    case Tag::kH2:
      return 2;
    case Tag::kH3:
      return 3;
    case Tag::kH4:
      return 4;
    case Tag::kH5:
      return 5;
    case Tag::kH6:
      return 6;
    default:
      return 0;
  }
}

}  // namespace airtune::clean
