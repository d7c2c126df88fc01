// MinHashIndex: MinHash-LSH over a growing corpus, with exact-Jaccard verification and a file
// format, so new data can be checked against an existing corpus without re-hashing it.
//
// Candidates: rows whose signatures agree on every row of at least one band. Band keys are a
// 64-bit hash of the band's `rows` signature values and the band number (dedup::band_key). Rows with identical
// whole signatures (and identical shingle sets when verifying) are first collapsed onto their
// first row, and only first rows enter the buckets; afterwards each copy group is expanded again
// (all pairs inside it, and each copy against every row its first row matched), unless the group
// has more than `max_bucket` rows: then it is reported as a star around its first row (so a
// million copies cost a million pairs, not 10^12). Likewise a bucket larger than `max_bucket` is
// linked as a star around its first member plus a chain through its members. Both cases keep
// memory linear and are counted in PairSet::capped_buckets; clusters are unaffected. Candidates are verified by exact
// Jaccard of the shingle sets (on by default); unverified mode reports the signature estimate instead.
//
// Memory: per row num_perm * 8 bytes of signature + 8 bytes per distinct shingle (kept only when
// verification is possible; self_pairs() can verify from the texts instead, holding the sets of
// candidate rows only) + bands * 16 bytes of band table.
//
// File format (little-endian), written atomically (io::AtomicFile: temporary file, fsync, rename):
//   magic "AIRTMHX1" | u32 version (3; 1 and 2 load for
//   character shingles only, see lsh_index.cpp) | u32 header bytes | header fields (num_perm, ngram,
//   char_ngrams, seed, u32 normalisation flags (NormalizeOptions::flags(): the four switches and the
//   Unicode form), bands, rows, has_shingles, f64 threshold) | u64 rows |
//   u64 shingle count | signatures | shingle offsets (rows + 1, i64) | shingle hashes |
//   u64 XXH64 of everything before it.
// load() checks magic, version, sizes against the file length and the checksum and throws
// FormatError naming the problem (IoError when the file cannot be read).
//
// Thread safety: const methods may run concurrently; add() must not run concurrently with others.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dedup/minhash.h"

namespace airtune::dedup {

/// Verified (or estimated) similar pairs. For self pairs a < b; for query pairs a is the query
/// row and b the index row. Sorted by (a, b).
struct PairSet {
  std::vector<int64_t> a;
  std::vector<int64_t> b;
  std::vector<double> similarity;  ///< exact Jaccard when verified, else the signature estimate
  int64_t candidates = 0;          ///< distinct candidate pairs examined
  int64_t capped_buckets = 0;      ///< buckets larger than max_bucket (linked as star + chain)
};

class MinHashIndex {
 public:
  /// `bands * rows` must be <= options.num_perm.
  MinHashIndex(const MinHashOptions& options, int bands, int rows, bool keep_shingles = true);

  const MinHashOptions& options() const { return options_; }
  int bands() const { return bands_; }
  int rows() const { return rows_; }
  bool has_shingles() const { return keep_shingles_; }
  /// The similarity threshold the index was built for (0 = not set); stored in the file.
  double threshold() const { return threshold_; }
  void set_threshold(double t);
  size_t size() const { return sig_.size(); }
  const Signatures& signatures() const { return sig_; }

  /// Hashes `texts` and appends them as rows size()..size()+n-1.
  void add(std::span<const std::string_view> texts);

  /// Similar pairs among the indexed rows with similarity >= threshold. An index built without
  /// its shingle sets verifies from `texts` (the texts as added, one per row; InvalidArgument for
  /// another count): only the rows that share a band bucket or a whole signature with another row
  /// are shingled again, so the sets of the rest of the corpus are never held.
  PairSet self_pairs(double threshold, bool verify, int64_t max_bucket = 256,
                     std::span<const std::string_view> texts = {}) const;

  /// Verified similar pairs among `texts` alone (rows 0..n-1 of `texts`; the index's own rows take no
  /// part), with this index's options, bands and rows: what add(texts) then self_pairs(threshold,
  /// true, max_bucket, texts) on an empty index gives, pair for pair, without holding the
  /// signatures: each is reduced to its band keys and a whole-signature key as it is made, and only
  /// rows that share a bucket are shingled again for verification. Memory per row: bands * 16 + 17
  /// bytes plus the verification sets of bucketed rows, where an index holds num_perm * 8 bytes.
  PairSet pairs_within(std::span<const std::string_view> texts, double threshold, int64_t max_bucket = 256) const;

  /// Pairs (query row, index row) with similarity >= threshold. Query rows are not added.
  PairSet query(std::span<const std::string_view> texts, double threshold, bool verify) const;

  void save(const std::string& path) const;
  static MinHashIndex load(const std::string& path);

 private:
  struct BandEntry {
    uint64_t key;
    int64_t row;
    bool operator<(const BandEntry& o) const { return key < o.key || (key == o.key && row < o.row); }
  };
  void rebuild_tables();
  void sort_tables();
  static void check_pair_args(double threshold, int64_t max_bucket);
  std::vector<uint8_t> bucketed_rows(size_t n) const;  // 1 for rows in a bucket of two or more
  // Self pairs from each row's whole-signature key (unsorted, one per row), empty flags and the
  // verification sets (or the signatures when not verifying), with this index's tables.
  PairSet linked_pairs(std::vector<std::pair<uint64_t, int64_t>> whole, std::span<const uint8_t> empty,
                       const Signatures& sets, double threshold, bool verify, int64_t max_bucket) const;
  uint64_t band_key(const uint64_t* sig, int band) const;
  PairSet finish(std::vector<uint64_t>& packed, const Signatures& left, const Signatures& right, double threshold,
                 bool verify) const;

  MinHashOptions options_;
  int bands_;
  int rows_;
  bool keep_shingles_;
  double threshold_ = 0.0;
  Signatures sig_;
  std::vector<std::vector<BandEntry>> tables_;  // per band, sorted
};

}  // namespace airtune::dedup
