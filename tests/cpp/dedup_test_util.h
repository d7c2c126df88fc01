// Test corpora for the dedup tests.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace airtune::test {

/// `docs` random texts of `words` words, each in three versions: as drawn, then with each word
/// replaced with probability `edit` and 2 * `edit` (near duplicates of falling similarity).
inline std::vector<std::string> near_copies_corpus(int docs, int words, double edit, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> vocab(0, 5000);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<std::string> out;
  for (int d = 0; d < docs; ++d) {
    std::vector<int> w(words);
    for (auto& x : w) x = vocab(rng);
    for (int v = 0; v < 3; ++v) {
      std::string s;
      for (int x : w) {  // piece by piece: GCC 12 warns falsely (-Wrestrict) on "w" + std::string
        s += 'w';
        s += std::to_string(u(rng) < edit * v ? vocab(rng) : x);
        s += ' ';
      }
      out.push_back(s);
    }
  }
  return out;
}

}  // namespace airtune::test
