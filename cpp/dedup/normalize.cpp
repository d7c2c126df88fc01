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

bool is_space(uint32_t c) {
  return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0xA0 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0x85;
}

bool is_punct(uint32_t c) {
  if (c < 0x80) return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
                       (c >= 0x7B && c <= 0x7E);
  return (c >= 0xA1 && c <= 0xBF) || (c >= 0x2010 && c <= 0x205E) || (c >= 0x3001 && c <= 0x303F);
}

}  // namespace

void normalize_into(std::string_view text, const NormalizeOptions& o, std::string& out) {
  out.clear();
  out.reserve(text.size());
  bool pending_space = false;
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = 0;
    const size_t len = decode(text, i, cp);
    bool space = is_space(cp);
    if (!space && o.strip_punctuation && is_punct(cp)) space = true;
    if (space && o.collapse_whitespace) {
      pending_space = !out.empty();
      i += len;
      continue;
    }
    if (pending_space) {
      out.push_back(' ');
      pending_space = false;
    }
    if (space) {
      // Not collapsing: keep ASCII whitespace as is, turn everything else (punctuation) into ' '.
      out.push_back(cp < 0x80 && !is_punct(cp) ? static_cast<char>(cp) : ' ');
    } else if (cp < 0x80) {
      char c = static_cast<char>(cp);
      if (o.lowercase && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (o.digits_to_zero && c >= '0' && c <= '9') c = '0';
      out.push_back(c);
    } else {
      out.append(text.data() + i, len);
    }
    i += len;
  }
}

std::string normalize(std::string_view text, const NormalizeOptions& options) {
  std::string out;
  normalize_into(text, options, out);
  return out;
}

}  // namespace airtune::dedup
