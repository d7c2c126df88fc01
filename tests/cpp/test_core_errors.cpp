#include <gtest/gtest.h>

#include "core/errors.h"

using airtune::ParseError;

TEST(ParseError, NamesThePlace) {
  ParseError e("data/train.jsonl", 12, 7, "invalid JSON");
  EXPECT_STREQ(e.what(), "data/train.jsonl:12:7: invalid JSON");
  EXPECT_EQ(e.line(), 12);
  EXPECT_EQ(e.column(), 7);
  EXPECT_EQ(e.reason(), "invalid JSON");
}

TEST(ParseError, OmitsUnknownParts) {
  EXPECT_STREQ(ParseError("", 0, 0, "bad").what(), "<input>: bad");
  EXPECT_STREQ(ParseError("f", 3, 0, "bad").what(), "f:3: bad");
}

TEST(Errors, FormAHierarchy) {
  try {
    throw ParseError("f", 1, 1, "x");
  } catch (const airtune::Error& e) {
    SUCCEED();
    return;
  }
  FAIL();
}
