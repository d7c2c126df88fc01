// 64-bit non-cryptographic string hashing shared by all areas.
//
// xxh64() is XXH64 from the xxHash family (Yann Collet, BSD-2; specification
// https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md), implemented here from the
// spec. Its output is bit-identical to the reference (and to Python's `xxhash.xxh64_intdigest`),
// stable across platforms and releases, so hashes may be stored on disk. Little-endian input
// reading is assumed (x86-64, aarch64).
//
// mix64() is the SplitMix64 / Murmur3 fmix64 style finaliser: a bijection on 64-bit integers,
// used to derive independent hash functions from one value cheaply.
//
// Thread safety: all functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace airtune::core {

/// XXH64 of `len` bytes at `data` with `seed` (named apart from xxh64() so that a string literal
/// plus a seed can never bind to (pointer, length)). Published vectors: xxh64("", 0) ==
/// 0xEF46DB3751D8E999, xxh64("a", 0) == 0xD24EC4F1A98C6E5B, xxh64("abc", 0) == 0x44BC2CF5AD770999.
uint64_t xxh64_bytes(const void* data, size_t len, uint64_t seed = 0) noexcept;

inline uint64_t xxh64(std::string_view s, uint64_t seed = 0) noexcept { return xxh64_bytes(s.data(), s.size(), seed); }

/// SplitMix64 finaliser: a fast bijective 64-bit mix (good avalanche; not a string hash).
constexpr uint64_t mix64(uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBULL;
  x ^= x >> 31;
  return x;
}

}  // namespace airtune::core
