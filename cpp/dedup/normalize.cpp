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
  if (c < 0x80) return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
                       (c >= 0x7B && c <= 0x7E);
  return (c >= 0xA1 && c <= 0xBF) || (c >= 0x2010 && c <= 0x205E) || (c >= 0x3001 && c <= 0x303F);
}

// ASCII byte classes: 0 other, 1 whitespace, 2 punctuation, 3 upper-case letter, 4 digit.
struct AsciiTable {
  uint8_t cls[128];
  constexpr AsciiTable() : cls{} {
    for (uint32_t c = 0; c < 128; ++c)
      cls[c] = is_space(c) ? 1 : is_punct(c) ? 2 : (c >= 'A' && c <= 'Z') ? 3 : (c >= '0' && c <= '9') ? 4 : 0;
  }
};
constexpr AsciiTable kAscii;

}  // namespace

void normalize_into(std::string_view text, const NormalizeOptions& o, std::string& out) {
  // The output is never longer than the input (each code point maps to itself or one space), so
  // write through a pointer into a buffer of the input's size and trim at the end.
  out.resize(text.size());
  char* const begin = out.data();
  char* w = begin;
  bool pending_space = false;
  auto put = [&](char c) {
    if (pending_space) {
      *w++ = ' ';
      pending_space = false;
    }
    *w++ = c;
  };
  for (size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {  // fast path: ASCII by table
      const uint8_t k = kAscii.cls[byte];
      const bool space = k == 1 || (k == 2 && o.strip_punctuation);
      ++i;
      if (space && o.collapse_whitespace) {
        pending_space = w != begin;
        continue;
      }
      char c = static_cast<char>(byte);
      if (space) c = k == 1 ? c : ' ';
      else if (k == 3 && o.lowercase) c = static_cast<char>(c - 'A' + 'a');
      else if (k == 4 && o.digits_to_zero) c = '0';
      put(c);
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
