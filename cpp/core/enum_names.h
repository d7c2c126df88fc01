// Option strings <-> enums through one table per enum: the table lists each name once (aliases
// are further rows of the same value), and both directions read it, so a choice is added in one
// place. Callers keep their own error message, which names the option and its choices.
//
// Thread safety: pure functions over constant tables.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace airtune::core {

template <typename E>
struct EnumName {
  std::string_view name;
  E value;
};

/// The value named `name` in `table`, or nullopt when no row has that name.
template <typename E, size_t N>
constexpr std::optional<E> find_enum(std::string_view name, const EnumName<E> (&table)[N]) noexcept {
  for (const auto& row : table)
    if (row.name == name) return row.value;
  return std::nullopt;
}

/// The name of `value`: its first row in `table` (the canonical name); `fallback` when it has none.
template <typename E, size_t N>
constexpr std::string_view enum_name(E value, const EnumName<E> (&table)[N], std::string_view fallback = "?") noexcept {
  for (const auto& row : table)
    if (row.value == value) return row.name;
  return fallback;
}

}  // namespace airtune::core
