// Quality checks made for chat and instruction data: what hurts fine-tuning, not what hurts web
// pre-training. Short conversational turns ("Thanks!", "Which region?") are fine; the checks look
// at the structure of the conversation and at the answers.
//
// Rules, in order (the first that fails names the row's reason, "chat:<rule>"):
//   no_assistant       no assistant message with content or tool calls
//   empty_turn         a user or assistant message that is empty or only whitespace (and has no
//                      tool calls)
//   turn_too_long      a message over max_turn_chars code points
//   markup             leftover HTML in a user or assistant message: a tag of a known HTML element
//                      (<div>, </p>, <br/>, ...) or an HTML character reference (&nbsp; &#39;)
//   refusal            the last assistant answer opens with a refusal or AI boilerplate ("I'm sorry,
//                      but I can't", "As an AI language model", ...; apostrophes normalised)
//   truncated          the last assistant answer stops inside a ``` code block, or (when it has >=
//                      truncated_min_words words, 25) mid-sentence: it ends in a letter, digit, ','
//                      ';' '-' or '(' (not in a URL, path or e-mail address)
//   language_mismatch  the last user turn and the last answer are in different languages: different
//                      dominant scripts (Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari, Thai,
//                      Hangul, CJK), or, for Latin text, different languages among en de fr es pt it
//                      nl by stop words; both sides need >= language_min_letters letters
//   length_ratio       answer chars / question chars of the last pair above max_length_ratio (question
//                      >= 10 chars) or below min_length_ratio (question >= 200 chars)
//   repetition         the last answer (>= 4 lines) repeats lines: duplicated lines hold more than
//                      max_dup_line_frac of its characters
// A negative number turns that numeric check off; every rule has an on/off switch.
//
// Thread safety: pure functions; the batch form runs in parallel in airtune's arena. Linear time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/record.h"

namespace airtune::clean {

struct ChatQualityParams {
  bool no_assistant = true;
  bool empty_turn = true;
  bool turn_too_long = true;
  int64_t max_turn_chars = 32768;
  bool markup = true;
  bool refusal = true;
  bool truncated = true;
  int64_t truncated_min_words = 25;
  bool language_mismatch = true;
  int64_t language_min_letters = 12;
  bool length_ratio = true;
  double max_length_ratio = 200.0;
  double min_length_ratio = 0.005;
  bool repetition = true;
  double max_dup_line_frac = 0.5;
};

struct ChatVerdict {
  bool keep = true;
  std::string reason;  ///< "chat:<rule>" when dropped
};

/// One verdict per record of `batch`.
std::vector<ChatVerdict> chat_quality_batch(const io::RecordBatch& batch, const ChatQualityParams& params);

/// The rule names, in check order.
std::vector<std::string> chat_quality_rules();

}  // namespace airtune::clean
