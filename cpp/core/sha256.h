// SHA-256 (FIPS 180-4), implemented here from the standard: the digest that checkpoint manifests
// store for every file they list, so that a corrupted or altered file is refused before it is used.
// Output equals Python's hashlib.sha256 (tests/cpp/test_core_sha256.cpp checks the FIPS vectors).
//
// Thread safety: a Sha256 object is not shared between threads; the free functions are pure.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace airtune::core {

/// Incremental SHA-256: update() any number of times, then hex() or digest() once.
class Sha256 {
 public:
  Sha256() noexcept;
  void update(const void* data, size_t len) noexcept;
  /// The 32-byte digest; the object must not be updated afterwards.
  std::array<uint8_t, 32> digest() noexcept;
  /// The digest as 64 lowercase hex digits (hashlib's hexdigest()).
  std::string hex();

 private:
  void block(const uint8_t* p) noexcept;
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_{};
  size_t buffered_ = 0;
  uint64_t total_ = 0;  // bytes
};

/// SHA-256 of `len` bytes as 64 lowercase hex digits.
std::string sha256_hex(const void* data, size_t len);
inline std::string sha256_hex(std::string_view s) { return sha256_hex(s.data(), s.size()); }

/// True when `s` is 64 lowercase hex digits (the form sha256_hex writes).
bool is_sha256_hex(std::string_view s) noexcept;

}  // namespace airtune::core
