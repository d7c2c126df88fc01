#include "core/errors.h"

namespace airtune {

namespace {
std::string place(const std::string& source, int64_t line, int64_t column, const std::string& reason) {
  std::string out = source.empty() ? std::string("<input>") : source;
  // appended piece by piece: GCC 12 warns (-Wrestrict, a false positive) on ":" + to_string(...)
  if (line > 0) (out += ':') += std::to_string(line);
  if (column > 0) (out += ':') += std::to_string(column);
  return out + ": " + reason;
}
}  // namespace

ParseError::ParseError(std::string source, int64_t line, int64_t column, std::string reason)
    : Error(place(source, line, column, reason)),
      source_(std::move(source)),
      line_(line),
      column_(column),
      reason_(std::move(reason)) {}

}  // namespace airtune
