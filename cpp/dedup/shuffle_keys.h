// Keys for deduplication across machines: what each row contributes to a shuffle, computed where
// the row is (a Ray task over one block), and the kernels that finish the work once rows sharing
// a key meet in one task. They reproduce the single-machine results exactly:
//
// - exact: exact_keys() gives the XXH64 of the normalised text (seed 0: the hash exact_duplicates
//   groups on) and a second XXH64 (another seed) that stands in for the byte comparison done
//   locally, so two rows are the same text when both 64-bit hashes agree (a 2^-128 chance of error
//   instead of a byte compare that would need the texts shuffled).
// - near: minhash_keys() gives per row its band keys (band_key(), the keys MinHashIndex buckets
//   on); the key of its copy group (XXH64 of the whole
//   signature and of the shingle set: rows equal in both are copies, collapsed onto their first
//   row as in MinHashIndex::self_pairs); and, for verification, its shingle set.
//   bucket_pairs() turns (band, key, row) entries of the copy-group representatives into the
//   candidate pairs of MinHashIndex::self_pairs (every pair of a bucket, or a star around its first
//   member plus a chain through its members when it holds more than `max_bucket` rows), and
//   jaccard_rows() verifies them by exact Jaccard of the shingle sets.
//
// Row numbers are global (int64, in input order): a task's output does not depend on how rows
// were split into blocks. Thread safety: pure functions, parallel in the airtune arena; results do
// not depend on the thread count.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/hash.h"
#include "core/normalize.h"
#include "dedup/minhash.h"

namespace airtune::dedup {

/// The seed of exact_keys()' second hash.
inline constexpr uint64_t kExactCheckSeed = 0x9E3779B97F4A7C15ULL;

struct ExactKeys {
  std::vector<uint64_t> hash;   ///< per row: XXH64(normalised text, seed 0), as exact_hashes()
  std::vector<uint64_t> check;  ///< per row: XXH64(normalised text, kExactCheckSeed)
};

ExactKeys exact_keys(std::span<const std::string_view> texts, const core::NormalizeOptions& options);

struct MinHashKeys {
  int bands = 0;
  std::vector<uint64_t> band_keys;       ///< rows x bands, row-major
  std::vector<uint64_t> signature_hash;  ///< per row: XXH64 of the num_perm signature values (seed 0x5157)
  std::vector<uint64_t> set_hash;        ///< per row: XXH64 of the sorted shingle hashes (seed 0)
  std::vector<uint8_t> empty;            ///< per row: 1 when the text has no shingles (never a duplicate)
  std::vector<uint64_t> shingle_data;    ///< every shingle set back to back (sorted, unique)
  std::vector<int64_t> shingle_offsets;  ///< rows + 1 entries
};

/// The band key of band `band` of a signature (its `rows` values from band * rows on), the key
/// MinHashIndex buckets on: the values two to a 64-bit word, each word folded into the state by a
/// 128-bit multiply, seeded by band and rows, finished by mix64. Not a stored format (tables are
/// rebuilt on load); equal bands always give equal keys, and a collision only adds a candidate.
/// Inline: the index's table build calls it bands x rows times, and inlined the CPU overlaps the
/// bands' multiply chains (a call per band left them one after another: a twentieth of add()).
inline uint64_t band_key(const uint64_t* signature, int band, int rows) noexcept {
  // Two values to a word (signature values are below 2^32, so the packing loses nothing; other
  // values are still hashed whole), one 128-bit multiply per word, where XXH64 of the band's bytes
  // ran a 32-byte stripe loop for 64 bytes. Keys only decide which rows become candidates, and
  // every candidate is checked (exact Jaccard or the signature estimate): a collision costs time.
  constexpr uint64_t kMul = 0x9FB21C651E98DF25ULL;
  auto mul_fold = [](uint64_t a, uint64_t b) {  // the 128-bit product folded to 64 bits (wyhash's step)
    const __uint128_t p = static_cast<__uint128_t>(a) * b;
    return static_cast<uint64_t>(p) ^ static_cast<uint64_t>(p >> 64);
  };
  const uint64_t* v = signature + static_cast<size_t>(band) * rows;
  uint64_t h = core::mix64(static_cast<uint64_t>(band) * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(rows));
  int k = 0;
  for (; k + 2 <= rows; k += 2) h = mul_fold(h ^ v[k] ^ ((v[k + 1] << 32) | (v[k + 1] >> 32)), kMul);
  if (k < rows) h = mul_fold(h ^ v[k], kMul);
  return core::mix64(h);
}

/// Keys of `texts` under `options` with `bands` x `rows` (bands * rows <= num_perm; InvalidArgument
/// otherwise). Memory: 8 * (bands + 2) bytes per row plus 8 bytes per distinct shingle.
MinHashKeys minhash_keys(std::span<const std::string_view> texts, const MinHashOptions& options, int bands, int rows);

struct RowPairs {
  std::vector<int64_t> a;  ///< a < b, sorted by (a, b), unique
  std::vector<int64_t> b;
  int64_t capped_buckets = 0;  ///< buckets larger than max_bucket (linked as star + chain)
};

/// Candidate pairs of the buckets formed by equal (band, key) entries: `band`, `key` and `row`
/// have one entry per (row, band) of the representatives routed to this task (any order; a row
/// appears at most once per band). max_bucket >= 2.
RowPairs bucket_pairs(std::span<const int32_t> band, std::span<const uint64_t> key, std::span<const int64_t> row,
                      int64_t max_bucket);

/// Exact Jaccard of set i of A with set i of B for every i (two collections of sorted unique sets
/// given by data and offsets with the same number of sets).
std::vector<double> jaccard_rows(std::span<const uint64_t> a_data, std::span<const int64_t> a_offsets,
                                 std::span<const uint64_t> b_data, std::span<const int64_t> b_offsets);

}  // namespace airtune::dedup
