// SHA-256 against the FIPS 180-2 example vectors and hashlib.sha256 (Python 3.11) on longer input,
// fed in pieces of every size so the block buffering is exercised.
#include <gtest/gtest.h>

#include <string>

#include "core/sha256.h"

using airtune::core::Sha256;
using airtune::core::sha256_hex;

TEST(CoreSha256, FipsVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(CoreSha256, IncrementalEqualsOneShot) {
  std::string bytes;
  for (int r = 0; r < 5; ++r)
    for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  const std::string expected = "d414b085826eb06778483ba35564dc849e643359f69ed9747878ba6e54985bed";  // hashlib
  EXPECT_EQ(sha256_hex(bytes), expected);
  for (size_t piece : {1, 3, 55, 56, 63, 64, 65, 127, 1000}) {
    Sha256 h;
    for (size_t at = 0; at < bytes.size(); at += piece) h.update(bytes.data() + at, std::min(piece, bytes.size() - at));
    EXPECT_EQ(h.hex(), expected) << piece;
  }
}

TEST(CoreSha256, HexForm) {
  EXPECT_TRUE(airtune::core::is_sha256_hex(sha256_hex("x")));
  EXPECT_FALSE(airtune::core::is_sha256_hex("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
  EXPECT_FALSE(airtune::core::is_sha256_hex("e3b0"));
}
