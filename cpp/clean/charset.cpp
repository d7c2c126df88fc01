#include "clean/charset.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>

#include "clean/text_utf8.h"
#include "core/utf8.h"

namespace airtune::clean {

namespace {

constexpr size_t kSniffBytes = 4096;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// Finds "charset" (case-insensitive) in the head and returns the label after '=' (unquoted).
std::string find_charset_label(std::string_view head) {
  std::string low(head.size(), '\0');
  std::transform(head.begin(), head.end(), low.begin(), lower);
  size_t pos = 0;
  while ((pos = low.find("charset", pos)) != std::string::npos) {
    size_t j = pos + 7;
    while (j < low.size() && (low[j] == ' ' || low[j] == '\t' || low[j] == '\n' || low[j] == '\r')) ++j;
    if (j < low.size() && low[j] == '=') {
      ++j;
      while (j < low.size() && (low[j] == ' ' || low[j] == '"' || low[j] == '\'')) ++j;
      size_t k = j;
      while (k < low.size() && (std::isalnum(static_cast<unsigned char>(low[k])) || low[k] == '-' || low[k] == '_' ||
                                low[k] == ':' || low[k] == '.'))
        ++k;
      if (k > j) return low.substr(j, k - j);
    }
    pos += 7;
  }
  return {};
}

struct SingleByteCharset {
  const char* name;
  const char* labels[6];
  char16_t high[128];  // code points of bytes 0x80-0xFF
};

constexpr SingleByteCharset kSingleByte[] = {
#include "clean/charset_tables.inc"
};

const SingleByteCharset* find_single_byte(const std::string& label) {
  for (const auto& cs : kSingleByte)
    for (const char* l : cs.labels)
      if (l && label == l) return &cs;
  return nullptr;
}

void decode_single_byte(std::string_view raw, const SingleByteCharset& cs, std::string& out) {
  out.reserve(raw.size() + raw.size() / 2);
  for (char c : raw) {
    const auto b = static_cast<uint8_t>(c);
    if (b < 0x80)
      out.push_back(c);
    else
      append_utf8(out, cs.high[b - 0x80]);
  }
}

Charset label_to_charset(const std::string& label) {
  if (label == "utf-8" || label == "utf8" || label == "unicode-1-1-utf-8") return Charset::kUtf8;
  static const char* kWin1252[] = {"windows-1252", "cp1252", "iso-8859-1", "iso8859-1",  "latin1",
                                   "latin-1",      "l1",     "ascii",      "us-ascii",   "iso_8859-1",
                                   "x-cp1252",     "cp819",  "ibm819",     "iso-ir-100", "csisolatin1"};
  for (const char* l : kWin1252)
    if (label == l) return Charset::kWindows1252;
  if (label == "utf-16le" || label == "utf-16") return Charset::kUtf16Le;
  if (label == "utf-16be") return Charset::kUtf16Be;
  if (find_single_byte(label)) return Charset::kSingleByte;
  return Charset::kOther;
}

void decode_utf16(std::string_view raw, bool little, std::string& out) {
  out.reserve(raw.size() * 3 / 2);
  size_t i = 0;
  auto unit = [&](size_t k) -> uint32_t {
    const auto a = static_cast<uint8_t>(raw[k]), b = static_cast<uint8_t>(raw[k + 1]);
    return little ? (a | (b << 8)) : ((a << 8) | b);
  };
  while (i + 1 < raw.size()) {
    uint32_t u = unit(i);
    i += 2;
    if (u >= 0xD800 && u <= 0xDBFF && i + 1 < raw.size()) {
      const uint32_t v = unit(i);
      if (v >= 0xDC00 && v <= 0xDFFF) {
        i += 2;
        append_utf8(out, 0x10000 + ((u - 0xD800) << 10) + (v - 0xDC00));
        continue;
      }
    }
    append_utf8(out, (u >= 0xD800 && u <= 0xDFFF) ? kReplacementChar : u);
  }
  if (i < raw.size()) append_utf8(out, kReplacementChar);
}

void decode_cp1252(std::string_view raw, std::string& out) {
  out.reserve(raw.size() + raw.size() / 8);
  for (char c : raw) {
    const auto b = static_cast<uint8_t>(c);
    if (b < 0x80)
      out.push_back(c);
    else
      append_utf8(out, cp1252_char(b));
  }
}

}  // namespace

Charset sniff_charset(std::string_view raw, bool& declared) {
  declared = true;
  if (raw.size() >= 3 && raw.substr(0, 3) == "\xEF\xBB\xBF") return Charset::kUtf8;
  if (raw.size() >= 2 && raw.substr(0, 2) == "\xFF\xFE") return Charset::kUtf16Le;
  if (raw.size() >= 2 && raw.substr(0, 2) == "\xFE\xFF") return Charset::kUtf16Be;
  const std::string label = find_charset_label(raw.substr(0, std::min(raw.size(), kSniffBytes)));
  if (label.empty()) {
    declared = false;
    return Charset::kUtf8;
  }
  const Charset cs = label_to_charset(label);
  // A page that says UTF-16 in a meta tag was necessarily read as ASCII-compatible bytes: UTF-8.
  if (cs == Charset::kUtf16Le || cs == Charset::kUtf16Be) return Charset::kUtf8;
  return cs;
}

std::string_view decode_to_utf8(std::string_view raw, std::string& storage) {
  bool declared = false;
  const Charset cs = sniff_charset(raw, declared);
  storage.clear();
  switch (cs) {
    case Charset::kUtf16Le:
    case Charset::kUtf16Be:
      decode_utf16(raw.substr(2), cs == Charset::kUtf16Le, storage);
      return storage;
    case Charset::kSingleByte:
      if (core::is_valid_utf8(raw)) return raw;  // as for latin-1: valid UTF-8 wins over the label
      decode_single_byte(raw, *find_single_byte(find_charset_label(raw.substr(0, std::min(raw.size(), kSniffBytes)))),
                         storage);
      return storage;
    case Charset::kWindows1252:
      // Pages that declare latin-1 but send valid UTF-8 are common; such bytes are almost never
      // meaningful cp1252, so UTF-8 wins.
      if (core::is_valid_utf8(raw)) return raw;
      decode_cp1252(raw, storage);
      return storage;
    default:
      break;
  }
  if (raw.size() >= 3 && raw.substr(0, 3) == "\xEF\xBB\xBF") raw.remove_prefix(3);
  if (core::is_valid_utf8(raw)) return raw;
  if (!declared) {
    decode_cp1252(raw, storage);
    return storage;
  }
  append_sanitized_utf8(storage, raw);
  return storage;
}

}  // namespace airtune::clean
