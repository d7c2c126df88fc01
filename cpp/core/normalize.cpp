#include "core/normalize.h"

#include <utf8proc.h>

#include <cstring>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <vector>

#include "core/errors.h"

namespace airtune::core {
namespace {

constexpr bool is_ascii_space(uint32_t c) { return c == ' ' || (c >= 0x09 && c <= 0x0D); }

constexpr bool is_ascii_punct(uint32_t c) {
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
}

bool is_space(int32_t cp) {
  if (cp < 0x80) return is_ascii_space(static_cast<uint32_t>(cp));
  if (cp == 0x85) return true;  // NEL, a C1 control that ends a line
  const auto c = utf8proc_category(cp);
  return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

bool is_punct(int32_t cp) {
  if (cp < 0x80) return is_ascii_punct(static_cast<uint32_t>(cp));
  const auto c = utf8proc_category(cp);
  return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_SO;  // P* and S*
}

bool is_digit(int32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return utf8proc_category(cp) == UTF8PROC_CATEGORY_ND;
}

// One ASCII map per combination of the four switches: the output byte of each ASCII input byte,
// or kSeparator for a byte that becomes a collapsible space.
constexpr uint8_t kSeparator = 0x80;
struct AsciiMaps {
  uint8_t map[16][128];
  constexpr AsciiMaps() : map{} {
    for (int f = 0; f < 16; ++f) {
      const bool lower = f & 1, collapse = f & 2, punct = f & 4, digits = f & 8;
      for (uint32_t c = 0; c < 128; ++c) {
        const bool space = is_ascii_space(c) || (punct && is_ascii_punct(c));
        uint8_t out = static_cast<uint8_t>(c);
        if (space)
          out = collapse ? kSeparator : (is_ascii_space(c) ? static_cast<uint8_t>(c) : ' ');
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

const uint8_t* ascii_map(const NormalizeOptions& o) {
  return kMaps.map[(o.lowercase ? 1 : 0) | (o.collapse_whitespace ? 2 : 0) | (o.strip_punctuation ? 4 : 0) |
                   (o.digits_to_zero ? 8 : 0)];
}

bool all_ascii(std::string_view s) {
  size_t i = 0;
  uint64_t acc = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    acc |= w;
  }
  for (; i < s.size(); ++i) acc |= static_cast<uint8_t>(s[i]);
  return (acc & 0x8080808080808080ULL) == 0;
}

// Writes code points with pending-space collapsing.
struct Emitter {
  std::string& out;
  bool pending_space = false;
  void separator() { pending_space = !out.empty(); }
  void byte(char c) {
    if (pending_space) {
      out.push_back(' ');
      pending_space = false;
    }
    out.push_back(c);
  }
  void bytes(const char* p, size_t n) {
    if (pending_space) {
      out.push_back(' ');
      pending_space = false;
    }
    out.append(p, n);
  }
  void code_point(int32_t cp) {
    utf8proc_uint8_t tmp[4];
    const auto n = utf8proc_encode_char(cp, tmp);
    bytes(reinterpret_cast<const char*>(tmp), static_cast<size_t>(n));
  }
};

// The non-ASCII code point `cp` under the switches (ASCII goes through the table).
void emit_unicode(Emitter& e, int32_t cp, const NormalizeOptions& o) {
  bool space = is_space(cp);
  if (!space && o.strip_punctuation && is_punct(cp)) space = true;
  if (space) {
    if (o.collapse_whitespace)
      e.separator();
    else
      e.byte(' ');
  } else if (o.digits_to_zero && is_digit(cp)) {
    e.byte('0');
  } else {
    e.code_point(cp);
  }
}

void emit_ascii(Emitter& e, const uint8_t* map, uint8_t byte) {
  const uint8_t c = map[byte];
  if (c == kSeparator)
    e.separator();
  else
    e.byte(static_cast<char>(c));
}

// ASCII kernels. A byte mapped to kSeparator is written as ' ' when it starts a run (the byte
// before it is not a separator) and dropped otherwise; a trailing run's space is taken back at
// the end. That equals "runs between words become one space, trimmed at both ends" and needs no
// state but "the previous byte was not a separator", so 64 bytes can go at once.
struct AsciiState {
  size_t w = 0;  // bytes written
  bool prev_word = false, started = false;
  size_t length(size_t n) const { return w - (n > 0 && !prev_word && started); }
};

// in[i, n) one byte at a time, without branches (word ends are unpredictable): one add carries w.
// The state is copied into locals: `out` is char*, which may alias it, and would keep it in memory.
inline void ascii_bytes(const char* in, size_t i, size_t n, const uint8_t* map, char* out, AsciiState& state) {
  static_assert(kSeparator - ' ' == 0x60);
  size_t w = state.w, prev_word = state.prev_word, started = state.started;
  for (; i < n; ++i) {
    const uint8_t c = map[static_cast<uint8_t>(in[i])];
    const size_t word = c != kSeparator;
    out[w] = static_cast<char>(c - 0x60 * (1 - word));  // a separator (0x80) is written as ' '
    w += word | prev_word;
    prev_word = word;
    started |= word;
  }
  state = {w, prev_word != 0, started != 0};
}

size_t ascii_scalar(const char* in, size_t n, const uint8_t* map, char* out) {
  AsciiState s;
  ascii_bytes(in, 0, n, map, out, s);
  return s.length(n);
}

#if defined(__x86_64__)
// AVX-512 VBMI / VBMI2 (Ice Lake, Zen 4 and later): the 128-byte table by one permute, the kept
// bytes packed by a register compress (the memory form is microcoded on Zen 4) and one store.
// In bounds: before each block the output is no longer than the input consumed.
__attribute__((target("avx512f,avx512bw,avx512vbmi,avx512vbmi2"))) size_t ascii_avx512(const char* in, size_t n,
                                                                                       const uint8_t* map, char* out) {
  const __m512i lo = _mm512_loadu_si512(map), hi = _mm512_loadu_si512(map + 64);
  const __m512i sep = _mm512_set1_epi8(static_cast<char>(kSeparator)), space = _mm512_set1_epi8(' ');
  size_t i = 0, w = 0;
  uint64_t carry = 0;  // bit 0: the byte before this block is not a separator
  bool started = false;
  for (; i + 64 <= n; i += 64) {
    const __m512i m = _mm512_permutex2var_epi8(lo, _mm512_loadu_si512(in + i), hi);
    const uint64_t word = ~static_cast<uint64_t>(_mm512_cmpeq_epi8_mask(m, sep));
    const uint64_t keep = word | (word << 1) | carry;
    carry = word >> 63;
    started |= word != 0;
    const __m512i bytes = _mm512_mask_mov_epi8(m, ~word, space);
    _mm512_storeu_si512(out + w, _mm512_maskz_compress_epi8(keep, bytes));
    w += static_cast<size_t>(__builtin_popcountll(keep));
  }
  AsciiState s{w, carry != 0, started};  // the tail with the same rule, carrying the blocks' state
  ascii_bytes(in, i, n, map, out, s);
  return s.length(n);
}
#endif

using AsciiKernelFn = size_t (*)(const char*, size_t, const uint8_t*, char*);

AsciiKernelFn pick_ascii_kernel() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512vbmi2") && __builtin_cpu_supports("avx512vbmi") &&
      __builtin_cpu_supports("avx512bw"))
    return ascii_avx512;
#endif
  return ascii_scalar;
}

const AsciiKernelFn ascii_kernel = pick_ascii_kernel();

utf8proc_option_t utf8proc_options(UnicodeForm form, bool casefold) {
  int o = UTF8PROC_STABLE;
  switch (form) {
    case UnicodeForm::kNFC:
      o |= UTF8PROC_COMPOSE;
      break;
    case UnicodeForm::kNFKC:
      o |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
      break;
    case UnicodeForm::kNFD:
      o |= UTF8PROC_DECOMPOSE;
      break;
    case UnicodeForm::kNFKD:
      o |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
      break;
    case UnicodeForm::kNone:
      break;
  }
  if (casefold) o |= UTF8PROC_CASEFOLD;
  return static_cast<utf8proc_option_t>(o);
}

// Decodes `text` into code points under `options` (decomposition, case folding, composition).
// Returns the count, or -1 when the text is not valid UTF-8.
utf8proc_ssize_t to_code_points(std::string_view text, utf8proc_option_t options, std::vector<utf8proc_int32_t>& buf) {
  if (buf.size() < text.size() + 8) buf.resize(text.size() + 8);
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  const auto len = static_cast<utf8proc_ssize_t>(text.size());
  auto n = utf8proc_decompose(p, len, buf.data(), static_cast<utf8proc_ssize_t>(buf.size()), options);
  if (n < 0) return -1;
  if (static_cast<size_t>(n) > buf.size()) {
    buf.resize(static_cast<size_t>(n));
    n = utf8proc_decompose(p, len, buf.data(), n, options);
    if (n < 0) return -1;
  }
  if (options & UTF8PROC_COMPOSE) n = utf8proc_normalize_utf32(buf.data(), n, options);
  return n;
}

// Byte-level pass for invalid UTF-8: ASCII by table, valid multi-byte sequences classified,
// invalid bytes copied.
void normalize_invalid(std::string_view text, const NormalizeOptions& o, Emitter& e) {
  const uint8_t* map = ascii_map(o);
  for (size_t i = 0; i < text.size();) {
    const auto b = static_cast<uint8_t>(text[i]);
    if (b < 0x80) {
      emit_ascii(e, map, b);
      ++i;
      continue;
    }
    utf8proc_int32_t cp = -1;
    const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + i),
                                    static_cast<utf8proc_ssize_t>(text.size() - i), &cp);
    if (n <= 0 || cp < 0) {
      e.byte(text[i]);
      ++i;
      continue;
    }
    emit_unicode(e, cp, o);
    i += static_cast<size_t>(n);
  }
}

}  // namespace

std::optional<UnicodeForm> parse_unicode_form(std::string_view name) noexcept {
  std::string up(name);
  for (char& c : up) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  if (up == "NONE" || up.empty()) return UnicodeForm::kNone;
  if (up == "NFC") return UnicodeForm::kNFC;
  if (up == "NFKC") return UnicodeForm::kNFKC;
  if (up == "NFD") return UnicodeForm::kNFD;
  if (up == "NFKD") return UnicodeForm::kNFKD;
  return std::nullopt;
}

std::string_view unicode_form_name(UnicodeForm form) noexcept {
  switch (form) {
    case UnicodeForm::kNFC:
      return "NFC";
    case UnicodeForm::kNFKC:
      return "NFKC";
    case UnicodeForm::kNFD:
      return "NFD";
    case UnicodeForm::kNFKD:
      return "NFKD";
    case UnicodeForm::kNone:
      break;
  }
  return "none";
}

uint32_t NormalizeOptions::flags() const noexcept {
  return (lowercase ? 1u : 0u) | (collapse_whitespace ? 2u : 0u) | (strip_punctuation ? 4u : 0u) |
         (digits_to_zero ? 8u : 0u) | (static_cast<uint32_t>(form) << 4);
}

NormalizeOptions NormalizeOptions::from_flags(uint32_t f) {
  if (f >> 7) throw InvalidArgument("normalisation flags: unknown bits " + std::to_string(f));
  const uint32_t form = (f >> 4) & 7u;
  if (form != 0 && form != 1 && form != 2)
    throw InvalidArgument("normalisation flags: Unicode form " + std::to_string(form) + " is not an identity form");
  NormalizeOptions o;
  o.lowercase = f & 1u;
  o.collapse_whitespace = f & 2u;
  o.strip_punctuation = f & 4u;
  o.digits_to_zero = f & 8u;
  o.form = static_cast<UnicodeForm>(form);
  return o;
}

void normalize_into(std::string_view text, const NormalizeOptions& o, std::string& out) {
  out.clear();
  if (all_ascii(text)) {
    // Fast path: the output is never longer than the input, write through a pointer.
    out.resize(text.size());
    out.resize(ascii_kernel(text.data(), text.size(), ascii_map(o), out.data()));
    return;
  }
  if (o.form == UnicodeForm::kNFD || o.form == UnicodeForm::kNFKD)
    throw InvalidArgument("normalize: the Unicode form of an identity must be none, NFC or NFKC");
  out.reserve(text.size());
  Emitter e{out};
  thread_local std::vector<utf8proc_int32_t> buf;
  const auto n = to_code_points(text, utf8proc_options(o.form, o.lowercase), buf);
  if (n < 0) {
    normalize_invalid(text, o, e);
    return;
  }
  const uint8_t* map = ascii_map(o);
  for (utf8proc_ssize_t k = 0; k < n; ++k) {
    const int32_t cp = buf[static_cast<size_t>(k)];
    if (cp < 0x80)
      emit_ascii(e, map, static_cast<uint8_t>(cp));
    else
      emit_unicode(e, cp, o);
  }
}

std::string normalize(std::string_view text, const NormalizeOptions& options) {
  std::string out;
  normalize_into(text, options, out);
  return out;
}

std::string unicode_normalize(std::string_view text, UnicodeForm form) {
  if (form == UnicodeForm::kNone || all_ascii(text)) return std::string(text);
  thread_local std::vector<utf8proc_int32_t> buf;
  const auto n = to_code_points(text, utf8proc_options(form, false), buf);
  if (n < 0) return std::string(text);
  std::string out;
  out.reserve(text.size());
  utf8proc_uint8_t tmp[4];
  for (utf8proc_ssize_t k = 0; k < n; ++k) {
    const auto len = utf8proc_encode_char(buf[static_cast<size_t>(k)], tmp);
    out.append(reinterpret_cast<const char*>(tmp), static_cast<size_t>(len));
  }
  return out;
}

namespace detail {

bool ascii_kernel_available(AsciiKernel k) {
  if (k == AsciiKernel::kScalar) return true;
#if defined(__x86_64__)
  return ascii_kernel == ascii_avx512;
#else
  return false;
#endif
}

size_t normalize_ascii(std::string_view text, const NormalizeOptions& o, char* out, AsciiKernel k) {
  if (!ascii_kernel_available(k)) throw InvalidArgument("normalize_ascii: this CPU has no such kernel");
#if defined(__x86_64__)
  if (k == AsciiKernel::kAvx512) return ascii_avx512(text.data(), text.size(), ascii_map(o), out);
#endif
  return ascii_scalar(text.data(), text.size(), ascii_map(o), out);
}

}  // namespace detail

}  // namespace airtune::core
