// Meaning-preserving prompt variations: structure, wording, optional sentences, template slots.
//
// A Variator holds a compiled lexicon (synonymous instruction phrasings, contractions, imperative
// verbs that take "Please", sentence openers that tie a sentence to the one before it). generate()
// masks the protected spans of a prompt (protected_spans.h) with opaque tokens, parses the rest
// into lines of headings, bullet/numbered lists and sentences, then renders candidate variants:
//   - reorder independent sentences of a line and items of a bullet list (a sentence that starts
//     with an anaphoric opener such as "This" or follows one ending in ':' moves with its
//     predecessor; the first sentence and numbered lists keep their order),
//   - list style (-, *, 1., 1), prose), heading style (# Title, Title:, **Title**), blank lines,
//   - wording from the lexicon (each match replaced with probability p; a phrase written "^..."
//     matches only at the start of a sentence or list item), contractions in one direction,
//     politeness (a prefix such as "Please" or "Make sure to" added to or removed from imperative
//     sentences; sentences starting with "do"/"don't" only take the first prefix),
//   - dropping caller-listed optional sentences, choosing caller-given template slot values,
//   - clause order: "If A, B." <-> "B if A." (also When, Whenever, Unless, Before, After, Once).
// Candidate i is drawn from its own RNG stream seeded by (seed, i), and candidates are accepted in
// index order when their character-4-gram Jaccard distance to the original and to every accepted
// variant is >= min_distance: the result depends only on (prompt, options), never on threads.
// Every protected span is copied byte for byte; a candidate where a token is missing or repeated
// is discarded (defensive; the renderer never drops a token).
//
// Thread safety: a Variator is immutable after construction; generate() may run concurrently.
// Memory: O(prompt size x candidates tried).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "prompts/protected_spans.h"

namespace airtune::prompts {

enum Transform : uint32_t {
  kReorderSentences = 1u << 0,
  kReorderItems = 1u << 1,
  kListStyle = 1u << 2,
  kHeadingStyle = 1u << 3,
  kWhitespace = 1u << 4,
  kWording = 1u << 5,
  kContractions = 1u << 6,
  kPoliteness = 1u << 7,
  kOptional = 1u << 8,
  kSlots = 1u << 9,
  kClauseOrder = 1u << 10,
  kAllTransforms = (1u << 11) - 1,
};

/// Names of the transform bits, in bit order ("reorder_sentences", "reorder_items", "list_style",
/// "heading_style", "whitespace", "wording", "contractions", "politeness", "optional", "slots",
/// "clause_order").
const std::vector<std::string>& transform_names();

struct Lexicon {
  std::vector<std::vector<std::string>> synonyms;                 ///< groups of interchangeable phrasings
  std::vector<std::pair<std::string, std::string>> contractions;  ///< (expanded, contracted)
  std::vector<std::string> imperative_verbs;                      ///< lower-case verbs that may take "Please"
  std::vector<std::string> anaphora;         ///< lower-case openers that bind a sentence to the previous
  std::vector<std::string> polite_prefixes;  ///< e.g. "Please", "Make sure to"; empty means {"Please"}
};

struct VariationOptions {
  int n = 10;  ///< variants wanted (>= 0)
  uint64_t seed = 0;
  double min_distance = 0.05;  ///< minimum char-4-gram Jaccard distance, in [0, 1)
  int max_attempts = 0;        ///< candidates tried at most; 0 means 30 * n + 30
  uint32_t transforms = kAllTransforms;
  std::vector<std::pair<size_t, size_t>> protect;                       ///< extra protected byte ranges
  std::vector<std::string> optional_sentences;                          ///< may be dropped
  std::vector<std::pair<std::string, std::vector<std::string>>> slots;  ///< text -> alternatives
};

struct Variant {
  std::string text;
  uint32_t transforms = 0;  ///< bits of Transform that changed something
  double min_distance = 0;  ///< distance to the nearest of the original and earlier variants
};

struct VariationResult {
  std::vector<Variant> variants;  ///< up to n; fewer when the prompt leaves too little to vary
  std::vector<Span> protected_spans;
  int attempts = 0;  ///< candidates generated
};

class Variator {
 public:
  /// Throws InvalidArgument for an empty phrase, a group with fewer than two phrasings, or a
  /// phrase with control characters.
  explicit Variator(Lexicon lexicon);

  /// Variants of one prompt. Throws InvalidArgument for an empty or non-UTF-8 prompt or bad options.
  VariationResult generate(std::string_view prompt, const VariationOptions& options) const;

  /// generate() for many prompts in parallel (options.seed is mixed with the prompt's index).
  std::vector<VariationResult> generate_many(const std::vector<std::string_view>& prompts,
                                             const VariationOptions& options) const;

  struct Phrase {
    std::string lower;  // lower-cased ASCII
    std::string text;
    int group = -1;        // synonym group, or contraction pair index
    int kind = 0;          // 0 synonym, 1 expanded form, 2 contracted form, 3 slot
    bool initial = false;  // "^phrase": only at the start of a sentence or item
  };

 private:
  Lexicon lex_;
  std::vector<Phrase> phrases_;
};

/// Character 4-gram Jaccard distance (1 - |A n B| / |A u B|) of two texts, over dedup/minhash.h's
/// code-point shingles of the texts as they are; 0 for two empty texts.
double shingle_distance(std::string_view a, std::string_view b);

}  // namespace airtune::prompts
