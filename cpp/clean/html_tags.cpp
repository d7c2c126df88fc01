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

// Every tag is looked up once per token: an open-addressing hash table built at compile time (one
// probe for almost every name) instead of a binary search with a string compare per step.
constexpr size_t kSlots = 512;  // a power of two, > 4x the number of tags
static_assert(std::size(kTags) * 4 < kSlots);

constexpr uint32_t name_hash(std::string_view s) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
  return h;
}

struct SlotTable {
  uint8_t slot[kSlots] = {};  // index into kTags + 1; 0 = empty
};

constexpr SlotTable make_slots() {
  SlotTable t;
  for (size_t i = 0; i < std::size(kTags); ++i) {
    size_t k = name_hash(kTags[i].name) & (kSlots - 1);
    while (t.slot[k] != 0) k = (k + 1) & (kSlots - 1);
    t.slot[k] = static_cast<uint8_t>(i + 1);
  }
  return t;
}
static_assert(std::size(kTags) < 255);
constexpr SlotTable kSlotTable = make_slots();

}  // namespace

Tag lookup_tag(std::string_view lower_name) noexcept {
  if (lower_name.size() > 16) return Tag::kUnknown;  // longer than any known name
  for (size_t k = name_hash(lower_name) & (kSlots - 1);; k = (k + 1) & (kSlots - 1)) {
    const uint8_t e = kSlotTable.slot[k];
    if (e == 0) return Tag::kUnknown;
    if (kTags[e - 1].name == lower_name) return kTags[e - 1].tag;
  }
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
