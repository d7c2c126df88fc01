#include "dedup/minhash.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/errors.h"
#include "core/hash.h"
#include "core/threading.h"
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

// The inner loop: 32-bit lanes so that it vectorises (8 lanes with AVX2, chosen at run time).
__attribute__((target_clones("avx2", "default"))) void min_hash_32(const uint32_t* set, size_t n, const uint32_t* a,
                                                                   const uint32_t* b, uint32_t* out, size_t np) {
  for (size_t p = 0; p < np; ++p) out[p] = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t y = set[i];
    for (size_t p = 0; p < np; ++p) {
      const uint32_t h = a[p] * y + b[p];
      out[p] = h < out[p] ? h : out[p];
    }
  }
}

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
  folded.resize(set.size());
  for (size_t i = 0; i < set.size(); ++i) {
    const uint64_t m = core::mix64(set[i]);  // robust to structured inputs, once per shingle
    folded[i] = static_cast<uint32_t>(m ^ (m >> 32));
  }
  mins.resize(np);
  min_hash_32(folded.data(), folded.size(), keys.a.data(), keys.b.data(), mins.data(), np);
  for (size_t p = 0; p < np; ++p) out[p] = mins[p];
}

constexpr uint64_t kRollBase = 0x9E3779B97F4A7C15ULL;  // odd: multiplication is invertible mod 2^64

// 64-bit hash of one word: words of up to 8 bytes are packed into an integer (with their length)
// and mixed, longer words go through XXH64.
inline uint64_t word_hash(const char* p, size_t len) {
  if (len <= 8) {
    uint64_t v = 0;
    std::memcpy(&v, p, len);
    return core::mix64(v + len * 0xD6E8FEB86659FD93ULL);
  }
  return core::xxh64_bytes(p, len, 0);
}

// Word shingles: h = mix64(sum_t H(word[s+t]) * B^(m-1-t) mod 2^64), a polynomial over the
// words' hashes updated in O(1) per shingle (each word is hashed once, not n times).
// Character shingles: XXH64 of their UTF-8 bytes.
void shingle_hashes_into(std::string_view text, const MinHashOptions& o, Scratch& sc, std::vector<uint64_t>& out) {
  normalize_into(text, o.normalize, sc.norm);
  out.clear();
  const std::string_view norm(sc.norm);
  if (o.char_ngrams) {
    for_each_shingle(norm, o, sc, [&](std::string_view sh) { out.push_back(core::xxh64(sh)); });
  } else {
    split_words(norm, sc.starts, sc.ends);
    const size_t words = sc.starts.size();
    if (words > 0) {
      sc.words.resize(words);
      for (size_t k = 0; k < words; ++k) sc.words[k] = word_hash(norm.data() + sc.starts[k], sc.ends[k] - sc.starts[k]);
      const size_t m = std::min(words, static_cast<size_t>(o.ngram));
      uint64_t top = 1;  // B^(m-1)
      for (size_t t = 1; t < m; ++t) top *= kRollBase;
      uint64_t h = 0;
      for (size_t t = 0; t < m; ++t) h = h * kRollBase + sc.words[t];
      out.reserve(words - m + 1);
      out.push_back(core::mix64(h ^ m));
      for (size_t s = 1; s + m <= words; ++s) {
        h = (h - sc.words[s - 1] * top) * kRollBase + sc.words[s + m - 1];
        out.push_back(core::mix64(h ^ m));
      }
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
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

Signatures signatures(std::span<const std::string_view> texts, const MinHashOptions& o, bool keep_shingles) {
  validate(o);
  const size_t n = texts.size();
  const auto keys = perm_keys(o);
  Signatures sig;
  sig.num_perm = o.num_perm;
  sig.values.resize(n * static_cast<size_t>(o.num_perm));
  std::vector<std::vector<uint64_t>> sets(keep_shingles ? n : 0);
  core::parallel_for(n, 64, [&](size_t b, size_t e) {
    Scratch sc;
    std::vector<uint64_t> set;
    for (size_t i = b; i < e; ++i) {
      shingle_hashes_into(texts[i], o, sc, set);
      signature_with_keys(set, keys, sig.values.data() + i * keys.size(), sc);
      if (keep_shingles) sets[i].assign(set.begin(), set.end());
    }
  });
  sig.shingle_offsets.assign(n + 1, 0);
  for (size_t i = 0; i < n; ++i)
    sig.shingle_offsets[i + 1] = sig.shingle_offsets[i] + static_cast<int64_t>(keep_shingles ? sets[i].size() : 0);
  if (keep_shingles) {
    sig.shingle_data.resize(static_cast<size_t>(sig.shingle_offsets[n]));
    for (size_t i = 0; i < n; ++i) {
      std::copy(sets[i].begin(), sets[i].end(), sig.shingle_data.begin() + sig.shingle_offsets[i]);
      std::vector<uint64_t>().swap(sets[i]);
    }
  }
  return sig;
}

double jaccard(std::span<const uint64_t> a, std::span<const uint64_t> b) {
  if (a.empty() && b.empty()) return 0.0;
  size_t i = 0, j = 0, inter = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] < b[j])
      ++i;
    else if (b[j] < a[i])
      ++j;
    else {
      ++inter;
      ++i;
      ++j;
    }
  }
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
