// MinHash signatures over word or character n-gram shingles, and the LSH banding arithmetic.
//
// Shingles: the text is normalised (core/normalize.h); word shingles are n consecutive words (split on
// ' ' after normalisation) joined by one space, character shingles are n consecutive code points.
// A text with fewer than n words (code points) has one shingle: all of it. An empty text has no
// shingles and never becomes a near-duplicate. Each shingle is hashed to 64 bits: a character
// shingle by XXH64 (seed 0) of its bytes, a word shingle by mix64((sum_t H(word_t) * B^(m-1-t)
// mod 2^64) xor m) over its m words (a rolling polynomial, so each word is hashed once; H packs words of
// up to 8 bytes into an integer and mixes it, mixes the first and last 8 bytes of words of 9 to 16
// bytes in two rounds, and is XXH64 for longer words). The
// shingle set of a text is a sorted, unique vector<uint64_t>.
//
// Signature: for permutation p, sig[p] = min over shingles x of (a[p] * y + b[p]) mod 2^32 where
// y = lo32(m) ^ hi32(m), m = mix64(x), with a[p] (odd) and b[p] drawn from SplitMix64 of the seed
// (each permutation a bijection on 32-bit values; register-tiled AVX-512 or AVX2 loops, chosen at run time). Values are
// stored zero-extended in uint64 (UINT64_MAX = empty set). The fraction
// of equal positions of two signatures estimates the Jaccard similarity of the shingle sets
// (standard error sqrt(J(1-J)/num_perm)).
//
// Bands and rows: a pair of Jaccard s shares at least one of b bands of r rows with probability
// P(s) = 1 - (1 - s^r)^b. choose_bands_rows() picks (b, r) with b*r <= num_perm minimising
// w_fp * integral_0^t P(s) ds + w_fn * integral_t^1 (1 - P(s)) ds, the rule of datasketch's
// MinHashLSH (`_optimal_param`), so its choice can be compared directly.
//
// Thread safety: pure functions; signatures() runs in parallel in the airtune arena and its result
// does not depend on the thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/normalize.h"

namespace airtune::dedup {

using core::normalize_into;
using core::NormalizeOptions;

struct MinHashOptions {
  int num_perm = 128;        ///< signature length, 1..4096
  int ngram = 5;             ///< shingle length in words (or code points), >= 1
  bool char_ngrams = false;  ///< character instead of word shingles
  uint64_t seed = 1;         ///< permutation keys derive from it
  NormalizeOptions normalize{true, true, true, false};
};

/// Throws InvalidArgument naming the bad field.
void validate(const MinHashOptions& options);

/// Options of character k-shingles (k code points) for shingle sets compared with jaccard(), no
/// Unicode normalisation form: the text case-folded with whitespace collapsed (`fold`), or as it is.
MinHashOptions char_shingle_options(int k, bool fold);

/// Sorted unique XXH64 hashes of the shingles of `text` (normalised first).
std::vector<uint64_t> shingle_hashes(std::string_view text, const MinHashOptions& options);

/// The shingles of `text` as strings, in text order with repeats (for inspection and tests).
std::vector<std::string> shingles(std::string_view text, const MinHashOptions& options);

/// The signature of one shingle set: num_perm values (UINT64_MAX everywhere for an empty set).
void signature_of(std::span<const uint64_t> shingle_set, const MinHashOptions& options, uint64_t* out);

/// Signatures of shingle sets given as hashes: set i is hashes[offsets[i], offsets[i + 1]) (any
/// order, repeats allowed; offsets has rows + 1 non-decreasing entries starting at 0). Returns
/// rows x num_perm values, equal to what signatures() computes from the texts with those hashes.
/// Throws InvalidArgument for bad offsets. Runs in parallel in the airtune arena.
std::vector<uint64_t> signatures_of_sets(std::span<const uint64_t> hashes, std::span<const int64_t> offsets,
                                         const MinHashOptions& options);

/// Signatures and shingle sets of many texts.
struct Signatures {
  int num_perm = 0;
  std::vector<uint64_t> values;          ///< rows x num_perm, row-major
  std::vector<uint64_t> shingle_data;    ///< all shingle sets back to back
  std::vector<int64_t> shingle_offsets;  ///< rows + 1 entries
  size_t size() const { return shingle_offsets.empty() ? 0 : shingle_offsets.size() - 1; }
  std::span<const uint64_t> shingle_set(size_t i) const {
    return {shingle_data.data() + shingle_offsets[i], static_cast<size_t>(shingle_offsets[i + 1] - shingle_offsets[i])};
  }
  const uint64_t* row(size_t i) const { return values.data() + i * static_cast<size_t>(num_perm); }
};

/// Shingle sets and signatures of `texts` (keep_shingles=false drops the sets after hashing, for
/// callers that do not verify).
Signatures signatures(std::span<const std::string_view> texts, const MinHashOptions& options,
                      bool keep_shingles = true);

/// Receives a row's signature (num_perm values, valid during the call) from for_each_signature().
using SignatureSink = std::function<void(size_t row, const uint64_t* signature)>;

/// The signature of every text, each handed to `sink` as soon as it is made, never all held:
/// sink runs in parallel (once per row, rows in no fixed order), so it must only write row-owned
/// memory. The values equal signatures()'s.
void for_each_signature(std::span<const std::string_view> texts, const MinHashOptions& options,
                        const SignatureSink& sink);

/// The sorted unique shingle sets of the texts whose `wanted` flag is set (one flag per text;
/// InvalidArgument otherwise), the others empty: shingle_data and shingle_offsets as signatures()
/// gives them for those rows, no signature values (num_perm 0). For verifying only the rows that
/// became candidates, when keeping every row's set would cost 8 bytes per shingle of the corpus.
Signatures shingle_sets(std::span<const std::string_view> texts, std::span<const uint8_t> wanted,
                        const MinHashOptions& options);

/// Exact Jaccard |a ∩ b| / |a ∪ b| of two sorted unique sets; 0 when both are empty.
double jaccard(std::span<const uint64_t> a, std::span<const uint64_t> b);

/// Fraction of equal positions of two signatures of length `num_perm`.
double estimated_jaccard(const uint64_t* a, const uint64_t* b, int num_perm);

/// P(candidate | Jaccard s) = 1 - (1 - s^rows)^bands.
double candidate_probability(double s, int bands, int rows);

struct BandsRows {
  int bands = 0;
  int rows = 0;
};

/// (bands, rows) for `threshold` in (0, 1) and `num_perm`, minimising the weighted false-positive
/// and false-negative areas (see above). Weights must be >= 0 and not both 0.
BandsRows choose_bands_rows(double threshold, int num_perm, double fp_weight = 0.5, double fn_weight = 0.5);

}  // namespace airtune::dedup
