// Protected spans: every kind at hand-computed offsets, merging, caller ranges, bad ranges.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/errors.h"
#include "prompts/protected_spans.h"

using namespace airtune::prompts;

namespace {
std::vector<std::string> texts(std::string_view t, const std::vector<Span>& spans) {
  std::vector<std::string> out;
  for (const auto& s : spans) out.emplace_back(t.substr(s.begin, s.end - s.begin));
  return out;
}
}  // namespace

TEST(PromptsSpans, InlineKinds) {
  const std::string t =
      "Hi {name}, use `run --fast` and see https://a.example/x?q=1. Keep {{var}} and ${env} and <context> "
      "tags.";
  const auto spans = find_protected_spans(t);
  const std::vector<std::string> want = {"{name}",  "`run --fast`", "https://a.example/x?q=1",
                                         "{{var}}", "${env}",       "<context>"};
  EXPECT_EQ(texts(t, spans), want);
  EXPECT_EQ(spans[0].kind, SpanKind::kPlaceholder);
  EXPECT_EQ(spans[1].kind, SpanKind::kInlineCode);
  EXPECT_EQ(spans[2].kind, SpanKind::kUrl);
  EXPECT_EQ(spans[5].kind, SpanKind::kTag);
}

TEST(PromptsSpans, FencedCodeToClosingFenceOrEnd) {
  const std::string t = "Intro.\n```python\nx = {\"a\": 1}\n\nprint(x)\n```\nAfter.";
  auto spans = find_protected_spans(t);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(t.substr(spans[0].begin, spans[0].end - spans[0].begin), "```python\nx = {\"a\": 1}\n\nprint(x)\n```");
  const std::string open = "Intro.\n~~~\ncode {x}\nmore";
  spans = find_protected_spans(open);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].begin, 7u);
  EXPECT_EQ(spans[0].end, open.size());
}

TEST(PromptsSpans, JsonObjectsArraysAndUnbalanced) {
  const std::string t = R"(Return {"a": "x}y", "b": [1, {"c": 2}]} now. Or ["p", "q"]. Not [1] or [Optional].)";
  const auto spans = find_protected_spans(t);
  const std::vector<std::string> want = {R"({"a": "x}y", "b": [1, {"c": 2}]})", R"(["p", "q"])"};
  EXPECT_EQ(texts(t, spans), want);
  const std::string bad = R"(Schema: {"a": {"b": 1} and the rest)";
  const auto s2 = find_protected_spans(bad);
  ASSERT_EQ(s2.size(), 1u);
  EXPECT_EQ(s2[0].end, bad.size());  // unbalanced runs to the end: conservative
}

TEST(PromptsSpans, UrlTrailingPunctuationAndParens) {
  const std::string t = "See (https://x.example/a_(b)) and www.y.example/z, then stop.";
  const auto spans = find_protected_spans(t);
  const std::vector<std::string> want = {"https://x.example/a_(b)", "www.y.example/z"};
  EXPECT_EQ(texts(t, spans), want);
}

TEST(PromptsSpans, CallerRangesMergeWithDetected) {
  const std::string t = "Say ACME-42 to {name} now";
  auto spans = find_protected_spans(t, {{4, 11}, {12, 18}});
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(texts(t, spans)[0], "ACME-42");
  EXPECT_EQ(spans[0].kind, SpanKind::kCaller);
  EXPECT_EQ(texts(t, spans)[1], "to {name}");  // caller range 12..18 overlaps {name}: merged
  EXPECT_THROW(find_protected_spans(t, {{3, 99}}), airtune::InvalidArgument);
  EXPECT_THROW(find_protected_spans("caf\xC3\xA9", {{4, 5}}), airtune::InvalidArgument);  // mid-character
}

TEST(PromptsSpans, NoFalsePositivesInProse) {
  const std::string t = "Be kind {and brief}. Use a < b comparisons. email me at 3 pm.";
  EXPECT_TRUE(find_protected_spans(t).empty());
}

TEST(PromptsSpans, IdentifiersAndEmails) {
  const std::string t =
      "Answer talk_to_agent or check_balance. Mail payroll@contoso.example, not support. Keep __init__ too.";
  const auto spans = find_protected_spans(t);
  const std::vector<std::string> want = {"talk_to_agent", "check_balance", "payroll@contoso.example", "__init__"};
  EXPECT_EQ(texts(t, spans), want);
  EXPECT_EQ(spans[0].kind, SpanKind::kIdentifier);
  EXPECT_EQ(spans[2].kind, SpanKind::kEmail);
}
