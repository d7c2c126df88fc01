// Exact n-gram keys: an n-gram of interned ids, each below 2^bits, packed into one 128-bit key.
// Callers check fits_key(n, bits) and report an InvalidArgument otherwise.
#pragma once

namespace airtune::metrics {

using NgramKey = unsigned __int128;

inline bool fits_key(int n, int bits) noexcept { return n * bits <= 128; }

}  // namespace airtune::metrics
