// Errors of the airtune core: one hierarchy, translated once in the bindings.
//
//   Error             base; bindings map it to RuntimeError
//   InvalidArgument   a caller passed a bad value            -> ValueError
//   ParseError        malformed input, with source/line/col  -> airtune.ParseError (a ValueError)
//   IoError           a file could not be opened/read/written -> OSError
//   FormatError       well-formed input of the wrong shape   -> ValueError
//
// Internal invariants may assert; user input must only ever reach these exceptions.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace airtune {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class InvalidArgument : public Error {
 public:
  using Error::Error;
};

class FormatError : public Error {
 public:
  using Error::Error;
};

class IoError : public Error {
 public:
  using Error::Error;
};

/// A parse failure at a place in a source. `line` and `column` are 1-based; 0 means unknown.
/// what() reads "source:line:column: reason".
class ParseError : public Error {
 public:
  ParseError(std::string source, int64_t line, int64_t column, std::string reason);

  const std::string& source() const noexcept { return source_; }
  int64_t line() const noexcept { return line_; }
  int64_t column() const noexcept { return column_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string source_;
  int64_t line_;
  int64_t column_;
  std::string reason_;
};

}  // namespace airtune
