#include "metrics/text.h"

#include <algorithm>
#include <array>
#include <bit>
#include <iterator>

#include "metrics/unicode_tables.h"

namespace airtune::metrics {

namespace {

template <size_t N>
bool in_table(const unicode::CodeRange (&table)[N], char32_t cp) noexcept {
  auto it = std::upper_bound(std::begin(table), std::end(table), cp,
                             [](char32_t c, const unicode::CodeRange& r) { return c < r.first; });
  if (it == std::begin(table)) return false;
  --it;
  return cp <= it->last;
}

}  // namespace

bool is_py_space(char32_t cp) noexcept {
  if (cp < 0x80) return (cp >= 9 && cp <= 13) || (cp >= 28 && cp <= 32);
  return in_table(unicode::kPySpace, cp);
}

bool is_py_word(char32_t cp) noexcept {
  if (cp < 0x80) {
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '_';
  }
  return in_table(unicode::kPyWord, cp);
}

bool is_unicode_punct(char32_t cp) noexcept { return in_table(unicode::kPunct, cp); }
bool is_unicode_symbol(char32_t cp) noexcept { return in_table(unicode::kSymbol, cp); }
bool is_unicode_number(char32_t cp) noexcept { return in_table(unicode::kNumber, cp); }

namespace {

// 1 for ASCII whitespace (Python's str.isspace for bytes < 0x80), 2 for any non-ASCII lead or
// continuation byte (decoded on the slow path), 0 otherwise.
constexpr auto kByteClass = [] {
  std::array<uint8_t, 256> t{};
  for (int b = 9; b <= 13; ++b) t[static_cast<size_t>(b)] = 1;
  for (int b = 28; b <= 32; ++b) t[static_cast<size_t>(b)] = 1;
  for (int b = 0x80; b < 256; ++b) t[static_cast<size_t>(b)] = 2;
  return t;
}();

}  // namespace

void py_split(std::string_view s, std::vector<std::string_view>& out) {
  const char* p = s.data();
  const size_t n = s.size();
  size_t i = 0, start = 0;
  bool in_token = false;
  while (i < n) {
    const size_t at = i;
    const uint8_t cls = kByteClass[static_cast<unsigned char>(p[i])];
    bool space;
    if (cls != 2) {
      space = cls == 1;
      ++i;
    } else {
      space = is_py_space(next_code_point(s, i));
    }
    if (space) {
      if (in_token) out.emplace_back(p + start, at - start);
      in_token = false;
    } else if (!in_token) {
      in_token = true;
      start = at;
    }
  }
  if (in_token) out.emplace_back(p + start, n - start);
}

std::string_view py_rstrip(std::string_view s) noexcept {
  size_t end = s.size();
  while (end > 0) {
    const auto b = static_cast<unsigned char>(s[end - 1]);
    if (b < 0x80) {
      if (kByteClass[b] != 1) break;
      --end;
      continue;
    }
    size_t lead = end - 1;
    while (lead > 0 && (static_cast<unsigned char>(s[lead]) & 0xC0) == 0x80) --lead;
    size_t j = lead;
    if (!is_py_space(next_code_point(s, j))) break;
    end = lead;
  }
  return s.substr(0, end);
}

int bits_for(uint64_t count) noexcept {
  const int b = static_cast<int>(std::bit_width(count > 0 ? count - 1 : 0));
  return b < 1 ? 1 : b;
}

}  // namespace airtune::metrics
