// The Porter stemmer exactly as NLTK's PorterStemmer in its default NLTK_EXTENSIONS mode
// (nltk/stem/porter.py), which rouge-score applies to tokens longer than 3 characters.
//
// Input: a lowercase ASCII word. Output: its stem (a new string).
// Thread safety: stateless, safe from any thread.
#pragma once

#include <string>
#include <string_view>

namespace airtune::metrics {

std::string porter_stem(std::string_view word);

}  // namespace airtune::metrics
