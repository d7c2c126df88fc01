#include "metrics/inputs.h"

#include "core/errors.h"
#include "core/utf8.h"

namespace airtune::metrics {

void check_utf8(const std::vector<std::string_view>& texts, const std::string& name) {
  for (size_t i = 0; i < texts.size(); ++i) {
    const size_t bad = core::first_invalid_utf8(texts[i]);
    if (bad != texts[i].size()) {
      throw InvalidArgument(name + ": row " + std::to_string(i) + " is not valid UTF-8 (byte offset " +
                            std::to_string(bad) + ")");
    }
  }
}

void check_references(const References& refs, size_t n, const std::string& name) {
  if (refs.streams.empty()) throw InvalidArgument(name + ": no reference streams given");
  if (!refs.present.empty() && refs.present.size() != refs.streams.size()) {
    throw InvalidArgument(name + ": presence masks do not match the reference streams");
  }
  for (size_t k = 0; k < refs.streams.size(); ++k) {
    if (refs.streams[k].size() != n) {
      throw InvalidArgument(name + ": reference stream " + std::to_string(k) + " has " +
                            std::to_string(refs.streams[k].size()) + " items, hypotheses have " + std::to_string(n));
    }
    if (!refs.present.empty() && refs.present[k].size() != n) {
      throw InvalidArgument(name + ": presence mask " + std::to_string(k) + " has the wrong length");
    }
    check_utf8(refs.streams[k], name + "[" + std::to_string(k) + "]");
  }
  for (size_t i = 0; i < n; ++i) {
    bool any = false;
    for (size_t k = 0; k < refs.streams.size() && !any; ++k) any = refs.has(k, i);
    if (!any) throw InvalidArgument(name + ": row " + std::to_string(i) + " has no reference (all None)");
  }
}

}  // namespace airtune::metrics
