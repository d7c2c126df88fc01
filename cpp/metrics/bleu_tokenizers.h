// sacreBLEU's tokenisers, ported byte-exactly: 13a (mteval-v13a), intl (mteval-v14), char, none.
//
// Each applies str.rstrip() first, as sacreBLEU's BLEU does before tokenising, and yields the
// tokens of `' '.join(line.split())`, i.e. the list BLEU counts n-grams over. Lowercasing
// (Unicode str.lower()) is done by the caller before this step.
// Output views point into `raw` or into `buf`; both must outlive the tokens.
// Thread safety: pure; use one buffer per thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace airtune::metrics {

enum class BleuTokenizer { k13a, kIntl, kChar, kNone };

/// Parses "13a", "intl", "char", "none"; throws InvalidArgument naming the choices otherwise.
BleuTokenizer parse_bleu_tokenizer(std::string_view name);
const char* bleu_tokenizer_name(BleuTokenizer t) noexcept;

/// Tokenises `raw` (valid UTF-8) into `tokens` (cleared first); rstrip=true as BLEU does.
void bleu_tokenize(std::string_view raw, BleuTokenizer tok, bool rstrip, std::string& buf, std::string& buf2,
                   std::vector<std::string_view>& tokens);

/// The line as sacreBLEU's tokenizer object returns it (tokens joined by single spaces, no rstrip).
std::string bleu_tokenized_line(std::string_view raw, BleuTokenizer tok);

}  // namespace airtune::metrics
