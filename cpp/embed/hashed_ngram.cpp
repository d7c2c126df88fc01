#include "embed/hashed_ngram.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/errors.h"
#include "core/hash.h"
#include "core/normalize.h"
#include "core/threading.h"

namespace airtune::embed {
namespace {

inline void add_feature(std::string_view f, uint64_t seed, float w, float* row, int dim) {
  const uint64_t h = core::xxh64(f, seed);
  row[(h >> 1) % static_cast<uint64_t>(dim)] += (h & 1u) ? w : -w;
}

void embed_one(std::string_view text, const HashedNgramOptions& o, std::string& norm, std::string& padded,
               std::vector<size_t>& starts, float* row) {
  std::fill(row, row + o.dim, 0.f);
  core::normalize_into(text, core::NormalizeOptions{true, true, false, false}, norm);
  if (norm.empty()) {
    add_feature("<empty>", o.seed, 1.f, row, o.dim);
    return;
  }
  if (o.char_min > 0) {
    padded.assign(" ");
    padded += norm;
    padded += ' ';
    starts.clear();
    for (size_t i = 0; i < padded.size(); ++i)
      if ((static_cast<unsigned char>(padded[i]) & 0xC0) != 0x80) starts.push_back(i);
    starts.push_back(padded.size());
    const size_t cps = starts.size() - 1;
    for (int n = o.char_min; n <= o.char_max; ++n) {
      const auto nn = static_cast<size_t>(n);
      if (cps < nn) break;
      const uint64_t seed = o.seed + 0x100 + static_cast<uint64_t>(n);
      for (size_t i = 0; i + nn <= cps; ++i)
        add_feature(std::string_view(padded).substr(starts[i], starts[i + nn] - starts[i]), seed, 1.f, row, o.dim);
    }
  }
  if (o.word_max > 0) {
    std::vector<std::pair<size_t, size_t>> words;
    size_t i = 0;
    while (i < norm.size()) {
      const size_t b = i;
      while (i < norm.size() && norm[i] != ' ') ++i;
      words.emplace_back(b, i);
      ++i;
    }
    for (int n = 1; n <= o.word_max; ++n) {
      const auto nn = static_cast<size_t>(n);
      const uint64_t seed = o.seed + 0x200 + static_cast<uint64_t>(n);
      for (size_t k = 0; k + nn <= words.size(); ++k)
        add_feature(std::string_view(norm).substr(words[k].first, words[k + nn - 1].second - words[k].first), seed,
                    o.word_weight, row, o.dim);
    }
  }
  double s = 0;
  for (int j = 0; j < o.dim; ++j) s += double(row[j]) * row[j];
  if (s <= 0) {  // every feature cancelled out: fall back to the text's own hash feature
    add_feature(norm, o.seed + 0x300, 1.f, row, o.dim);
    s = 1;
  }
  const auto inv = static_cast<float>(1.0 / std::sqrt(s));
  for (int j = 0; j < o.dim; ++j) row[j] *= inv;
}

}  // namespace

void validate(const HashedNgramOptions& o) {
  if (o.dim < 1 || o.dim > 65536) throw InvalidArgument("dim: expected 1..65536, got " + std::to_string(o.dim));
  if (o.char_min < 0 || (o.char_min > 0 && (o.char_max < o.char_min || o.char_max > 32)))
    throw InvalidArgument("char_ngrams: expected 0 (off) or 1 <= min <= max <= 32");
  if (o.word_max < 0 || o.word_max > 8) throw InvalidArgument("word_ngrams: expected 0..8");
  if (o.char_min == 0 && o.word_max == 0) throw InvalidArgument("at least one of char or word n-grams must be on");
  if (!(o.word_weight > 0) || !std::isfinite(o.word_weight)) throw InvalidArgument("word_weight: expected > 0");
}

std::vector<float> hashed_ngram_embed(std::span<const std::string_view> texts, const HashedNgramOptions& o) {
  validate(o);
  std::vector<float> out(texts.size() * static_cast<size_t>(o.dim));
  core::parallel_for(texts.size(), 32, [&](size_t b, size_t e) {
    std::string norm, padded;
    std::vector<size_t> starts;
    for (size_t i = b; i < e; ++i) embed_one(texts[i], o, norm, padded, starts, out.data() + i * o.dim);
  });
  return out;
}

}  // namespace airtune::embed
