// The fixed-order dot product that decides every score airtune reports from embeddings, and the
// bound on how far a BLAS (or any float32) dot product can be from it.
//
// dot_exact: each float product is exact in double (24 + 24 significant bits < 53), so FMA
// contraction cannot change it; the products are summed in double into 16 lanes (lane l takes
// elements i = l mod 16, in increasing i) and the lanes are folded in halves (lane l += lane
// l + 8, then l + 4, l + 2, l + 1).
// The order is part of the definition, not of the compiler or CPU: vectorising the lanes computes
// the same IEEE operations. So the value is the same bits on every x86-64 CPU, thread count and
// build (as long as nobody compiles with -ffast-math / -fassociative-math, which airtune never does).
//
// dot_error_bound: for any float32 evaluation s' of a.b (any summation order or blocking, with or
// without FMA: BLAS kernels, FAISS's SIMD scan, torch's matmul at "highest" precision),
//   |s' - dot_exact(a, b)| <= dot_error_bound(d, |a|, |b|)
// by the standard bound |fl(a.b) - a.b| <= gamma_d * sum |a_i b_i| <= gamma_d |a| |b| (Higham,
// Accuracy and Stability, Thm. 3.1 and Cauchy-Schwarz), gamma_d = d u / (1 - d u), u = 2^-24, plus
// the same bound with u = 2^-53 for dot_exact itself, a 2^-20 relative margin for the rounding of
// the norms passed in and an absolute d * 2^-100 (|a| + 1)(|b| + 1) for underflow (flush-to-zero
// kernels). For unit rows of d = 384 it is ~2.3e-5.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>

namespace airtune::vectors {

/// a . b over d floats, in the fixed order described above.
double dot_exact(const float* a, const float* b, int64_t d);

/// dot_exact(a, a).
inline double squared_norm(const float* a, int64_t d) { return dot_exact(a, a, d); }

/// Bound on |float32 a.b - dot_exact(a, b)| for vectors of norms at most norm_a, norm_b
/// (d < 2^23 required; larger d returns +inf).
double dot_error_bound(int64_t d, double norm_a, double norm_b);

}  // namespace airtune::vectors
