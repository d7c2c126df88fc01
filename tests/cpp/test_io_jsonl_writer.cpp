#include <gtest/gtest.h>

#include <string>

#include "core/errors.h"
#include "io/jsonl_reader.h"
#include "io/jsonl_writer.h"
#include "io_test_util.h"

using namespace airtune::io;

namespace {
RecordBatch read(const std::string& path) {
  ReadOptions o;
  o.errors = ErrorMode::Raise;
  return JsonlReader(path, o).read_all();
}

const char* kMixed =
    R"({"id":"c","messages":[{"role":"system","content":"S"},{"role":"user","content":"Q \"quoted\"\n"},{"role":"assistant","content":null,"tool_calls":[{"id":"t"}]},{"role":"tool","content":"r","tool_call_id":"t","weight":1}],"tools":[1]})"
    "\n"
    R"({"id":"a","instruction":"I","input":"X","output":"O","system":"S2","label":3})"
    "\n"
    R"({"id":"s","conversations":[{"from":"human","value":"h"},{"from":"function_call","value":"{}"},{"from":"gpt","value":"g"}]})"
    "\n"
    R"({"id":"p","prompt":"pp","completion":"cc","source":"web"})"
    "\n"
    R"({"id":"t","text":"tt \u00e9"})"
    "\n";

void expect_same(const RecordBatch& a, const RecordBatch& b) {
  EXPECT_EQ(a.id.data, b.id.data);
  EXPECT_EQ(a.id.offsets, b.id.offsets);
  EXPECT_EQ(a.role, b.role);
  EXPECT_EQ(a.content.data, b.content.data);
  EXPECT_EQ(a.content.valid, b.content.valid);
  EXPECT_EQ(a.tool_calls.data, b.tool_calls.data);
  EXPECT_EQ(a.tool_call_id.data, b.tool_call_id.data);
  EXPECT_EQ(a.extra.data, b.extra.data);
  EXPECT_EQ(a.label.data, b.label.data);
  EXPECT_EQ(a.metadata.data, b.metadata.data);
  EXPECT_EQ(a.message_offsets, b.message_offsets);
}
}  // namespace

TEST(JsonlWriter, AutoRoundTripsEveryFormat) {
  RecordBatch original = read(airtune::test::write_file("mixed_w.jsonl", kMixed));
  ASSERT_EQ(original.size(), 5u);
  for (const char* name : {"out.jsonl", "out.jsonl.gz"}) {
    const std::string out = (airtune::test::temp_dir() / name).string();
    write_jsonl(original, out, Format::Auto);
    RecordBatch again = read(out);
    expect_same(original, again);
    EXPECT_EQ(original.format, again.format);
  }
}

TEST(JsonlWriter, ConvertsBetweenLayouts) {
  RecordBatch original = read(airtune::test::write_file("mixed_c.jsonl", kMixed));
  RecordBatch no_text = original.take({0, 1, 2, 3});
  for (Format f : {Format::Chat, Format::ShareGPT}) {
    const std::string out = (airtune::test::temp_dir() / "conv.jsonl").string();
    write_jsonl(no_text, out, f);
    RecordBatch again = read(out);
    EXPECT_EQ(again.role, no_text.role) << format_name(f);
    EXPECT_EQ(again.content.data, no_text.content.data) << format_name(f);
  }
  RecordBatch instruct = original.take({1, 3});
  const std::string out = (airtune::test::temp_dir() / "alpaca.jsonl").string();
  write_jsonl(instruct, out, Format::Alpaca);
  RecordBatch again = read(out);
  EXPECT_EQ(again.content.data, instruct.content.data);
}

TEST(JsonlWriter, RefusesImpossibleConversionsAndLeavesTheTarget) {
  RecordBatch original = read(airtune::test::write_file("mixed_r.jsonl", kMixed));
  const std::string out = airtune::test::write_file("keep.jsonl", "previous\n");
  try {
    write_jsonl(original, out, Format::PromptCompletion);
    FAIL();
  } catch (const airtune::InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("row 0 (id 'c')"), std::string::npos) << e.what();
  }
  EXPECT_EQ(airtune::test::read_file(out), "previous\n");
  EXPECT_THROW(write_jsonl(original, out, Format::Text), airtune::InvalidArgument);
  EXPECT_THROW(write_jsonl(original.take({4}), out, Format::Chat), airtune::InvalidArgument);
}

TEST(JsonlWriter, TakeChecksBounds) {
  RecordBatch original = read(airtune::test::write_file("mixed_t.jsonl", kMixed));
  EXPECT_THROW(original.take({5}), airtune::InvalidArgument);
  RecordBatch twice = original.take({4, 4});
  EXPECT_EQ(twice.size(), 2u);
  EXPECT_EQ(twice.content[1], "tt \xc3\xa9");
}
