// The SIMD limit of MinHash: min over shingles of (a[p] * y + b[p]) mod 2^32 for 128 permutations
// on shingles already in L1 cache, with every permutation's a, b and minimum in registers
// (AVX-512: 8 x 16 lanes, AVX2: 2 tiles of 4 x 8 lanes). Nothing else (no hashing, no
// shingling, no memory traffic): the floor that a signature's multiply-min can approach.
// Prints one JSON line: isa, ns per shingle per permutation (process CPU time, best of 7).
//   g++ -O3 -march=native -o minhash_limit minhash_limit.cpp && ./minhash_limit
#include <immintrin.h>

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <vector>

static double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main() {
  constexpr int kPerm = 128, kShingles = 1024, kRounds = 20000;
  std::vector<uint32_t> a(kPerm), b(kPerm), set(kShingles), out(kPerm);
  uint64_t s = 88172645463325252ULL;
  auto next = [&s] {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    return static_cast<uint32_t>(s);
  };
  for (int p = 0; p < kPerm; ++p) a[p] = next() | 1u, b[p] = next();
  for (auto& y : set) y = next();
  double best = 1e30;
  uint32_t sink = 0;
  for (int rep = 0; rep < 7; ++rep) {
    const double t0 = cpu_seconds();
    for (int r = 0; r < kRounds; ++r) {
#if defined(__AVX512F__)
      __m512i av[8], bv[8], m[8];
      for (int k = 0; k < 8; ++k) {
        av[k] = _mm512_loadu_si512(a.data() + 16 * k);
        bv[k] = _mm512_loadu_si512(b.data() + 16 * k);
        m[k] = _mm512_set1_epi32(-1);
      }
      for (int i = 0; i < kShingles; ++i) {
        const __m512i y = _mm512_set1_epi32(static_cast<int>(set[i] + r));
        for (int k = 0; k < 8; ++k)
          m[k] = _mm512_min_epu32(m[k], _mm512_add_epi32(_mm512_mullo_epi32(av[k], y), bv[k]));
      }
      for (int k = 0; k < 8; ++k) _mm512_storeu_si512(out.data() + 16 * k, m[k]);
#else
      for (int t = 0; t < kPerm; t += 32) {
        __m256i av[4], bv[4], m[4];
        for (int k = 0; k < 4; ++k) {
          av[k] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.data() + t + 8 * k));
          bv[k] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.data() + t + 8 * k));
          m[k] = _mm256_set1_epi32(-1);
        }
        for (int i = 0; i < kShingles; ++i) {
          const __m256i y = _mm256_set1_epi32(static_cast<int>(set[i] + r));
          for (int k = 0; k < 4; ++k)
            m[k] = _mm256_min_epu32(m[k], _mm256_add_epi32(_mm256_mullo_epi32(av[k], y), bv[k]));
        }
        for (int k = 0; k < 4; ++k) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.data() + t + 8 * k), m[k]);
      }
#endif
      sink ^= out[r % kPerm];
    }
    const double dt = cpu_seconds() - t0;
    if (dt < best) best = dt;
  }
#if defined(__AVX512F__)
  const char* isa = "avx512";
#else
  const char* isa = "avx2";
#endif
  std::printf("{\"isa\": \"%s\", \"ns_per_shingle_perm\": %.5f, \"sink\": %u}\n", isa,
              best / (double(kRounds) * kShingles * kPerm) * 1e9, sink);
  return 0;
}
