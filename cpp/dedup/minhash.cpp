#include "dedup/minhash.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/errors.h"
#include "core/hash.h"
#include "core/prefault.h"
#include "core/threading.h"
#include "core/uniform_sort.h"
#include "core/utf8.h"

namespace airtune::dedup {
namespace {

using core::code_point_starts;

// Per-thread work buffers (passed down instead of thread_local: TLS lookups in a shared library
// showed up in profiles).
struct Scratch {
  std::string norm;
  std::string joined;
  std::vector<size_t> starts;
  std::vector<size_t> ends;
  std::vector<uint64_t> words;
  std::vector<uint32_t> folded;
  std::vector<uint32_t> mins;
  std::vector<uint64_t> sort_tmp;
  std::vector<uint32_t> counts;
};

// Splits normalised text into words (separated by one or more ' '): [starts[k], ends[k]).
void split_words(std::string_view norm, std::vector<size_t>& ws, std::vector<size_t>& we) {
  ws.clear();
  we.clear();
  size_t i = 0;
  while (i < norm.size()) {
    while (i < norm.size() && norm[i] == ' ') ++i;
    if (i >= norm.size()) break;
    ws.push_back(i);
    while (i < norm.size() && norm[i] != ' ') ++i;
    we.push_back(i);
  }
}

// Calls fn(shingle string_view) for every shingle of the normalised text `norm`.
template <typename Fn>
void for_each_shingle(std::string_view norm, const MinHashOptions& o, Scratch& sc, Fn&& fn) {
  std::vector<size_t>& starts = sc.starts;
  if (norm.empty()) return;
  const auto n = static_cast<size_t>(o.ngram);
  if (o.char_ngrams) {
    code_point_starts(norm, starts);
    const size_t cps = starts.size() - 1;
    if (cps <= n) {
      fn(norm);
      return;
    }
    for (size_t i = 0; i + n <= cps; ++i) fn(norm.substr(starts[i], starts[i + n] - starts[i]));
    return;
  }
  std::vector<size_t>& ws = starts;
  std::vector<size_t>& we = sc.ends;
  split_words(norm, ws, we);
  const size_t words = ws.size();
  if (words == 0) return;
  const bool single_spaced = o.normalize.collapse_whitespace;
  std::string& joined = sc.joined;
  auto emit = [&](size_t a, size_t b) {  // words [a, b)
    if (single_spaced) {
      fn(norm.substr(ws[a], we[b - 1] - ws[a]));
      return;
    }
    joined.clear();
    for (size_t k = a; k < b; ++k) {
      if (k > a) joined.push_back(' ');
      joined.append(norm.substr(ws[k], we[k] - ws[k]));
    }
    fn(std::string_view(joined));
  };
  if (words <= n) {
    emit(0, words);
    return;
  }
  for (size_t k = 0; k + n <= words; ++k) emit(k, k + n);
}

struct PermKeys {
  std::vector<uint32_t> a;  // odd multipliers
  std::vector<uint32_t> b;
  size_t size() const { return a.size(); }
};

PermKeys perm_keys(const MinHashOptions& o) {
  PermKeys k;
  k.a.resize(o.num_perm);
  k.b.resize(o.num_perm);
  for (int p = 0; p < o.num_perm; ++p) {
    const uint64_t r = core::mix64(o.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(p) + 1);
    k.a[p] = static_cast<uint32_t>(r) | 1u;
    k.b[p] = static_cast<uint32_t>(r >> 32);
  }
  return k;
}

// The inner loop, sig[p] = min_i (a[p] * y_i + b[p]) mod 2^32. The SIMD versions keep a tile of
// permutations' multipliers, offsets and minima in registers and stream the shingles past them
// (one broadcast per shingle and tile), so the loop is bound by the multiplier, not by loads and
// stores of the minima. Chosen once at run time from the CPU's features; all give equal results.
void min_hash_scalar(const uint32_t* set, size_t n, const uint32_t* a, const uint32_t* b, uint32_t* out, size_t np) {
  for (size_t p = 0; p < np; ++p) out[p] = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t y = set[i];
    for (size_t p = 0; p < np; ++p) {
      const uint32_t h = a[p] * y + b[p];
      out[p] = h < out[p] ? h : out[p];
    }
  }
}

#if defined(__x86_64__)
// GCC 12's _mm512_min_epu32 passes an undefined vector as its mask source: a false warning.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((target("avx512f"))) void min_hash_avx512(const uint32_t* set, size_t n, const uint32_t* a,
                                                        const uint32_t* b, uint32_t* out, size_t np) {
  constexpr size_t kTile = 64;  // 4 x 16 lanes: 12 of the 32 zmm registers
  size_t p = 0;
  for (; p + kTile <= np; p += kTile) {
    const __m512i a0 = _mm512_loadu_si512(a + p), a1 = _mm512_loadu_si512(a + p + 16);
    const __m512i a2 = _mm512_loadu_si512(a + p + 32), a3 = _mm512_loadu_si512(a + p + 48);
    const __m512i b0 = _mm512_loadu_si512(b + p), b1 = _mm512_loadu_si512(b + p + 16);
    const __m512i b2 = _mm512_loadu_si512(b + p + 32), b3 = _mm512_loadu_si512(b + p + 48);
    __m512i m0 = _mm512_set1_epi32(-1), m1 = m0, m2 = m0, m3 = m0;
    for (size_t i = 0; i < n; ++i) {
      const __m512i y = _mm512_set1_epi32(static_cast<int>(set[i]));
      m0 = _mm512_min_epu32(m0, _mm512_add_epi32(_mm512_mullo_epi32(a0, y), b0));
      m1 = _mm512_min_epu32(m1, _mm512_add_epi32(_mm512_mullo_epi32(a1, y), b1));
      m2 = _mm512_min_epu32(m2, _mm512_add_epi32(_mm512_mullo_epi32(a2, y), b2));
      m3 = _mm512_min_epu32(m3, _mm512_add_epi32(_mm512_mullo_epi32(a3, y), b3));
    }
    _mm512_storeu_si512(out + p, m0);
    _mm512_storeu_si512(out + p + 16, m1);
    _mm512_storeu_si512(out + p + 32, m2);
    _mm512_storeu_si512(out + p + 48, m3);
  }
  for (; p + 16 <= np; p += 16) {
    const __m512i av = _mm512_loadu_si512(a + p), bv = _mm512_loadu_si512(b + p);
    __m512i m = _mm512_set1_epi32(-1);
    for (size_t i = 0; i < n; ++i)
      m = _mm512_min_epu32(m,
                           _mm512_add_epi32(_mm512_mullo_epi32(av, _mm512_set1_epi32(static_cast<int>(set[i]))), bv));
    _mm512_storeu_si512(out + p, m);
  }
  if (p < np) min_hash_scalar(set, n, a + p, b + p, out + p, np - p);
}
#pragma GCC diagnostic pop

__attribute__((target("avx2"))) void min_hash_avx2(const uint32_t* set, size_t n, const uint32_t* a, const uint32_t* b,
                                                   uint32_t* out, size_t np) {
  constexpr size_t kTile = 32;  // 4 x 8 lanes: 12 of the 16 ymm registers
  size_t p = 0;
  for (; p + kTile <= np; p += kTile) {
    const __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + p)),
                  a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + p + 8)),
                  a2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + p + 16)),
                  a3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + p + 24));
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + p)),
                  b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + p + 8)),
                  b2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + p + 16)),
                  b3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + p + 24));
    __m256i m0 = _mm256_set1_epi32(-1), m1 = m0, m2 = m0, m3 = m0;
    for (size_t i = 0; i < n; ++i) {
      const __m256i y = _mm256_set1_epi32(static_cast<int>(set[i]));
      m0 = _mm256_min_epu32(m0, _mm256_add_epi32(_mm256_mullo_epi32(a0, y), b0));
      m1 = _mm256_min_epu32(m1, _mm256_add_epi32(_mm256_mullo_epi32(a1, y), b1));
      m2 = _mm256_min_epu32(m2, _mm256_add_epi32(_mm256_mullo_epi32(a2, y), b2));
      m3 = _mm256_min_epu32(m3, _mm256_add_epi32(_mm256_mullo_epi32(a3, y), b3));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + p), m0);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + p + 8), m1);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + p + 16), m2);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + p + 24), m3);
  }
  for (; p + 8 <= np; p += 8) {
    const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + p)),
                  bv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + p));
    __m256i m = _mm256_set1_epi32(-1);
    for (size_t i = 0; i < n; ++i)
      m = _mm256_min_epu32(m,
                           _mm256_add_epi32(_mm256_mullo_epi32(av, _mm256_set1_epi32(static_cast<int>(set[i]))), bv));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + p), m);
  }
  if (p < np) min_hash_scalar(set, n, a + p, b + p, out + p, np - p);
}
#endif

// y[i] = lo32(m) ^ hi32(m), m = mix64(x[i]): each shingle's 32-bit input to the permutations.
void fold_scalar(const uint64_t* x, size_t n, uint32_t* y) {
  for (size_t i = 0; i < n; ++i) {
    const uint64_t m = core::mix64(x[i]);
    y[i] = static_cast<uint32_t>(m ^ (m >> 32));
  }
}

// x[i] = mix64(x[i]) in place: the shingles' finaliser, out of the rolling loop so that its two
// multiplies per shingle run eight lanes at a time (below) instead of on the scalar multiplier
// the rolling polynomial already keeps busy.
void mix_scalar(uint64_t* x, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] = core::mix64(x[i]);
}

#if defined(__x86_64__)
// mix64 eight lanes at a time (AVX-512DQ's 64-bit multiply): the scalar loop's two multiplies per
// shingle were a twentieth of signatures() on 160-shingle texts.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12's AVX-512 intrinsics, as below
__attribute__((target("avx512f,avx512dq"))) inline __m512i mix64_x8(__m512i m) {
  const __m512i c1 = _mm512_set1_epi64(static_cast<long long>(0xBF58476D1CE4E5B9ULL));
  const __m512i c2 = _mm512_set1_epi64(static_cast<long long>(0x94D049BB133111EBULL));
  m = _mm512_xor_si512(m, _mm512_srli_epi64(m, 30));
  m = _mm512_mullo_epi64(m, c1);
  m = _mm512_xor_si512(m, _mm512_srli_epi64(m, 27));
  m = _mm512_mullo_epi64(m, c2);
  return _mm512_xor_si512(m, _mm512_srli_epi64(m, 31));
}

__attribute__((target("avx512f,avx512dq"))) void fold_avx512(const uint64_t* x, size_t n, uint32_t* y) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m512i m = mix64_x8(_mm512_loadu_si512(x + i));
    m = _mm512_xor_si512(m, _mm512_srli_epi64(m, 32));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), _mm512_cvtepi64_epi32(m));
  }
  fold_scalar(x + i, n - i, y + i);
}

__attribute__((target("avx512f,avx512dq"))) void mix_avx512(uint64_t* x, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm512_storeu_si512(x + i, mix64_x8(_mm512_loadu_si512(x + i)));
  mix_scalar(x + i, n - i);
}
#pragma GCC diagnostic pop
#endif

using FoldKernel = void (*)(const uint64_t*, size_t, uint32_t*);
using MixKernel = void (*)(uint64_t*, size_t);

bool has_avx512dq() {
  __builtin_cpu_init();
#if defined(__x86_64__)
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

FoldKernel pick_fold() {
#if defined(__x86_64__)
  if (has_avx512dq()) return fold_avx512;
#endif
  return fold_scalar;
}

MixKernel pick_mix() {
#if defined(__x86_64__)
  if (has_avx512dq()) return mix_avx512;
#endif
  return mix_scalar;
}

const MixKernel mix_all = pick_mix();
const FoldKernel fold_32 = pick_fold();

using MinHashKernel = void (*)(const uint32_t*, size_t, const uint32_t*, const uint32_t*, uint32_t*, size_t);

MinHashKernel pick_kernel() {
  __builtin_cpu_init();
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) return min_hash_avx512;
  if (__builtin_cpu_supports("avx2")) return min_hash_avx2;
#endif
  return min_hash_scalar;
}

const MinHashKernel min_hash_32 = pick_kernel();

// Permutation p maps a shingle's 32-bit fold y = lo32(m) ^ hi32(m), m = mix64(x), of its XXH64 x to
// a[p] * y + b[p] (mod 2^32), a bijection (a[p] odd) whose high bits, which decide the minimum,
// depend on every bit of y. The inputs are XXH64 values, so this multiply-add family behaves like
// random permutations; estimates are checked against datasketch and exact Jaccard in the tests.
// Signature values are stored as uint64 (zero-extended), UINT64_MAX marking the empty set.
void signature_with_keys(std::span<const uint64_t> set, const PermKeys& keys, uint64_t* out, Scratch& sc) {
  const size_t np = keys.size();
  if (set.empty()) {
    std::fill(out, out + np, std::numeric_limits<uint64_t>::max());
    return;
  }
  std::vector<uint32_t>& folded = sc.folded;
  std::vector<uint32_t>& mins = sc.mins;
  if (folded.size() < set.size()) folded.resize(set.size());
  fold_32(set.data(), set.size(), folded.data());  // mix64: robust to structured inputs, once per shingle
  mins.resize(np);
  min_hash_32(folded.data(), set.size(), keys.a.data(), keys.b.data(), mins.data(), np);
  for (size_t p = 0; p < np; ++p) out[p] = mins[p];
}

constexpr uint64_t kRollBase = 0x9E3779B97F4A7C15ULL;  // odd: multiplication is invertible mod 2^64
constexpr size_t kPad = 64;  // bytes of ' ' after the normalised text, so that 64-byte loads stay inside

inline uint64_t load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// 64-bit hash of one word: words of up to 8 bytes are packed into an integer (with their length)
// and mixed; words of 9 to 16 bytes are their first and last 8 bytes (overlapping: together with
// the length they determine the word), mixed in two rounds; longer words go through XXH64. A
// call to XXH64 for every word over 8 bytes (a fifth of English words) was a tenth of signatures().
// `p` has at least 8 readable bytes (kPad).
inline uint64_t word_hash(const char* p, size_t len) {
  constexpr uint64_t kLen = 0xD6E8FEB86659FD93ULL;
  if (len <= 8) {
    const uint64_t v = len == 8 ? load64(p) : load64(p) & ((uint64_t{1} << (8 * len)) - 1);  // little-endian
    return core::mix64(v + len * kLen);
  }
  if (len <= 16) return core::mix64(core::mix64(load64(p) + len * kLen) ^ load64(p + len - 8));
  return core::xxh64_bytes(p, len, 0);
}

// Bit i set where p[i] == ' ', for the 64 bytes at p.
inline uint64_t space_mask64(const char* p) {
#if defined(__SSE2__)
  const __m128i sp = _mm_set1_epi8(' ');
  uint64_t m = 0;
  for (int q = 0; q < 4; ++q) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * q));
    m |= static_cast<uint64_t>(static_cast<uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, sp)))) << (16 * q);
  }
  return m;
#else
  uint64_t m = 0;
  for (int i = 0; i < 64; ++i) m |= static_cast<uint64_t>(p[i] == ' ') << i;
  return m;
#endif
}

// Hashes of the words of `norm` (separated by runs of ' ') into words[0, returned count);
// norm[size] .. norm[size + kPad) must be ' '. The words' edges come from a mask of the spaces,
// 64 bytes at a time (an edge wherever a byte's class differs from the byte before it), so the
// loop branches once per edge in a fixed start/end alternation instead of on each word's length.
// `words` only grows (a resize per text would zero-fill it every time).
size_t word_hashes(std::string_view norm, std::vector<uint64_t>& words) {
  const char* s = norm.data();
  const size_t n = norm.size();
  if (words.size() < n / 2 + 1) words.resize(n / 2 + 1);  // at most one word per two bytes
  size_t count = 0, start = 0;
  bool in_word = false;
  uint64_t before = 1;                            // the byte before the text counts as a space
  for (size_t base = 0; base <= n; base += 64) {  // the chunk at n holds the last word's end
    const uint64_t sp = space_mask64(s + base);
    uint64_t edges = sp ^ ((sp << 1) | before);
    before = sp >> 63;
    while (edges) {
      const size_t pos = base + static_cast<size_t>(__builtin_ctzll(edges));
      edges &= edges - 1;
      if (in_word) words[count++] = word_hash(s + start, pos - start);
      start = pos;
      in_word = !in_word;
    }
  }
  return count;
}

// Sorts and dedups 64-bit hashes (uniform by construction: core/uniform_sort.h).
void sort_unique(std::vector<uint64_t>& v, std::vector<uint64_t>& tmp, std::vector<uint32_t>& counts) {
  core::sort_by_uniform_key(v, tmp, counts, [](uint64_t x) { return x; });
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

// Word shingles: h = mix64(sum_t H(word[s+t]) * B^(m-1-t) mod 2^64), a polynomial over the
// words' hashes updated in O(1) per shingle (each word is hashed once, not n times).
// Character shingles: XXH64 of their UTF-8 bytes. `sorted=false` leaves repeats and text order
// (enough for a signature, whose minima do not depend on either).
void shingle_hashes_into(std::string_view text, const MinHashOptions& o, Scratch& sc, std::vector<uint64_t>& out,
                         bool sorted = true) {
  normalize_into(text, o.normalize, sc.norm);
  out.clear();
  const size_t len = sc.norm.size();
  if (o.char_ngrams) {
    const std::string_view norm(sc.norm);
    for_each_shingle(norm, o, sc, [&](std::string_view sh) { out.push_back(core::xxh64(sh)); });
  } else {
    sc.norm.append(kPad, ' ');
    const size_t words = word_hashes(std::string_view(sc.norm.data(), len), sc.words);
    if (words > 0) {
      const size_t m = std::min(words, static_cast<size_t>(o.ngram));
      const uint64_t* wh = sc.words.data();
      uint64_t top = 1;  // B^(m-1)
      for (size_t t = 1; t < m; ++t) top *= kRollBase;
      auto poly = [&](size_t s) {  // the polynomial of shingle s from its m words
        uint64_t h = 0;
        for (size_t t = 0; t < m; ++t) h = h * kRollBase + wh[s + t];
        return h;
      };
      auto roll = [&](uint64_t h, size_t s) { return (h - wh[s - 1] * top) * kRollBase + wh[s + m - 1]; };
      // Two rolling chains, over each half of the shingles, interleaved: each step waits on the
      // one before it (a multiply and two adds), so one chain left the multiplier idle half the
      // time. The values are the same polynomial mod 2^64 whichever chain computes them.
      const size_t count = words - m + 1, half = count / 2;
      out.resize(count);
      uint64_t* w = out.data();
      uint64_t ha = poly(0), hb = poly(half);
      w[0] = ha ^ m;
      w[half] = hb ^ m;
      for (size_t k = 1; k < half; ++k) {
        ha = roll(ha, k);
        hb = roll(hb, half + k);
        w[k] = ha ^ m;
        w[half + k] = hb ^ m;
      }
      for (size_t s = std::max<size_t>(2 * half, 1); s < count; ++s) {
        hb = roll(hb, s);
        w[s] = hb ^ m;
      }
      mix_all(w, count);
    }
  }
  if (sorted) sort_unique(out, sc.sort_tmp, sc.counts);
}

}  // namespace

void validate(const MinHashOptions& o) {
  if (o.num_perm < 1 || o.num_perm > 4096)
    throw InvalidArgument("num_perm: expected 1..4096, got " + std::to_string(o.num_perm));
  if (o.ngram < 1 || o.ngram > 1000) throw InvalidArgument("ngram: expected 1..1000, got " + std::to_string(o.ngram));
}

MinHashOptions char_shingle_options(int k, bool fold) {
  MinHashOptions o;
  o.ngram = k;
  o.char_ngrams = true;
  o.normalize = {.lowercase = fold,
                 .collapse_whitespace = fold,
                 .strip_punctuation = false,
                 .digits_to_zero = false,
                 .form = core::UnicodeForm::kNone};
  return o;
}

std::vector<uint64_t> shingle_hashes(std::string_view text, const MinHashOptions& o) {
  validate(o);
  Scratch sc;
  std::vector<uint64_t> out;
  shingle_hashes_into(text, o, sc, out);
  return out;
}

std::vector<std::string> shingles(std::string_view text, const MinHashOptions& o) {
  validate(o);
  const std::string norm = normalize(text, o.normalize);
  Scratch sc;
  std::vector<std::string> out;
  for_each_shingle(std::string_view(norm), o, sc, [&](std::string_view sh) { out.emplace_back(sh); });
  return out;
}

void signature_of(std::span<const uint64_t> set, const MinHashOptions& o, uint64_t* out) {
  Scratch sc;
  signature_with_keys(set, perm_keys(o), out, sc);
}

namespace {

// Signatures (sign) and/or sorted shingle sets (keep) of the texts; with `wanted`, only rows whose
// flag is set are hashed (the others get no signature work and an empty set).
// With `sink`, each signature goes to sink(row, values) from a per-thread buffer instead.
Signatures build(std::span<const std::string_view> texts, const MinHashOptions& o, bool sign, bool keep,
                 const uint8_t* wanted, const SignatureSink* sink = nullptr) {
  validate(o);
  const size_t n = texts.size();
  const auto keys = perm_keys(o);
  Signatures sig;
  sig.num_perm = o.num_perm;
  if (sign && !sink) {
    // The signatures are backed in one call instead of a page fault per 4 KiB (core/prefault.h).
    sig.values.reserve(n * static_cast<size_t>(o.num_perm));
    core::prefault_tail(sig.values, n * static_cast<size_t>(o.num_perm));
    sig.values.resize(n * static_cast<size_t>(o.num_perm));
  }
  sig.shingle_offsets.assign(n + 1, 0);
  if (keep) {
    // Room for every shingle set, reserved once: at most a word shingle per two bytes or a
    // character shingle per byte of ASCII text (NFKC can lengthen other text; the vector then
    // grows as usual). Untouched reserve is only address space.
    size_t most = 0;
    for (size_t i = 0; i < n; ++i)
      if (!wanted || wanted[i]) most += (o.char_ngrams ? texts[i].size() : texts[i].size() / 2) + 1;
    sig.shingle_data.reserve(most);
  }
  // Rows go in fixed blocks (the layout does not depend on the thread count), a wave of blocks at
  // a time: each block's sets go to a small buffer that the next wave reuses (cache-resident), and
  // are appended to shingle_data in block order after the wave. One fresh page per 4 KiB of output,
  // where sets built whole in per-block buffers and then joined touched twice the memory.
  constexpr size_t kBlock = 256;
  const size_t blocks = (n + kBlock - 1) / kBlock;
  const size_t wave = std::min(blocks, 4 * static_cast<size_t>(std::max(1, core::num_threads())));
  std::vector<std::vector<uint64_t>> block_sets(keep ? wave : 0);
  for (size_t w0 = 0; w0 < blocks; w0 += wave) {
    const size_t w1 = std::min(blocks, w0 + wave);
    core::parallel_for(w1 - w0, 1, [&](size_t bb, size_t be) {
      Scratch sc;
      std::vector<uint64_t> set;
      std::vector<uint64_t> one(sink ? keys.size() : 0);
      for (size_t blk = w0 + bb; blk < w0 + be; ++blk) {
        std::vector<uint64_t>* out = keep ? &block_sets[blk - w0] : nullptr;
        if (out) out->clear();
        for (size_t i = blk * kBlock; i < std::min(n, (blk + 1) * kBlock); ++i) {
          if (wanted && !wanted[i]) continue;
          shingle_hashes_into(texts[i], o, sc, set, keep);
          if (sink) {
            signature_with_keys(set, keys, one.data(), sc);
            (*sink)(i, one.data());
          } else if (sign) {
            signature_with_keys(set, keys, sig.values.data() + i * keys.size(), sc);
          }
          if (out) {
            out->insert(out->end(), set.begin(), set.end());
            sig.shingle_offsets[i + 1] = static_cast<int64_t>(set.size());
          }
        }
      }
    });
    if (!keep) continue;
    size_t added = 0;
    for (size_t blk = w0; blk < w1; ++blk) added += block_sets[blk - w0].size();
    core::prefault_tail(sig.shingle_data, sig.shingle_data.size() + added);
    for (size_t blk = w0; blk < w1; ++blk)
      sig.shingle_data.insert(sig.shingle_data.end(), block_sets[blk - w0].begin(), block_sets[blk - w0].end());
  }
  for (size_t i = 0; i < n; ++i) sig.shingle_offsets[i + 1] += sig.shingle_offsets[i];
  return sig;
}

}  // namespace

Signatures signatures(std::span<const std::string_view> texts, const MinHashOptions& o, bool keep_shingles) {
  return build(texts, o, /*sign=*/true, keep_shingles, nullptr);
}

void for_each_signature(std::span<const std::string_view> texts, const MinHashOptions& o, const SignatureSink& sink) {
  build(texts, o, /*sign=*/true, /*keep=*/false, nullptr, &sink);
}

Signatures shingle_sets(std::span<const std::string_view> texts, std::span<const uint8_t> wanted,
                        const MinHashOptions& o) {
  if (wanted.size() != texts.size())
    throw InvalidArgument("wanted: expected one flag per text (" + std::to_string(texts.size()) + "), got " +
                          std::to_string(wanted.size()));
  Signatures sets = build(texts, o, /*sign=*/false, /*keep=*/true, wanted.data());
  sets.num_perm = 0;
  return sets;
}

std::vector<uint64_t> signatures_of_sets(std::span<const uint64_t> hashes, std::span<const int64_t> offsets,
                                         const MinHashOptions& o) {
  validate(o);
  if (offsets.empty() || offsets[0] != 0) throw InvalidArgument("offsets: expected rows + 1 entries starting at 0");
  for (size_t i = 1; i < offsets.size(); ++i)
    if (offsets[i] < offsets[i - 1] || static_cast<uint64_t>(offsets[i]) > hashes.size())
      throw InvalidArgument("offsets: entry " + std::to_string(i) + " is out of order or past the hashes");
  const size_t n = offsets.size() - 1;
  const auto keys = perm_keys(o);
  std::vector<uint64_t> out(n * keys.size());
  core::parallel_for(n, 64, [&](size_t b, size_t e) {
    Scratch sc;
    for (size_t i = b; i < e; ++i)
      signature_with_keys(
          hashes.subspan(static_cast<size_t>(offsets[i]), static_cast<size_t>(offsets[i + 1] - offsets[i])), keys,
          out.data() + i * keys.size(), sc);
  });
  return out;
}

namespace {

// |a ∩ b| of two sorted unique arrays from a[i], b[j] on. Branch-free merge: which side advances is
// data, not a branch (random hashes mispredict half the comparisons).
size_t merge_count(const uint64_t* a, size_t na, const uint64_t* b, size_t nb, size_t i, size_t j) {
  size_t inter = 0;
  while (i < na && j < nb) {
    const uint64_t x = a[i], y = b[j];
    inter += x == y;
    i += x <= y;
    j += y <= x;
  }
  return inter;
}

size_t intersect_scalar(const uint64_t* a, size_t na, const uint64_t* b, size_t nb) {
  return merge_count(a, na, b, nb, 0, 0);
}

#if defined(__x86_64__)
// Eight against eight at a time: a block of a is compared with all eight rotations of a block of
// b (each value of a matches at most one of b), then the block with the smaller last value moves
// on (both when equal), so every two overlapping blocks meet once; the tails merge one by one.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12's AVX-512 intrinsics, as above
__attribute__((target("avx512f"))) size_t intersect_avx512(const uint64_t* a, size_t na, const uint64_t* b, size_t nb) {
  size_t i = 0, j = 0, inter = 0;
  while (i + 8 <= na && j + 8 <= nb) {
    const __m512i va = _mm512_loadu_si512(a + i), vb = _mm512_loadu_si512(b + j);
    __mmask8 m = _mm512_cmpeq_epu64_mask(va, vb);
    m |= _mm512_cmpeq_epu64_mask(va, _mm512_alignr_epi64(vb, vb, 1));
    m |= _mm512_cmpeq_epu64_mask(va, _mm512_alignr_epi64(vb, vb, 2));
    m |= _mm512_cmpeq_epu64_mask(va, _mm512_alignr_epi64(vb, vb, 3));
    m |= _mm512_cmpeq_epu64_mask(va, _mm512_alignr_epi64(vb, vb, 4));
    m |= _mm512_cmpeq_epu64_mask(va, _mm512_alignr_epi64(vb, vb, 5));
    m |= _mm512_cmpeq_epu64_mask(va, _mm512_alignr_epi64(vb, vb, 6));
    m |= _mm512_cmpeq_epu64_mask(va, _mm512_alignr_epi64(vb, vb, 7));
    inter += static_cast<size_t>(__builtin_popcount(m));
    const uint64_t amax = a[i + 7], bmax = b[j + 7];
    i += amax <= bmax ? 8 : 0;
    j += bmax <= amax ? 8 : 0;
  }
  return inter + merge_count(a, na, b, nb, i, j);
}
#pragma GCC diagnostic pop
#endif

using IntersectKernel = size_t (*)(const uint64_t*, size_t, const uint64_t*, size_t);

IntersectKernel pick_intersect() {
  __builtin_cpu_init();
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) return intersect_avx512;
#endif
  return intersect_scalar;
}

const IntersectKernel intersect_count = pick_intersect();

}  // namespace

double jaccard(std::span<const uint64_t> a, std::span<const uint64_t> b) {
  if (a.empty() && b.empty()) return 0.0;
  const size_t inter = intersect_count(a.data(), a.size(), b.data(), b.size());
  return static_cast<double>(inter) / static_cast<double>(a.size() + b.size() - inter);
}

double estimated_jaccard(const uint64_t* a, const uint64_t* b, int num_perm) {
  int eq = 0;
  for (int p = 0; p < num_perm; ++p) eq += a[p] == b[p];
  return static_cast<double>(eq) / num_perm;
}

double candidate_probability(double s, int bands, int rows) { return 1.0 - std::pow(1.0 - std::pow(s, rows), bands); }

namespace {
// Composite Simpson on [lo, hi] with 512 intervals; the integrands are smooth polynomials.
template <typename F>
double integrate(F f, double lo, double hi) {
  constexpr int kSteps = 512;
  const double h = (hi - lo) / kSteps;
  double acc = f(lo) + f(hi);
  for (int i = 1; i < kSteps; ++i) acc += f(lo + i * h) * (i % 2 ? 4.0 : 2.0);
  return acc * h / 3.0;
}
}  // namespace

BandsRows choose_bands_rows(double threshold, int num_perm, double fp_weight, double fn_weight) {
  if (!(threshold > 0.0 && threshold < 1.0))
    throw InvalidArgument("threshold: expected a value in (0, 1), got " + std::to_string(threshold));
  if (num_perm < 1 || num_perm > 4096)
    throw InvalidArgument("num_perm: expected 1..4096, got " + std::to_string(num_perm));
  if (!(fp_weight >= 0 && fn_weight >= 0 && fp_weight + fn_weight > 0))
    throw InvalidArgument("weights: expected two non-negative numbers, not both 0");
  BandsRows best;
  double best_err = std::numeric_limits<double>::infinity();
  for (int b = 1; b <= num_perm; ++b) {
    for (int r = 1; r <= num_perm / b; ++r) {
      const double fp = integrate([&](double s) { return candidate_probability(s, b, r); }, 0.0, threshold);
      const double fn = integrate([&](double s) { return 1.0 - candidate_probability(s, b, r); }, threshold, 1.0);
      const double err = fp * fp_weight + fn * fn_weight;
      if (err < best_err) {
        best_err = err;
        best = {b, r};
      }
    }
  }
  return best;
}

}  // namespace airtune::dedup
