// Main-content selection: which parts of a page are the article body and which are boilerplate.
// The body excludes the page title (<h1>), image captions (<figcaption>) and bylines, as the
// article-extraction benchmarks (and trafilatura's text output) do.
//
// The scoring is airtune's own, in the family of Readability: (1) boilerplate is removed by
// structure (nav, aside, footer, header, ARIA landmark roles, hidden elements) and by class/id
// vocabulary (menu, sidebar, comment, share, related, cookie, ...); (2) every paragraph-like block
// with enough text scores 1 + commas + length/100 (capped), credited to its ancestors with decay;
// (3) a candidate's score is scaled by (1 - link density) and the best one, widened to a common
// ancestor when strong rivals share it, becomes the article root; siblings with related scores or
// dense prose join it; (4) inside, containers with high link density, many list items, images or
// form inputs and little prose are pruned. Elements marked itemprop=articleBody (or with a well-known
// article-body class) take precedence when they hold enough text.
//
// Every pass is a forward or reverse loop over the flat node array (no recursion); time and memory
// are linear in the number of nodes. Thread safety: pure function.
#pragma once

#include <cstdint>
#include <vector>

#include "clean/html_dom.h"

namespace airtune::clean {

enum class NodeVerdict : uint8_t {
  kNone = 0,  ///< decided by its ancestors
  kKeep = 1,  ///< the subtree is main content (unless a descendant is kDrop)
  kDrop = 2,  ///< the subtree is boilerplate
};

/// One verdict per node of `dom`. Text is main content when its nearest ancestor-or-self with a
/// verdict says kKeep. The root gets kKeep when no article root could be found (short pages).
std::vector<NodeVerdict> select_main_content(const Dom& dom);

}  // namespace airtune::clean
