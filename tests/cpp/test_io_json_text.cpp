#include <gtest/gtest.h>

#include <string>

#include "io/json_text.h"

using airtune::io::append_json_string;
using airtune::io::find_json_error;

TEST(JsonText, EscapesWhatJsonRequires) {
  std::string out;
  append_json_string(out, std::string("a\"b\\c\n\t\x01 \xc3\xa9", 11));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\t\\u0001 \xc3\xa9\"");
}

TEST(JsonText, AcceptsValidDocuments) {
  for (const char* ok : {"{}", "[]", "{\"a\":[1,-2.5e+3,true,false,null,\"x\\u00e9\"]}", " 12 ", "\"s\"",
                         "{\"a\":{\"b\":{\"c\":[[[]]]}}}"}) {
    EXPECT_EQ(find_json_error(ok).reason, "") << ok;
  }
}

TEST(JsonText, LocatesTheFirstError) {
  struct Case {
    const char* text;
    size_t offset;
  } cases[] = {
      {"{\"a\":1,}", 7},        // trailing comma: expected a key at '}'
      {"{\"a\" 1}", 5},         // missing colon
      {"[1 2]", 3},             // missing comma
      {"{\"a\":tru}", 5},       // bad literal
      {"{\"a\":01}", 6},        // leading zero: number ends, then '1' is unexpected
      {"{\"a\":\"x\\q\"}", 7},  // bad escape
      {"{\"a\":1} x", 8},       // trailing garbage
      {"{\"a\":[1,2", 9},       // premature end
      {"", 0},
  };
  for (const auto& c : cases) {
    auto e = find_json_error(c.text);
    EXPECT_NE(e.reason, "") << c.text;
    EXPECT_EQ(e.offset, c.offset) << c.text << " -> " << e.reason;
  }
}

TEST(JsonText, DeepNestingDoesNotRecurse) {
  std::string deep(200000, '[');
  EXPECT_EQ(find_json_error(deep).reason, "unexpected end of line");
  deep += std::string(200000, ']');
  EXPECT_EQ(find_json_error(deep).reason, "");
}

TEST(JsonText, NamesValuesSimdjsonCannotHold) {
  struct Case {
    const char* text;
    size_t offset;
    const char* field;
    const char* reason;  // a part of it
  } cases[] = {
      {R"({"a":1,"score":1e400})", 15, "score", "number out of range: 1e400"},
      {R"({"x":[0,-1E+400]})", 8, "x[1]", "beyond a 64-bit float"},
      {R"({"n":18446744073709551616})", 5, "n", "above 2^64 - 1"},
      {R"({"n":-9223372036854775809})", 5, "n", "below -2^63"},
      {R"({"messages":[{"role":"user","content":"a\ud800b"}]})", 40, "messages[0].content", "lone surrogate \\ud800"},
      {R"({"t":"\udc00"})", 6, "t", "a low surrogate without a high one"},
      {R"({"t":"\ud800\u0041"})", 6, "t", "not followed by a low one"},
      {R"({"m":{"\ud801":1}})", 7, "m", "in an object key"},
  };
  for (const auto& c : cases) {
    auto e = find_json_error(c.text);
    EXPECT_EQ(e.offset, c.offset) << c.text << " -> " << e.reason;
    EXPECT_EQ(e.field, c.field) << c.text;
    EXPECT_NE(e.reason.find(c.reason), std::string::npos) << c.text << " -> " << e.reason;
  }
  // Limits that hold: the extremes are accepted, underflow reads as 0 (as simdjson does).
  for (const char* ok : {R"({"a":18446744073709551615})", R"({"a":-9223372036854775808})", R"({"a":1e-400})",
                         R"({"a":1.7976931348623157e308})", R"({"a":"\ud800\udc00"})", R"({"a":0.0e999999})"}) {
    EXPECT_EQ(find_json_error(ok).reason, "") << ok;
  }
}

TEST(JsonText, SyntaxErrorsNameTheirField) {
  auto e = find_json_error(R"({"messages":[{"role":"user","content":"x"},{"role" "a"}]})");
  EXPECT_EQ(e.field, "messages[1].role");
  EXPECT_EQ(e.reason, "expected ':' after object key");
}

TEST(JsonText, TopLevelKeysOfAStoredObject) {
  const auto keys = airtune::io::top_level_keys(R"({"a":{"b":[1,{"c":"}"}]},"d\"e":"x,\"y","f":null})");
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0], "a");
  EXPECT_EQ(keys[1], "d\\\"e");
  EXPECT_EQ(keys[2], "f");
}
