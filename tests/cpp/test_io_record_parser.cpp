#include <gtest/gtest.h>

#include <string>

#include "io/record_parser.h"

using namespace airtune::io;

namespace {

struct Parsed {
  RecordBatch batch;
  std::optional<LineError> error;
};

Parsed parse(const std::string& line, Format format = Format::Auto) {
  RecordParser parser(format);
  Parsed p;
  p.error = parser.parse(line, 0, 3, "f:3", p.batch);
  return p;
}

std::string content(const RecordBatch& b, size_t j) { return std::string(b.content[j]); }

}  // namespace

TEST(RecordParser, ChatWithToolCalls) {
  auto p = parse(
      R"({"id":"a1","messages":[{"role":"system","content":"S"},{"role":"user","content":"Q"},)"
      R"({"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},)"
      R"({"role":"tool","tool_call_id":"c1","content":"42","weight":0}],"tools":[{"type":"function"}]})");
  ASSERT_FALSE(p.error) << p.error->reason;
  const auto& b = p.batch;
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b.id[0], "a1");
  EXPECT_EQ(b.format[0], static_cast<uint8_t>(Format::Chat));
  ASSERT_EQ(b.message_count(), 4u);
  EXPECT_EQ(b.role[2], static_cast<uint8_t>(Role::Assistant));
  EXPECT_FALSE(b.content.is_valid(2));
  EXPECT_EQ(b.tool_calls[2], R"([{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}])");
  EXPECT_EQ(b.tool_call_id[3], "c1");
  EXPECT_EQ(b.extra[3], R"({"weight":0})");
  EXPECT_EQ(b.metadata[0], R"({"tools":[{"type":"function"}]})");
  EXPECT_FALSE(b.is_instruct(0));
}

TEST(RecordParser, AlpacaJoinsInstructionAndInput) {
  auto p = parse(R"({"instruction":"Translate","input":"bonjour","output":"hello","system":"S"})");
  ASSERT_FALSE(p.error);
  ASSERT_EQ(p.batch.message_count(), 3u);
  EXPECT_EQ(content(p.batch, 1), "Translate\n\nbonjour");
  EXPECT_EQ(p.batch.id[0], "f:3");
  EXPECT_TRUE(p.batch.is_instruct(0));
  auto empty_input = parse(R"({"instruction":"Say hi","input":"","output":"hi"})");
  EXPECT_EQ(content(empty_input.batch, 0), "Say hi");
}

TEST(RecordParser, ShareGptKeepsUnusualSpeakers) {
  auto p = parse(R"({"conversations":[{"from":"human","value":"Q"},{"from":"function_call","value":"{}"},)"
                 R"({"from":"observation","value":"r"},{"from":"gpt","value":"A"}],"system":"S"})");
  ASSERT_FALSE(p.error) << p.error->reason;
  ASSERT_EQ(p.batch.message_count(), 5u);
  EXPECT_EQ(p.batch.role[0], static_cast<uint8_t>(Role::System));
  EXPECT_EQ(p.batch.role[2], static_cast<uint8_t>(Role::Assistant));
  EXPECT_EQ(p.batch.extra[2], R"({"from":"function_call"})");
  EXPECT_EQ(p.batch.role[3], static_cast<uint8_t>(Role::Tool));
  EXPECT_FALSE(p.batch.extra.is_valid(4));
}

TEST(RecordParser, ContentPartsAreJoined) {
  auto p = parse(R"({"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]})");
  ASSERT_FALSE(p.error);
  EXPECT_EQ(content(p.batch, 0), "ab");
  auto img = parse(R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]})");
  ASSERT_TRUE(img.error);
  EXPECT_EQ(img.error->field, "messages[0].content[0]");
}

TEST(RecordParser, RejectsWithAPlace) {
  struct Case {
    const char* line;
    const char* field;
    const char* reason_part;
  } cases[] = {
      {R"({"messages":[]})", "messages", "empty"},
      {R"({"messages":"hi"})", "messages", "expected an array"},
      {R"({"messages":[{"role":"bot","content":"x"}]})", "messages[0].role", "unknown role 'bot'"},
      {R"({"messages":[{"role":"user"}]})", "messages[0].content", "missing"},
      {R"({"messages":[{"role":"user","content":null}]})", "messages[0].content", "only allowed for assistant"},
      {R"({"messages":[{"role":"user","content":5}]})", "messages[0].content", "got number"},
      {R"({"conversations":[{"from":"alien","value":"x"}]})", "conversations[0].from", "unknown role"},
      {R"({"instruction":"x"})", "output", "missing"},
      {R"({"prompt":"x","completion":3})", "completion", "expected a string"},
      {R"({"id":[1],"text":"x"})", "id", "expected a string or an integer"},
      {R"({"foo":1})", "", "unrecognised record"},
      {R"([1,2])", "", "expected a JSON object"},
  };
  for (const auto& c : cases) {
    auto p = parse(c.line);
    ASSERT_TRUE(p.error) << c.line;
    EXPECT_EQ(p.error->field, c.field) << c.line;
    EXPECT_NE(p.error->reason.find(c.reason_part), std::string::npos) << c.line << " -> " << p.error->reason;
    EXPECT_EQ(p.error->line, 3);
    EXPECT_EQ(p.batch.size(), 0u);
    EXPECT_EQ(p.batch.message_count(), 0u) << "a rejected line must leave no message behind: " << c.line;
  }
}

TEST(RecordParser, ExplicitFormatNamesWhatIsMissing) {
  auto p = parse(R"({"text":"x"})", Format::Chat);
  ASSERT_TRUE(p.error);
  EXPECT_NE(p.error->reason.find("not a chat record"), std::string::npos) << p.error->reason;
}

TEST(RecordParser, InvalidUtf8AndJsonHaveColumns) {
  auto utf = parse(std::string("{\"text\":\"ab\xff\"}"));
  ASSERT_TRUE(utf.error);
  EXPECT_EQ(utf.error->column, 12);
  EXPECT_EQ(utf.error->reason, "invalid UTF-8");
  auto json = parse(R"({"text": "x",})");
  ASSERT_TRUE(json.error);
  EXPECT_EQ(json.error->column, 14);
}

TEST(RecordParser, ErrorsRollBackPartialRecords) {
  RecordParser parser(Format::Auto);
  RecordBatch b;
  ASSERT_FALSE(parser.parse(R"({"text":"ok"})", 0, 1, "x:1", b));
  // Fails on the third message, after two were appended.
  ASSERT_TRUE(parser.parse(
      R"({"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"x","content":"c"}]})",
      0, 2, "x:2", b));
  ASSERT_FALSE(parser.parse(R"({"text":"ok2"})", 0, 3, "x:3", b));
  EXPECT_EQ(b.size(), 2u);
  EXPECT_EQ(b.message_count(), 2u);
  EXPECT_EQ(b.content[1], "ok2");
  EXPECT_EQ(b.message_offsets.back(), 2);
}
