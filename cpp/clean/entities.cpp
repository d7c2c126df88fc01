#include "clean/entities.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>

#include "clean/text_utf8.h"

namespace airtune::clean {

namespace {

struct Entity {
  const char* name;
  const char* value;
};

constexpr Entity kEntities[] = {
#include "clean/entity_table.inc"
};

constexpr size_t kMaxEntityName = 32;

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

const Entity* find_exact(std::string_view name) {
  auto it = std::lower_bound(std::begin(kEntities), std::end(kEntities), name,
                             [](const Entity& e, std::string_view n) { return std::string_view(e.name) < n; });
  if (it != std::end(kEntities) && std::string_view(it->name) == name) return it;
  return nullptr;
}

size_t decode_numeric(std::string_view s, size_t i, std::string& out) {
  // s[i] == '&', s[i+1] == '#'
  size_t j = i + 2;
  bool hex = false;
  if (j < s.size() && (s[j] == 'x' || s[j] == 'X')) hex = true, ++j;
  const size_t digits_start = j;
  uint32_t value = 0;
  bool overflow = false;
  while (j < s.size()) {
    const char c = s[j];
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (hex && c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (hex && c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      break;
    value = value * (hex ? 16 : 10) + static_cast<uint32_t>(d);
    if (value > 0x10FFFF) overflow = true, value = 0x110000;
    ++j;
  }
  if (j == digits_start) return 0;
  if (j < s.size() && s[j] == ';') ++j;
  char32_t cp = overflow ? kReplacementChar : value;
  if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
    cp = kReplacementChar;
  else if (cp >= 0x80 && cp < 0xA0)
    cp = cp1252_char(static_cast<uint8_t>(cp));
  append_utf8(out, cp);
  return j - i;
}

}  // namespace

size_t decode_entity(std::string_view s, size_t i, std::string& out, bool in_attribute) {
  if (i + 1 >= s.size()) return 0;
  if (s[i + 1] == '#') return decode_numeric(s, i, out);
  size_t j = i + 1;
  while (j < s.size() && j - i - 1 < kMaxEntityName && is_alnum(s[j])) ++j;
  if (j == i + 1) return 0;
  if (j < s.size() && s[j] == ';') {
    if (const Entity* e = find_exact(s.substr(i + 1, j - i))) {
      out += e->value;
      return j + 1 - i;
    }
  }
  // Legacy references without ';': the longest name that is one (at most 6 letters long).
  const size_t max_len = std::min<size_t>(j - i - 1, 6);
  for (size_t len = max_len; len >= 2; --len) {
    if (const Entity* e = find_exact(s.substr(i + 1, len))) {
      const size_t end = i + 1 + len;
      if (in_attribute && end < s.size() && (is_alnum(s[end]) || s[end] == '=')) return 0;
      out += e->value;
      return len + 1;
    }
  }
  return 0;
}

void append_unescaped(std::string& out, std::string_view s, bool in_attribute) {
  size_t i = 0;
  while (i < s.size()) {
    const void* amp = std::memchr(s.data() + i, '&', s.size() - i);
    const size_t k = amp ? static_cast<size_t>(static_cast<const char*>(amp) - s.data()) : s.size();
    out.append(s.data() + i, k - i);
    if (k >= s.size()) break;
    const size_t used = decode_entity(s, k, out, in_attribute);
    if (used == 0) {
      out.push_back('&');
      i = k + 1;
    } else {
      i = k + used;
    }
  }
}

}  // namespace airtune::clean
