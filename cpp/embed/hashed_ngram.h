// HashedNgramEmbedder: a model-free text embedding by feature hashing.
//
// Each text is NFKC-normalised, case-folded and whitespace-collapsed (core/normalize.h), then its
// character n-grams (n in [char_min, char_max], over code points, the text padded with one space
// at each end) and word n-grams (n in [1, word_max]) are hashed with XXH64 (features of different
// kinds and lengths get different seeds). Feature hash h adds sign(h) * weight to dimension
// h mod dim (the "hashing trick", Weinberger et al. 2009: signed so collisions cancel in
// expectation). Word features carry `word_weight`. Rows are L2-normalised, so inner product is
// cosine similarity. An empty text embeds as the unit vector of the single feature "<empty>", so
// all empty texts are identical to each other and the output has no zero rows.
//
// Output: rows x dim float32, row-major. Deterministic (no dependence on thread count or seed
// other than `seed`). Memory: the output plus one dim-sized row of work per thread.
// Thread safety: embed() is reentrant and runs in parallel in the airtune arena.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace airtune::embed {

struct HashedNgramOptions {
  int dim = 256;     ///< 1..65536
  int char_min = 3;  ///< 0 disables character n-grams (then char_max is ignored)
  int char_max = 5;
  int word_max = 1;  ///< 0 disables word n-grams
  float word_weight = 1.0f;
  uint64_t seed = 0;
};

/// Throws InvalidArgument naming the bad field.
void validate(const HashedNgramOptions& options);

/// Embeds `texts` into a rows x options.dim float32 matrix (row-major).
std::vector<float> hashed_ngram_embed(std::span<const std::string_view> texts, const HashedNgramOptions& options);

}  // namespace airtune::embed
