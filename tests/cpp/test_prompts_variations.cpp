// Variations: protected spans byte-identical, determinism (seed, thread count), minimum distance,
// structure rules (numbered lists keep order, anaphoric sentences stay attached), bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/threading.h"
#include "prompts/protected_spans.h"
#include "prompts/variations.h"

using namespace airtune::prompts;

namespace {

Lexicon small_lexicon() {
  Lexicon l;
  l.synonyms = {{"make sure to", "be sure to", "take care to"},
                {"concise", "brief", "succinct"},
                {"customer", "client"},
                {"respond", "reply"}};
  l.contractions = {{"do not", "don't"}, {"you are", "you're"}};
  l.imperative_verbs = {"keep", "respond", "use", "greet", "make"};
  l.anaphora = {"this", "it", "then"};
  return l;
}

const char* kPrompt =
    "You are a support agent for Acme. Respond to the customer politely. Keep it short. Do not guess.\n\n"
    "## Rules\n"
    "- Make sure to greet {customer_name}.\n"
    "- Be concise.\n"
    "- Link to https://acme.example/help?x=1 when useful.\n"
    "- Return `{\"ok\": true}` verbatim.\n\n"
    "Steps:\n"
    "1. Read the ticket.\n"
    "2. Then answer it.\n\n"
    "```json\n{\"answer\": \"...\"}\n```\n";

}  // namespace

TEST(PromptsVariations, ProtectedSpansAreByteIdentical) {
  Variator v(small_lexicon());
  VariationOptions o;
  o.n = 20;
  o.min_distance = 0.02;
  const std::string p = kPrompt;
  for (uint64_t seed = 0; seed < 10; ++seed) {
    o.seed = seed;
    const auto r = v.generate(p, o);
    ASSERT_GE(r.protected_spans.size(), 4u);
    EXPECT_GT(r.variants.size(), 5u);
    for (const auto& var : r.variants) {
      EXPECT_NE(var.text, p);
      for (const auto& s : r.protected_spans) {
        const std::string span = p.substr(s.begin, s.end - s.begin);
        EXPECT_NE(var.text.find(span), std::string::npos) << span;
      }
    }
  }
}

TEST(PromptsVariations, DeterministicAcrossSeedsAndThreads) {
  Variator v(small_lexicon());
  VariationOptions o;
  o.n = 8;
  o.seed = 42;
  const std::vector<std::string> ps = {kPrompt, "You are a customer bot. Keep answers concise. Make sure to respond.",
                                       "Respond briefly. Use {x}. This matters."};
  std::vector<std::string_view> views(ps.begin(), ps.end());
  airtune::core::set_num_threads(1);
  const auto a = v.generate_many(views, o);
  airtune::core::set_num_threads(3);
  const auto b = v.generate_many(views, o);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].variants.size(), b[i].variants.size());
    for (size_t k = 0; k < a[i].variants.size(); ++k) {
      EXPECT_EQ(a[i].variants[k].text, b[i].variants[k].text);
      EXPECT_EQ(a[i].variants[k].transforms, b[i].variants[k].transforms);
    }
  }
  const auto c = v.generate(kPrompt, o);
  const auto d = v.generate(kPrompt, o);
  ASSERT_EQ(c.variants.size(), d.variants.size());
  for (size_t k = 0; k < c.variants.size(); ++k) EXPECT_EQ(c.variants[k].text, d.variants[k].text);
  o.seed = 43;
  const auto e = v.generate(kPrompt, o);
  EXPECT_NE(e.variants[0].text, c.variants[0].text);
}

TEST(PromptsVariations, MinimumPairwiseDistanceHolds) {
  Variator v(small_lexicon());
  VariationOptions o;
  o.n = 10;
  o.min_distance = 0.08;
  const auto r = v.generate(kPrompt, o);
  ASSERT_GE(r.variants.size(), 3u);
  // Distances are measured with protected spans masked (internal); the reported value respects
  // the bound and the texts all differ.
  for (size_t i = 0; i < r.variants.size(); ++i) {
    EXPECT_GE(r.variants[i].min_distance, o.min_distance);
    for (size_t j = 0; j < i; ++j) EXPECT_GT(shingle_distance(r.variants[i].text, r.variants[j].text), 0.0);
  }
}

TEST(PromptsVariations, NumberedListsKeepOrderAndAnaphoraStaysAttached) {
  Variator v(small_lexicon());
  VariationOptions o;
  o.n = 30;
  o.min_distance = 0.0;
  o.transforms = kReorderSentences | kReorderItems | kWording;
  const std::string p =
      "You are a bot. Keep answers short. Cite sources. It helps users. Be kind.\n\n1. First step.\n2. Second step.\n";
  const auto r = v.generate(p, o);
  ASSERT_GT(r.variants.size(), 0u);
  bool moved = false;
  for (const auto& var : r.variants) {
    EXPECT_EQ(var.text.rfind("You are a bot.", 0), 0u) << var.text;  // first sentence fixed
    EXPECT_NE(var.text.find("Cite sources. It helps users."), std::string::npos) << var.text;
    EXPECT_LT(var.text.find("1. First step."), var.text.find("2. Second step."));
    moved = moved || (var.transforms & kReorderSentences);
  }
  EXPECT_TRUE(moved);
}

TEST(PromptsVariations, TransformsRestrictedToTheMask) {
  Variator v(small_lexicon());
  VariationOptions o;
  o.n = 5;
  o.min_distance = 0.0;
  o.transforms = kContractions;
  const auto r = v.generate("You are kind. Do not lie.", o);
  ASSERT_EQ(r.variants.size(), 1u);  // only one distinct change exists
  EXPECT_EQ(r.variants[0].text, "You're kind. Don't lie.");
  EXPECT_EQ(r.variants[0].transforms, static_cast<uint32_t>(kContractions));
}

TEST(PromptsVariations, SlotsAndOptionalSentences) {
  Variator v(small_lexicon());
  VariationOptions o;
  o.n = 10;
  o.min_distance = 0.0;
  o.transforms = kSlots | kOptional;
  o.slots = {{"Acme Corp", {"Acme", "ACME Inc."}}};
  o.optional_sentences = {"Thank you."};
  const auto r = v.generate("You work for Acme Corp. Thank you. Acme Corp sells tools.", o);
  std::vector<std::string> got;
  for (const auto& var : r.variants) got.push_back(var.text);
  std::sort(got.begin(), got.end());
  const std::vector<std::string> want = {
      "You work for ACME Inc.. ACME Inc. sells tools.", "You work for ACME Inc.. Thank you. ACME Inc. sells tools.",
      "You work for Acme Corp. Acme Corp sells tools.", "You work for Acme. Acme sells tools.",
      "You work for Acme. Thank you. Acme sells tools."};
  EXPECT_EQ(got, want);
}

TEST(PromptsVariations, BadInputAndDegenerateInput) {
  Variator v(small_lexicon());
  VariationOptions o;
  EXPECT_THROW(v.generate("", o), airtune::InvalidArgument);
  EXPECT_THROW(v.generate("   \n ", o), airtune::InvalidArgument);
  EXPECT_THROW(v.generate("bad \xFF byte", o), airtune::InvalidArgument);
  o.min_distance = 1.5;
  EXPECT_THROW(v.generate("ok", o), airtune::InvalidArgument);
  o.min_distance = 0.05;
  const auto code_only = v.generate("```\nprint(1)\n```", o);
  EXPECT_TRUE(code_only.variants.empty());
  const auto json_only = v.generate("{\"a\": [1, 2, {\"b\": null}]}", o);
  EXPECT_TRUE(json_only.variants.empty());
  EXPECT_THROW(Variator(Lexicon{{{"only one"}}, {}, {}, {}, {}}), airtune::InvalidArgument);
  EXPECT_THROW(Variator(Lexicon{{{"a\x01", "b"}}, {}, {}, {}, {}}), airtune::InvalidArgument);
}

TEST(PromptsVariations, LargePromptStaysCorrect) {
  Variator v(small_lexicon());
  std::string big;
  while (big.size() < 100000) big += "Make sure to respond to the customer. Keep it concise. See {ref}. ";
  VariationOptions o;
  o.n = 3;
  o.min_distance = 0.0;  // a repetitive text has almost the same 4-gram set in every variant
  const auto r = v.generate(big, o);
  ASSERT_EQ(r.variants.size(), 3u);
  for (const auto& var : r.variants) {
    size_t count = 0;
    for (size_t p = var.text.find("{ref}"); p != std::string::npos; p = var.text.find("{ref}", p + 1)) ++count;
    EXPECT_EQ(count, r.protected_spans.size());
  }
}

TEST(PromptsVariations, ClauseOrderAndPolitePrefixesHandComputed) {
  Lexicon l = small_lexicon();
  l.polite_prefixes = {"Please", "Remember to"};
  l.imperative_verbs.push_back("do");
  Variator v(l);
  VariationOptions o;
  o.n = 10;
  o.min_distance = 0.0;
  o.transforms = kClauseOrder;
  auto r = v.generate("If you are unsure, ask the user.", o);
  ASSERT_EQ(r.variants.size(), 1u);
  EXPECT_EQ(r.variants[0].text, "Ask the user if you are unsure.");
  EXPECT_EQ(r.variants[0].transforms, static_cast<uint32_t>(kClauseOrder));
  // Two commas: ambiguous, never swapped.
  EXPECT_TRUE(v.generate("If a, b, c.", o).variants.empty());
  o.transforms = kPoliteness;
  r = v.generate("Keep it short.", o);
  std::vector<std::string> got;
  for (const auto& var : r.variants) got.push_back(var.text);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"Please keep it short.", "Remember to keep it short."}));
  // "Do not" only takes the first prefix; removal works on both.
  r = v.generate("Do not guess.", o);
  ASSERT_EQ(r.variants.size(), 1u);
  EXPECT_EQ(r.variants[0].text, "Please do not guess.");
  r = v.generate("Remember to keep it short.", o);
  got.clear();
  for (const auto& var : r.variants) got.push_back(var.text);
  EXPECT_NE(std::find(got.begin(), got.end(), "Keep it short."), got.end());
}

TEST(PromptsVariations, SentenceInitialPhrasesOnlyAtTheStart) {
  Lexicon l;
  l.synonyms = {{"^you are a", "^act as a"}};
  Variator v(l);
  VariationOptions o;
  o.n = 5;
  o.min_distance = 0.0;
  o.transforms = kWording;
  const auto r = v.generate("You are a tutor. Say when you are a beginner too.", o);
  ASSERT_EQ(r.variants.size(), 1u);
  EXPECT_EQ(r.variants[0].text, "Act as a tutor. Say when you are a beginner too.");
}
