// io/text_select: selectors and content write-back on a parsed batch; io/arrow_json encoding.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/errors.h"
#include "io/arrow_json.h"
#include "io/record_parser.h"
#include "io/text_select.h"

using namespace airtune::io;

namespace {

RecordBatch parse_all(const std::vector<std::string>& lines) {
  RecordBatch b;
  RecordParser parser(Format::Auto);
  int64_t n = 0;
  for (const auto& l : lines) EXPECT_FALSE(parser.parse(l, 0, ++n, "t:" + std::to_string(n), b).has_value()) << l;
  return b;
}

const std::vector<std::string> kLines = {
    R"({"id":"a","messages":[{"role":"system","content":"S"},{"role":"user","content":"q1"},{"role":"assistant","content":"a1"},{"role":"user","content":"q2"},{"role":"assistant","content":"a2"}],"label":"x","metadata":{"k":{"n":3},"s":"v"}})",
    R"({"id":"b","text":"plain text"})",
    R"({"id":"c","prompt":"p","completion":"c"})",
};

}  // namespace

TEST(IoTextSelect, EverySelector) {
  const RecordBatch b = parse_all(kLines);
  auto sel = [&](const char* s) { return select_text(b, parse_selector(s)); };
  EXPECT_EQ(sel("conversation").text[0], "system: S\nuser: q1\nassistant: a1\nuser: q2\nassistant: a2");
  EXPECT_EQ(sel("conversation").text[1], "plain text");
  EXPECT_EQ(sel("user").text[0], "q1\nq2");
  EXPECT_EQ(sel("first_user").text[0], "q1");
  EXPECT_EQ(sel("last_user").text[0], "q2");
  EXPECT_EQ(sel("response").text[2], "c");
  EXPECT_EQ(sel("prompt").text[0], "system: S\nuser: q1\nassistant: a1\nuser: q2");
  EXPECT_EQ(sel("metadata.k.n").text[0], "3");
  EXPECT_EQ(sel("metadata.s").text[0], "v");
  const SelectedText system = sel("system");
  EXPECT_EQ(system.missing, 2);
  EXPECT_EQ(system.first_missing, 1);
  EXPECT_EQ(system.present, (std::vector<uint8_t>{1, 0, 0}));
  EXPECT_EQ(sel("label").missing, 2);
  EXPECT_THROW(parse_selector("usr"), airtune::InvalidArgument);
}

TEST(IoTextSelect, WithContentsKeepsEverythingElse) {
  const RecordBatch b = parse_all(kLines);
  const std::string r = "user", a = "assistant";
  const std::vector<std::string> roles = {r, a};
  const auto idx = messages_with_roles(b, role_mask(roles));
  EXPECT_EQ(idx, (std::vector<int64_t>{1, 2, 3, 4, 6, 7}));
  std::vector<std::string_view> texts = {"Q1", "A1", "Q2", "A2", "P", "C"};
  const RecordBatch out = with_contents(b, idx, texts);
  EXPECT_EQ(out.content[0], "S");
  EXPECT_EQ(out.content[4], "A2");
  EXPECT_EQ(out.id[0], "a");
  EXPECT_EQ(out.metadata[0], b.metadata[0]);
  EXPECT_EQ(out.line, b.line);
  EXPECT_EQ(out.input_at, b.input_at);  // a rewritten batch could not be take()n without it (segfault)
  const RecordBatch taken = out.take({2, 0});
  EXPECT_EQ(taken.id[0], "c");
  EXPECT_EQ(taken.content[taken.message_offsets[1]], "S");
  std::vector<int64_t> bad = {2, 1};
  std::vector<std::string_view> two = {"x", "y"};
  EXPECT_THROW(with_contents(b, bad, two), airtune::InvalidArgument);
}

TEST(IoArrowJson, EncodesColumnsWithModes) {
  // two rows: {"id": "r0", "n": 1, "x": 1.0, "meta": {...spliced}} and nulls
  std::vector<int32_t> str_off = {0, 2, 2};
  std::string str_data = "r0";
  std::vector<int64_t> ints = {1, 7};
  std::vector<double> dbl = {1.0, 0.5};
  uint8_t second_null = 0b01;
  std::vector<int32_t> raw_off = {0, 7, 7};
  std::string raw = "{\"k\":2}";
  JsonColumn id{JsonColumn::Kind::kString, 2, 0, &second_null, nullptr, str_off.data(), nullptr, str_data.data()};
  JsonColumn n{JsonColumn::Kind::kInt64, 2, 0, nullptr, ints.data()};
  JsonColumn x{JsonColumn::Kind::kFloat64, 2, 0, nullptr, dbl.data()};
  JsonColumn meta{JsonColumn::Kind::kRawJson, 2, 0, &second_null, nullptr, raw_off.data(), nullptr, raw.data()};
  JsonColumn table{JsonColumn::Kind::kStruct, 2};
  table.children = {id, n, x, meta};
  table.names = {"id", "n", "x", "meta"};
  table.modes = {JsonColumn::Mode::kValue, JsonColumn::Mode::kValue, JsonColumn::Mode::kValue,
                 JsonColumn::Mode::kSplice};
  airtune::core::StringColumn out;
  encode_rows(table, 0, 2, out);
  EXPECT_EQ(out[0], R"({"id":"r0","n":1,"x":1.0,"k":2})");
  EXPECT_EQ(out[1], R"({"id":null,"n":7,"x":0.5})");
  const auto items = json_array_elements("[1, {\"a\": [2]}, \"s\"]");
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[1], R"({"a":[2]})");
}
