#include "dedup/shuffle_keys.h"

#include <algorithm>
#include <limits>
#include <string>
#include <tuple>

#include "core/errors.h"
#include "core/hash.h"
#include "core/threading.h"

namespace airtune::dedup {

ExactKeys exact_keys(std::span<const std::string_view> texts, const core::NormalizeOptions& options) {
  ExactKeys out;
  out.hash.resize(texts.size());
  out.check.resize(texts.size());
  core::parallel_for(texts.size(), 256, [&](size_t b, size_t e) {
    std::string buf;
    for (size_t i = b; i < e; ++i) {
      core::normalize_into(texts[i], options, buf);
      out.hash[i] = core::xxh64(buf);
      out.check[i] = core::xxh64(buf, kExactCheckSeed);
    }
  });
  return out;
}

MinHashKeys minhash_keys(std::span<const std::string_view> texts, const MinHashOptions& options, int bands, int rows) {
  validate(options);
  if (bands < 1 || rows < 1 || static_cast<int64_t>(bands) * rows > options.num_perm)
    throw InvalidArgument("bands * rows must be between 1 and num_perm (" + std::to_string(options.num_perm) +
                          "), got bands=" + std::to_string(bands) + " rows=" + std::to_string(rows));
  Signatures sig = signatures(texts, options, true);
  const size_t n = sig.size();
  const int np = sig.num_perm;
  MinHashKeys out;
  out.bands = bands;
  out.band_keys.resize(n * static_cast<size_t>(bands));
  out.signature_hash.resize(n);
  out.set_hash.resize(n);
  out.empty.resize(n);
  core::parallel_for(n, 256, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) {
      const uint64_t* s = sig.row(i);
      const auto set = sig.shingle_set(i);
      out.empty[i] = set.empty() ? 1 : 0;
      // copies: rows equal in this and in the set hash, the groups MinHashIndex::self_pairs forms
      out.signature_hash[i] = core::xxh64_bytes(s, sizeof(uint64_t) * np, 0x5157);
      out.set_hash[i] = core::xxh64_bytes(set.data(), sizeof(uint64_t) * set.size(), 0);
      for (int band = 0; band < bands; ++band) out.band_keys[i * bands + band] = band_key(s, band, rows);
    }
  });
  out.shingle_data = std::move(sig.shingle_data);
  out.shingle_offsets = std::move(sig.shingle_offsets);
  return out;
}

RowPairs bucket_pairs(std::span<const int32_t> band, std::span<const uint64_t> key, std::span<const int64_t> row,
                      int64_t max_bucket) {
  if (band.size() != key.size() || band.size() != row.size())
    throw InvalidArgument("bucket_pairs: band, key and row differ in length");
  if (max_bucket < 2) throw InvalidArgument("max_bucket: expected >= 2");
  const size_t n = band.size();
  std::vector<std::tuple<int32_t, uint64_t, int64_t>> entries(n);
  for (size_t i = 0; i < n; ++i) entries[i] = {band[i], key[i], row[i]};
  std::sort(entries.begin(), entries.end());
  std::vector<std::pair<int64_t, int64_t>> pairs;
  RowPairs out;
  for (size_t s = 0; s < n;) {
    size_t e = s + 1;
    while (e < n && std::get<0>(entries[e]) == std::get<0>(entries[s]) &&
           std::get<1>(entries[e]) == std::get<1>(entries[s]))
      ++e;
    const size_t m = e - s;
    auto r = [&](size_t k) { return std::get<2>(entries[s + k]); };
    if (m > static_cast<size_t>(max_bucket)) {  // MinHashIndex::self_pairs: star + chain
      ++out.capped_buckets;
      for (size_t k = 1; k < m; ++k) pairs.emplace_back(r(0), r(k));
      for (size_t k = 2; k < m; ++k) pairs.emplace_back(r(k - 1), r(k));
    } else {
      for (size_t x = 0; x < m; ++x)
        for (size_t y = x + 1; y < m; ++y) pairs.emplace_back(r(x), r(y));
    }
    s = e;
  }
  std::sort(pairs.begin(), pairs.end());
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
  out.a.reserve(pairs.size());
  out.b.reserve(pairs.size());
  for (const auto& [a, b] : pairs) {
    out.a.push_back(a);
    out.b.push_back(b);
  }
  return out;
}

std::vector<double> jaccard_rows(std::span<const uint64_t> a_data, std::span<const int64_t> a_offsets,
                                 std::span<const uint64_t> b_data, std::span<const int64_t> b_offsets) {
  if (a_offsets.size() != b_offsets.size() || a_offsets.empty())
    throw InvalidArgument("jaccard_rows: A and B must hold the same number of sets");
  auto check = [](std::span<const uint64_t> data, std::span<const int64_t> off, const char* name) {
    for (size_t i = 1; i < off.size(); ++i)
      if (off[i] < off[i - 1]) throw InvalidArgument(std::string("jaccard_rows: offsets of ") + name + " decrease");
    if (off.front() < 0 || static_cast<uint64_t>(off.back()) > data.size())
      throw InvalidArgument(std::string("jaccard_rows: offsets of ") + name + " run past the data");
  };
  check(a_data, a_offsets, "A");
  check(b_data, b_offsets, "B");
  const size_t n = a_offsets.size() - 1;
  std::vector<double> out(n);
  core::parallel_for(n, 1024, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i)
      out[i] = jaccard(a_data.subspan(a_offsets[i], a_offsets[i + 1] - a_offsets[i]),
                       b_data.subspan(b_offsets[i], b_offsets[i + 1] - b_offsets[i]));
  });
  return out;
}

}  // namespace airtune::dedup
