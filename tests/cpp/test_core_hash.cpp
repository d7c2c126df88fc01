// XXH64 against published vectors (xxhash spec / reference implementation; checked with the
// Python xxhash 4.1.0 package, xxh64_intdigest).
#include <gtest/gtest.h>

#include <string>

#include "core/hash.h"

using airtune::core::xxh64;

TEST(CoreHash, Xxh64PublishedVectors) {
  EXPECT_EQ(xxh64("", 0), 0xEF46DB3751D8E999ULL);
  EXPECT_EQ(xxh64("a", 0), 0xD24EC4F1A98C6E5BULL);
  EXPECT_EQ(xxh64("abc", 0), 0x44BC2CF5AD770999ULL);
  EXPECT_EQ(xxh64("hello world", 0), 0x45AB6734B21E6968ULL);
  EXPECT_EQ(xxh64("The quick brown fox jumps over the lazy dog", 0), 0x0B242D361FDA71BCULL);
}

TEST(CoreHash, Xxh64SeededAndLong) {
  const uint64_t seed = 0x9E3779B97F4A7C15ULL;
  EXPECT_EQ(xxh64("", seed), 0xC4349FC93C010000ULL);
  EXPECT_EQ(xxh64("a", seed), 0x9A7C6D2EA45568C9ULL);
  EXPECT_EQ(xxh64("abc", seed), 0x2ED0F59D6B43AC8BULL);
  std::string bytes;
  for (int i = 0; i < 100; ++i) bytes.push_back(static_cast<char>(i));
  EXPECT_EQ(xxh64(bytes, 0), 0x6AC1E58032166597ULL);
  EXPECT_EQ(xxh64(bytes, seed), 0x3B97D91EBA03E785ULL);
}

TEST(CoreHash, Mix64IsBijectiveOnSamples) {
  EXPECT_NE(airtune::core::mix64(0), airtune::core::mix64(1));
  EXPECT_EQ(airtune::core::mix64(12345), airtune::core::mix64(12345));
}
