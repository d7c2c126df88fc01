#include <gtest/gtest.h>

#include <string>
#include <vector>

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

TEST(RecordParser, DuplicateKeysLastWinsEverywhere) {
  // Python's json.loads keeps the last value of a repeated key; so does the parser, at every level.
  auto top = parse(R"({"text":"first","id":"a","text":"second","id":"b"})");
  ASSERT_FALSE(top.error) << top.error->reason;
  EXPECT_EQ(content(top.batch, 0), "second");
  EXPECT_EQ(top.batch.id[0], "b");

  auto msgs = parse(R"({"messages":[{"role":"robot","content":5,"role":"user","content":"q"}],)"
                    R"("messages":[{"role":"system","content":"s"},{"role":"user","content":"u"}]})");
  ASSERT_FALSE(msgs.error) << msgs.error->reason;
  ASSERT_EQ(msgs.batch.message_count(), 2u);
  EXPECT_EQ(content(msgs.batch, 0), "s");

  auto in_message = parse(R"({"messages":[{"role":"robot","content":5,"role":"user","content":"q"}]})");
  ASSERT_FALSE(in_message.error) << in_message.error->reason;
  EXPECT_EQ(in_message.batch.role[0], static_cast<uint8_t>(Role::User));
  EXPECT_EQ(content(in_message.batch, 0), "q");

  auto parts = parse(R"({"messages":[{"role":"user","content":[{"type":"image","text":"x","type":"text"}]}]})");
  ASSERT_FALSE(parts.error) << parts.error->reason;
  EXPECT_EQ(content(parts.batch, 0), "x");

  // Kept JSON text holds each key once (first position, last value), nested objects included.
  auto meta = parse(R"({"text":"t","k":1,"m":{"x":1,"y":2,"x":3},"k":2,"tools":[{"a":1,"a":[{"b":0,"b":1}]}]})");
  ASSERT_FALSE(meta.error) << meta.error->reason;
  EXPECT_EQ(meta.batch.metadata[0], R"({"k":2,"m":{"x":3,"y":2},"tools":[{"a":[{"b":1}]}]})");
  auto extra = parse(R"({"messages":[{"role":"user","content":"c","w":1,"w":{"z":1,"z":2}}]})");
  ASSERT_FALSE(extra.error) << extra.error->reason;
  EXPECT_EQ(extra.batch.extra[0], R"({"w":{"z":2}})");
}

TEST(RecordParser, ManyKeysStayLinear) {
  std::string line = R"({"text":"t")";
  for (int i = 0; i < 50000; ++i) line += ",\"k" + std::to_string(i % 40000) + "\":" + std::to_string(i);
  line += "}";
  auto p = parse(line);
  ASSERT_FALSE(p.error) << p.error->reason;
  EXPECT_NE(std::string(p.batch.metadata[0]).find("\"k0\":40000,"), std::string::npos);
  EXPECT_EQ(std::string(p.batch.metadata[0]).find("\"k0\":0,"), std::string::npos);
}

TEST(RecordParser, ShareGptAliasesOnlyWhenTheNamesAreAbsent) {
  auto p = parse(R"({"conversations":[{"from":"human","value":"v","content":"c","role":"user"}]})");
  ASSERT_FALSE(p.error) << p.error->reason;
  EXPECT_EQ(content(p.batch, 0), "v");
  EXPECT_EQ(p.batch.extra[0], R"({"content":"c","role":"user"})");
  auto alias = parse(R"({"conversations":[{"role":"user","content":"c"}]})");
  ASSERT_FALSE(alias.error) << alias.error->reason;
  EXPECT_EQ(content(alias.batch, 0), "c");
}

TEST(RecordParser, AlpacaRemembersWhereInputStarts) {
  auto with = parse(R"({"instruction":"Translate","input":"bonjour","output":"hello"})");
  EXPECT_EQ(with.batch.input_at[0], 11);  // "Translate\n\n"
  auto empty = parse(R"({"instruction":"I","input":"","output":"o"})");
  EXPECT_EQ(empty.batch.input_at[0], 1);
  auto absent = parse(R"({"instruction":"I","output":"o"})");
  EXPECT_EQ(absent.batch.input_at[0], RecordBatch::kInputAbsent);
  auto chat = parse(R"({"prompt":"p","completion":"c"})");
  EXPECT_EQ(chat.batch.input_at[0], RecordBatch::kNoInput);
}

TEST(RecordParser, OutOfRangeValuesNameTheFieldAndColumn) {
  auto big = parse(R"({"text":"t","score":1e400})");
  ASSERT_TRUE(big.error);
  EXPECT_EQ(big.error->column, 21);
  EXPECT_EQ(big.error->field, "score");
  EXPECT_EQ(big.error->reason, "invalid JSON: score: number out of range: 1e400 is beyond a 64-bit float");
  auto huge_int = parse(R"({"id":123456789012345678901234567890,"text":"t"})");
  ASSERT_TRUE(huge_int.error);
  EXPECT_EQ(huge_int.error->column, 7);
  EXPECT_EQ(huge_int.error->field, "id");
  auto surrogate = parse(R"({"messages":[{"role":"user","content":"\udc00"}]})");
  ASSERT_TRUE(surrogate.error);
  EXPECT_EQ(surrogate.error->column, 40);
  EXPECT_EQ(surrogate.error->field, "messages[0].content");
  EXPECT_NE(surrogate.error->reason.find("lone surrogate"), std::string::npos);
  EXPECT_TRUE(big.batch.size() == 0 && surrogate.batch.size() == 0);
}

TEST(RecordParser, PlainMessagesReadTheSameAsTheGeneralRoute) {
  // {"role", "content"} messages take a short route (no field list); a duplicate key sends the
  // same message through the general one (the last value wins there). Both must give the same
  // columns, for every role name and for content with escapes, unicode and quotes.
  const std::vector<std::string> roles = {"system", "developer", "user", "assistant", "tool", "function"};
  const std::vector<std::string> contents = {"", "plain", R"(quo\"te \\ back\nslash \u00e9\u6570 \ud83d\ude00)",
                                             "caf\u00e9 \xe6\x95\xb0", R"(\u0000 nul)"};
  std::string plain = R"({"id":"x","messages":[)", general = plain;
  size_t k = 0;
  for (const std::string& role : roles)
    for (const std::string& text : contents) {
      const std::string sep = k++ ? "," : "";
      // alternate the key order: the short route takes either
      plain += sep + (k % 2 ? R"({"role":")" + role + R"(","content":")" + text + "\"}"
                            : R"({"content":")" + text + R"(","role":")" + role + "\"}");
      general += sep + R"({"role":"user","content":"decoy","role":")" + role + R"(","content":")" + text + "\"}";
    }
  plain += R"(],"label":"L"})";
  general += R"(],"label":"L"})";
  const Parsed a = parse(plain), b = parse(general);
  ASSERT_FALSE(a.error) << a.error->reason;
  ASSERT_FALSE(b.error) << b.error->reason;
  ASSERT_EQ(a.batch.message_count(), roles.size() * contents.size());
  EXPECT_EQ(a.batch.role, b.batch.role);
  using Column = airtune::core::StringColumn RecordBatch::*;
  for (Column c : {&RecordBatch::content, &RecordBatch::name, &RecordBatch::tool_calls, &RecordBatch::tool_call_id,
                   &RecordBatch::extra}) {
    EXPECT_EQ((a.batch.*c).data, (b.batch.*c).data);
    EXPECT_EQ((a.batch.*c).offsets, (b.batch.*c).offsets);
    EXPECT_EQ((a.batch.*c).valid, (b.batch.*c).valid);
  }
  // message r * 5 + t is roles[r] with contents[t]
  EXPECT_EQ(a.batch.role[contents.size()], static_cast<uint8_t>(Role::System));    // developer
  EXPECT_EQ(a.batch.role[5 * contents.size()], static_cast<uint8_t>(Role::Tool));  // function
  EXPECT_EQ(content(a.batch, 2), "quo\"te \\ back\nslash \xc3\xa9\xe6\x95\xb0 \xf0\x9f\x98\x80");
  EXPECT_FALSE(a.batch.extra.is_valid(0));
  // What the short route does not take still goes through the general one: another field, a
  // null content, an unknown role (an error naming the message).
  const Parsed extra = parse(R"({"messages":[{"role":"user","content":"q","lang":"en"}]})");
  ASSERT_FALSE(extra.error);
  EXPECT_EQ(extra.batch.extra[0], R"({"lang":"en"})");
  const Parsed null_content = parse(R"({"messages":[{"role":"assistant","content":null}]})");
  ASSERT_FALSE(null_content.error);
  EXPECT_FALSE(null_content.batch.content.is_valid(0));
  const Parsed unknown = parse(R"({"messages":[{"role":"user","content":"a"},{"role":"robot","content":"b"}]})");
  ASSERT_TRUE(unknown.error);
  EXPECT_EQ(unknown.error->field, "messages[1].role");
  EXPECT_EQ(unknown.batch.size(), 0u);
  EXPECT_EQ(unknown.batch.message_count(), 0u);  // the first (plain) message was rolled back
}
