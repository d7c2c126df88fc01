// Exact deduplication: rows whose normalised text is identical.
//
// Each row is normalised (see core/normalize.h) and hashed with XXH64; rows with equal hashes are then
// compared byte for byte on their normalised text, so a hash collision never merges two different
// rows. Memory: 16 bytes per row plus one normalised text per duplicate group at a time.
//
// Thread safety: reentrant; normalisation and hashing run in parallel in the airtune arena, the
// result does not depend on the thread count.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/normalize.h"
#include "dedup/survivors.h"

namespace airtune::dedup {

using core::normalize;
using core::normalize_into;
using core::NormalizeOptions;

/// XXH64 (seed 0) of the normalised form of each text.
std::vector<uint64_t> exact_hashes(std::span<const std::string_view> texts, const NormalizeOptions& options);

struct ExactResult {
  Clusters clusters;             ///< cluster id = surviving row; keep mask; sizes
  std::vector<uint64_t> hashes;  ///< per row: XXH64 of the normalised text
  int64_t hash_collisions = 0;   ///< equal hashes with different normalised text (kept apart)
};

/// Groups identical normalised texts and picks one survivor per group by `rule`
/// (`scores` is read for SurvivorRule::kScore; lengths are the raw UTF-8 byte lengths).
ExactResult exact_duplicates(std::span<const std::string_view> texts, const NormalizeOptions& options,
                             SurvivorRule rule, std::span<const double> scores);

}  // namespace airtune::dedup
