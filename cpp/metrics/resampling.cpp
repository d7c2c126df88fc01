#include "metrics/resampling.h"

#include <string>

#include "core/errors.h"
#include "core/threading.h"

namespace airtune::metrics {

double Aggregator::operator()(const double* sums, size_t n_items) const {
  switch (kind) {
    case kBleu:
      return bleu_from_stats(sums, bleu).score;
    case kChrf:
      return chrf_from_stats(sums, chrf);
    case kMean:
      return n_items ? sums[column] / static_cast<double>(n_items) : 0.0;
  }
  return 0.0;
}

ResampleStream::ResampleStream(uint64_t seed, uint64_t r) noexcept
    : state_(seed * 0x9E3779B97F4A7C15ull ^ (r + 1) * 0xD1B54A32D192ED03ull) {}

uint64_t ResampleStream::next() noexcept {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t ResampleStream::below(uint64_t n) noexcept {
  unsigned __int128 m = static_cast<unsigned __int128>(next()) * n;
  auto low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = -n % n;
    while (low < threshold) {
      m = static_cast<unsigned __int128>(next()) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

namespace {

void check_shapes(const std::vector<double>& s, size_t n, size_t k, const char* name) {
  if (s.size() != n * k) throw InvalidArgument(std::string(name) + ": statistics do not have n x k entries");
  if (n == 0) throw InvalidArgument(std::string(name) + ": no items to resample");
}

void check_indices(const std::vector<int64_t>& idx, size_t B, size_t n) {
  if (idx.empty()) return;
  if (idx.size() != B * n) throw InvalidArgument("indices must have n_samples x n entries");
  for (size_t j = 0; j < idx.size(); ++j) {
    if (idx[j] < 0 || static_cast<size_t>(idx[j]) >= n) {
      throw InvalidArgument("indices: entry " + std::to_string(j) + " is out of range");
    }
  }
}

}  // namespace

std::vector<double> bootstrap_scores(const std::vector<double>& stats, size_t n, size_t k, const Aggregator& agg,
                                     size_t B, uint64_t seed, const std::vector<int64_t>& indices) {
  check_shapes(stats, n, k, "bootstrap");
  check_indices(indices, B, n);
  std::vector<double> out(B);
  core::parallel_for(B, 4, [&](size_t begin, size_t end) {
    std::vector<double> sums(k);
    for (size_t r = begin; r < end; ++r) {
      std::fill(sums.begin(), sums.end(), 0.0);
      ResampleStream rng(seed, r);
      for (size_t j = 0; j < n; ++j) {
        const size_t i = indices.empty() ? rng.below(n) : static_cast<size_t>(indices[r * n + j]);
        const double* row = stats.data() + i * k;
        for (size_t c = 0; c < k; ++c) sums[c] += row[c];
      }
      out[r] = agg(sums.data(), n);
    }
  });
  return out;
}

std::vector<double> paired_bootstrap_scores(const std::vector<double>& a, const std::vector<double>& b, size_t n,
                                            size_t k, const Aggregator& agg, size_t B, uint64_t seed,
                                            const std::vector<int64_t>& indices) {
  check_shapes(a, n, k, "paired_bootstrap");
  check_shapes(b, n, k, "paired_bootstrap");
  check_indices(indices, B, n);
  std::vector<double> out(2 * B);
  core::parallel_for(B, 4, [&](size_t begin, size_t end) {
    std::vector<double> sa(k), sb(k);
    for (size_t r = begin; r < end; ++r) {
      std::fill(sa.begin(), sa.end(), 0.0);
      std::fill(sb.begin(), sb.end(), 0.0);
      ResampleStream rng(seed, r);
      for (size_t j = 0; j < n; ++j) {
        const size_t i = indices.empty() ? rng.below(n) : static_cast<size_t>(indices[r * n + j]);
        for (size_t c = 0; c < k; ++c) {
          sa[c] += a[i * k + c];
          sb[c] += b[i * k + c];
        }
      }
      out[r] = agg(sa.data(), n);
      out[B + r] = agg(sb.data(), n);
    }
  });
  return out;
}

std::vector<double> approximate_randomization_scores(const std::vector<double>& a, const std::vector<double>& b,
                                                     size_t n, size_t k, const Aggregator& agg, size_t B, uint64_t seed,
                                                     const std::vector<uint8_t>& swaps) {
  check_shapes(a, n, k, "approximate_randomization");
  check_shapes(b, n, k, "approximate_randomization");
  if (!swaps.empty() && swaps.size() != B * n) throw InvalidArgument("swaps must have n_trials x n entries");
  std::vector<double> out(2 * B);
  core::parallel_for(B, 4, [&](size_t begin, size_t end) {
    std::vector<double> sa(k), sb(k);
    for (size_t r = begin; r < end; ++r) {
      std::fill(sa.begin(), sa.end(), 0.0);
      std::fill(sb.begin(), sb.end(), 0.0);
      ResampleStream rng(seed, r);
      uint64_t bits = 0;
      for (size_t i = 0; i < n; ++i) {
        bool swap;
        if (swaps.empty()) {
          if (i % 64 == 0) bits = rng.next();
          swap = (bits >> (i % 64)) & 1u;
        } else {
          swap = swaps[r * n + i] != 0;
        }
        const double* x = (swap ? b : a).data() + i * k;
        const double* y = (swap ? a : b).data() + i * k;
        for (size_t c = 0; c < k; ++c) {
          sa[c] += x[c];
          sb[c] += y[c];
        }
      }
      out[r] = agg(sa.data(), n);
      out[B + r] = agg(sb.data(), n);
    }
  });
  return out;
}

}  // namespace airtune::metrics
