#include <gtest/gtest.h>

#include <string>

#include "io/json_text.h"

using airtune::io::append_json_string;
using airtune::io::find_json_syntax_error;

TEST(JsonText, EscapesWhatJsonRequires) {
  std::string out;
  append_json_string(out, std::string("a\"b\\c\n\t\x01 \xc3\xa9", 11));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\t\\u0001 \xc3\xa9\"");
}

TEST(JsonText, AcceptsValidDocuments) {
  for (const char* ok : {"{}", "[]", "{\"a\":[1,-2.5e+3,true,false,null,\"x\\u00e9\"]}", " 12 ", "\"s\"",
                         "{\"a\":{\"b\":{\"c\":[[[]]]}}}"}) {
    EXPECT_EQ(find_json_syntax_error(ok).reason, "") << ok;
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
    auto e = find_json_syntax_error(c.text);
    EXPECT_NE(e.reason, "") << c.text;
    EXPECT_EQ(e.offset, c.offset) << c.text << " -> " << e.reason;
  }
}

TEST(JsonText, DeepNestingDoesNotRecurse) {
  std::string deep(200000, '[');
  EXPECT_EQ(find_json_syntax_error(deep).reason, "unexpected end of line");
  deep += std::string(200000, ']');
  EXPECT_EQ(find_json_syntax_error(deep).reason, "");
}
