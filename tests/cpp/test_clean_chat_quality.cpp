// clean/chat_quality: one record per rule, and records that must be kept.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "clean/chat_quality.h"
#include "io/record_parser.h"

using namespace airtune;

namespace {

std::string chat(const std::string& user, const std::string& assistant) {
  return R"({"messages":[{"role":"user","content":")" + user + R"("},{"role":"assistant","content":")" + assistant +
         R"("}]})";
}

}  // namespace

TEST(CleanChatQuality, OneCasePerRule) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {chat("Thanks!", "You are welcome."), ""},
      {chat("How do I bold text?", "Use `<b>` tags."), ""},
      {R"({"messages":[{"role":"user","content":"hello?"}]})", "chat:no_assistant"},
      {chat("", "Sure."), "chat:empty_turn"},
      {chat("Reset my key", "<div>Open Settings.</div>"), "chat:markup"},
      {chat("Reset my key", "I'm sorry, but I can't help with that."), "chat:refusal"},
      {chat("Show code", "Here:\\n```python\\nimport acme"), "chat:truncated"},
      {chat("How do I reset the API key of my project?", "Откройте настройки и выберите ключ, который нужно изменить."),
       "chat:language_mismatch"},
  };
  io::RecordBatch b;
  io::RecordParser parser(io::Format::Auto);
  int64_t n = 0;
  for (const auto& [line, _] : cases) ASSERT_FALSE(parser.parse(line, 0, ++n, "t", b).has_value()) << line;
  const auto verdicts = clean::chat_quality_batch(b, clean::ChatQualityParams{});
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(verdicts[i].reason, cases[i].second) << cases[i].first;
    EXPECT_EQ(verdicts[i].keep, cases[i].second.empty());
  }
  clean::ChatQualityParams off;
  off.refusal = false;
  EXPECT_TRUE(clean::chat_quality_batch(b, off)[5].keep);
}
