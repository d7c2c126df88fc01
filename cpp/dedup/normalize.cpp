#include "dedup/normalize.h"

#include <cstdint>

namespace airtune::dedup {
namespace {

// Decodes one code point at s[i]; returns its byte length (1 for an invalid byte, cp = 0xFFFFFFFF).
size_t decode(std::string_view s, size_t i, uint32_t& cp) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  size_t len = (b0 >> 5) == 0x6 ? 2 : (b0 >> 4) == 0xE ? 3 : (b0 >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size()) {
    cp = 0xFFFFFFFFu;
    return 1;
  }
  uint32_t v = len == 2 ? (b0 & 0x1F) : len == 3 ? (b0 & 0x0F) : (b0 & 0x07);
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<uint8_t>(s[i + k]);
    if ((b & 0xC0) != 0x80) {
      cp = 0xFFFFFFFFu;
      return 1;
    }
    v = (v << 6) | (b & 0x3F);
  }
  cp = v;
  return len;
}

constexpr bool is_space(uint32_t c) {
  return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0xA0 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0x85;
}

constexpr bool is_punct(uint32_t c) {
  if (c < 0x80)
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
  return (c >= 0xA1 && c <= 0xBF) || (c >= 0x2010 && c <= 0x205E) || (c >= 0x3001 && c <= 0x303F);
}

// ASCII byte classes: 0 other, 1 whitespace, 2 punctuation, 3 upper-case letter, 4 digit.
// One ASCII map per combination of the four options: the output byte of each ASCII input byte,
// or kSeparator for a byte that becomes a collapsible space.
constexpr uint8_t kSeparator = 0x80;
struct AsciiMaps {
  uint8_t map[16][128];
  constexpr AsciiMaps() : map{} {
    for (int f = 0; f < 16; ++f) {
      const bool lower = f & 1, collapse = f & 2, punct = f & 4, digits = f & 8;
      for (uint32_t c = 0; c < 128; ++c) {
        const bool space = is_space(c) || (punct && is_punct(c));
        uint8_t out = static_cast<uint8_t>(c);
        if (space)
          out = collapse ? kSeparator : (is_space(c) ? static_cast<uint8_t>(c) : ' ');
        else if (lower && c >= 'A' && c <= 'Z')
          out = static_cast<uint8_t>(c - 'A' + 'a');
        else if (digits && c >= '0' && c <= '9')
          out = '0';
        map[f][c] = out;
      }
    }
  }
};
constexpr AsciiMaps kMaps;

}  // namespace

void normalize_into(std::string_view text, const NormalizeOptions& o, std::string& out) {
  // The output is never longer than the input (each code point maps to itself or one space), so
  // write through a pointer into a buffer of the input's size and trim at the end.
  out.resize(text.size());
  char* const begin = out.data();
  char* w = begin;
  bool pending_space = false;
  bool started = false;  // w != begin
  auto put = [&](char c) {
    if (pending_space) {
      *w++ = ' ';
      pending_space = false;
    }
    *w++ = c;
  };
  const uint8_t* map = kMaps.map[(o.lowercase ? 1 : 0) | (o.collapse_whitespace ? 2 : 0) |
                                 (o.strip_punctuation ? 4 : 0) | (o.digits_to_zero ? 8 : 0)];
  const size_t size = text.size();
  for (size_t i = 0; i < size;) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {  // fast path: ASCII by table, without branches (word ends are unpredictable)
      const uint8_t c = map[byte];
      ++i;
      // Short dependency chains: `started` (has anything been written) is carried by one OR, `w`
      // by one add; pending_space follows from them.
      const bool sep = c == kSeparator;
      const bool space_first = !sep & pending_space;
      w[0] = ' ';  // in bounds: the output so far is shorter than the input consumed
      w[space_first] = static_cast<char>(c);
      w += space_first + !sep;
      pending_space = sep & started;
      started |= !sep;
      continue;
    }
    uint32_t cp = 0;
    const size_t len = decode(text, i, cp);
    bool space = is_space(cp);
    if (!space && o.strip_punctuation && is_punct(cp)) space = true;
    if (space && o.collapse_whitespace) {
      pending_space = w != begin;
      i += len;
      continue;
    }
    if (space) {
      put(' ');  // non-ASCII whitespace or punctuation, not collapsing
    } else {
      if (pending_space) {
        *w++ = ' ';
        pending_space = false;
      }
      for (size_t k = 0; k < len; ++k) *w++ = text[i + k];
    }
    started = w != begin;
    i += len;
  }
  out.resize(static_cast<size_t>(w - begin));
}

std::string normalize(std::string_view text, const NormalizeOptions& options) {
  std::string out;
  normalize_into(text, options, out);
  return out;
}

}  // namespace airtune::dedup
