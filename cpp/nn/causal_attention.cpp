#include "nn/causal_attention.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/native/CPUBlas.h>
#include <torch/autograd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

// brgemm with both element types (torch >= 2.6 declares them) and GCC's AVX-512 intrinsics for the
// softmax between the GEMMs; elsewhere causal_attention_applies() is false.
#if defined(__x86_64__) && defined(__GNUC__) && defined(CPUBLAS_BRGEMM_BF16BF16F32) && defined(CPUBLAS_BRGEMM_F32F32F32)
#define AIRTUNE_ATTN_BRGEMM 1
#include <immintrin.h>
#endif

namespace airtune::nn {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::atomic<bool> g_enabled{true};

#ifdef AIRTUNE_ATTN_BRGEMM
// GCC 12's masked AVX-512 intrinsics pass an undefined vector as their source: a false warning,
// raised where they are inlined (the templates below), so off for the whole section.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
using bf16 = at::BFloat16;

constexpr int64_t kBlock = 64;  // query rows per block (fixed: the result does not depend on the thread count)

// C [M, N] (row stride ldc) = (add ? C : 0) + A [M, K] (row-major, ld a) B [K, N] (ld b, laid out
// by pack_rows or pack_cols: bf16 in interleaved pairs of rows). K even for bf16.
inline void gemm(int64_t M, int64_t N, int64_t K, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                 int64_t ldc, bool add) {
  at::native::cpublas::brgemm(M, N, K, lda, ldb, ldc, add, a, b, c, false);
}
inline void gemm(int64_t M, int64_t N, int64_t K, const bf16* a, int64_t lda, const bf16* b, int64_t ldb, float* c,
                 int64_t ldc, bool add) {
  at::native::cpublas::brgemm(M, N, K, lda, ldb, ldc, add, a, b, c, true);
}

// Per-thread scratch that only grows (the backward's buffers are a few [64, s] and [d, s] float32
// arrays: fresh ones each call cost a page fault per 4 KiB, ~13% of the pass in a profile).
template <typename T>
T* scratch(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,fma")

inline __mmask16 tail(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }  // n in [0, 16)
inline __mmask16 lanes(int64_t j, int64_t n) { return n - j >= 16 ? __mmask16(0xFFFF) : n > j ? tail(n - j) : 0; }

// e^x to ~1 ulp: x = n ln2 + r, |r| <= ln2 / 2, e^r by its Taylor series to r^6, scaled by 2^n.
// Below -104 the result is 0 (x = -inf included); a NaN stays NaN.
inline __m512 exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_set1_ps(88.0f), _mm512_max_ps(_mm512_set1_ps(-104.0f), x));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// bf16 bits of 16 floats in the low half of each 32-bit lane: round to nearest even, NaN to the
// quiet NaN (c10::BFloat16's conversion).
inline __m512i bf16_bits(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), lsb), 16);
  return _mm512_mask_mov_epi32(r, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), _mm512_set1_epi32(0x7fc0));
}

inline void store16(float* p, __m512 x, __mmask16 m) { _mm512_mask_storeu_ps(p, m, x); }
inline void store16(bf16* p, __m512 x, __mmask16 m) { _mm512_mask_cvtepi32_storeu_epi16(p, m, bf16_bits(x)); }
inline __m512 load16(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
inline __m512 load16(const bf16* p, __mmask16 m) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}

// One row of the forward: s[0, valid) *= scale, p[j] = exp(s[j] - max s) for j < valid (the
// largest exactly 1, so that rounding p to bf16 spares it, as torch's kernel does), 0 for
// valid <= j < n. Returns the row's log-sum-exp and sets *inv to 1 / sum_j p[j]. p may be s.
template <typename T>
float softmax_row(float* s, int64_t valid, int64_t n, float scale, T* p, float* inv) {
  const __m512 vs = _mm512_set1_ps(scale);
  __m512 vmax = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t j = 0; j < valid; j += 16) {
    const __mmask16 m = lanes(j, valid);
    const __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + j), vs);
    _mm512_mask_storeu_ps(s + j, m, x);
    vmax = _mm512_mask_max_ps(vmax, m, vmax, x);
  }
  const float mx = _mm512_reduce_max_ps(vmax);
  const __m512 vm = _mm512_set1_ps(mx);
  __m512 vsum = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = lanes(j, n), live = lanes(j, valid);
    const __m512 e = _mm512_maskz_mov_ps(live, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(live, s + j), vm)));
    vsum = _mm512_add_ps(vsum, e);
    store16(p + j, e, m);
  }
  const float sum = _mm512_reduce_add_ps(vsum);
  *inv = 1.0f / sum;
  return mx + std::log(sum);
}

// One row of the backward, in place: s[j] <- P[j] = exp(scale s[j] - lse) and dp[j] <- dS[j] =
// scale P[j] (dp[j] - D) for j < valid; both 0 for valid <= j < n.
void grad_row(float* s, float* dp, int64_t valid, int64_t n, float scale, float lse, float D) {
  const __m512 vs = _mm512_set1_ps(scale), vl = _mm512_set1_ps(lse), vd = _mm512_set1_ps(D);
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = lanes(j, n), live = lanes(j, valid);
    const __m512 p = _mm512_maskz_mov_ps(live, exp16(_mm512_fmsub_ps(_mm512_maskz_loadu_ps(live, s + j), vs, vl)));
    const __m512 ds = _mm512_mul_ps(_mm512_mul_ps(p, _mm512_sub_ps(_mm512_maskz_loadu_ps(live, dp + j), vd)), vs);
    _mm512_mask_storeu_ps(s + j, m, p);
    _mm512_mask_storeu_ps(dp + j, m, ds);
  }
}

// Rows [0, rows) of x (row stride ld, n columns), zero rows after them up to kp, as gemm()'s B
// operand [kp, n] (row stride ldd): float32 as they are (or converted from bf16); bf16 (from bf16
// exactly, from float32 rounded) with pairs of rows interleaved ([kp / 2][ldd][2], kp even).
template <typename S, typename T>
void pack_rows(const S* x, int64_t ld, int64_t rows, int64_t n, int64_t kp, T* dst, int64_t ldd) {
  for (int64_t r = 0; r < kp; r += 2)
    for (int64_t j = 0; j < n; j += 16) {
      const __mmask16 m = lanes(j, n);
      const __m512 a = r < rows ? load16(x + r * ld + j, m) : _mm512_setzero_ps();
      const __m512 b = r + 1 < rows ? load16(x + (r + 1) * ld + j, m) : _mm512_setzero_ps();
      if constexpr (std::is_same_v<T, float>) {
        _mm512_mask_storeu_ps(dst + r * ldd + j, m, a);
        _mm512_mask_storeu_ps(dst + (r + 1) * ldd + j, m, b);
      } else {
        const __m512i w = _mm512_or_si512(bf16_bits(a), _mm512_slli_epi32(bf16_bits(b), 16));
        _mm512_mask_storeu_epi32(dst + ((r >> 1) * ldd + j) * 2, m, w);
      }
    }
}

// Offsets r * ld (in 32-bit words) of 16 rows from r0, for gathers.
inline __m512i row_offsets(int64_t r0, int64_t ld) {
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  return _mm512_mullo_epi32(_mm512_add_epi32(iota, _mm512_set1_epi32(static_cast<int>(r0))),
                            _mm512_set1_epi32(static_cast<int>(ld)));
}

// Rows [0, rows) of x (row stride ld, d columns) transposed, as gemm()'s B operand [d, np] (ld np),
// columns [rows, np) zero: float32 [d][np], or bf16 with pairs of x's columns interleaved
// ([d / 2][np][2]: each 32-bit word of a row stays whole, so this is a transpose of words).
// rows * ld < 2^31 (causal_attention_applies checks it).
template <typename T>
void pack_cols(const T* x, int64_t ld, int64_t rows, int64_t d, int64_t np, T* dst) {
  constexpr int64_t per_word = sizeof(uint32_t) / sizeof(T);
  const int64_t words = d / per_word, wld = ld / per_word;
  auto* out = reinterpret_cast<int*>(dst);
  const auto* in = reinterpret_cast<const int*>(x);
  for (int64_t r0 = 0; r0 < rows; r0 += 16) {
    const __mmask16 m = lanes(r0, rows);
    const __m512i idx = row_offsets(r0, wld);
    for (int64_t w = 0; w < words; ++w)
      _mm512_mask_storeu_epi32(out + w * np + r0, m,
                               _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, in + w, 4));
  }
  for (int64_t w = 0; w < words; ++w) std::fill(out + w * np + rows, out + (w + 1) * np, 0);
}

// xt [d, kBlock] = x [kBlock, d]^T (x contiguous), converted to U (float32, or T itself).
template <typename T, typename U>
void transpose_block(const T* x, int64_t d, U* xt) {
  const auto* in = reinterpret_cast<const int*>(x);
  for (int64_t r0 = 0; r0 < kBlock; r0 += 16) {
    if constexpr (std::is_same_v<T, float>) {
      const __m512i idx = row_offsets(r0, d);
      for (int64_t c = 0; c < d; ++c) _mm512_storeu_ps(xt + c * kBlock + r0, _mm512_i32gather_ps(idx, x + c, 4));
    } else {  // a word holds columns 2w (low half) and 2w + 1
      const __m512i idx = row_offsets(r0, d / 2);
      for (int64_t w = 0; w < d / 2; ++w) {
        const __m512i v = _mm512_i32gather_epi32(idx, in + w, 4);
        const __m512i lo = _mm512_slli_epi32(v, 16), hi = _mm512_and_si512(v, _mm512_set1_epi32(-65536));
        if constexpr (std::is_same_v<U, float>) {
          _mm512_storeu_ps(xt + 2 * w * kBlock + r0, _mm512_castsi512_ps(lo));
          _mm512_storeu_ps(xt + (2 * w + 1) * kBlock + r0, _mm512_castsi512_ps(hi));
        } else {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(xt + 2 * w * kBlock + r0), _mm512_cvtepi32_epi16(v));
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(xt + (2 * w + 1) * kBlock + r0),
                              _mm512_cvtepi32_epi16(_mm512_srli_epi32(v, 16)));
        }
      }
    }
  }
}

// sum_c a[c] b[c] over n values, float32 accumulation in 16 lanes.
template <typename T>
float dot(const T* a, const T* b, int64_t n) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = lanes(j, n);
    acc = _mm512_fmadd_ps(load16(a + j, m), load16(b + j, m), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

// dst[0, n) = T(src * mul).
template <typename T>
void store_row(const float* src, int64_t n, float mul, T* dst) {
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = lanes(j, n);
    store16(dst + j, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, src + j), _mm512_set1_ps(mul)), m);
  }
}

// Row i of dst (row stride ld) = column i of xt [d, sp], for i < rows.
template <typename T>
void untranspose(const float* xt, int64_t d, int64_t sp, int64_t rows, T* dst, int64_t ld) {
  for (int64_t c0 = 0; c0 < d; c0 += 16) {
    const __mmask16 m = lanes(c0, d);
    const __m512i idx = row_offsets(c0, sp);
    for (int64_t i = 0; i < rows; ++i)
      store16(dst + i * ld + c0, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, xt + i, 4), m);
  }
}
#pragma GCC pop_options

// A [b, heads, s, d] tensor's rows (the last dimension contiguous).
template <typename T>
struct Rows {
  const T* p;
  int64_t sb, sh, ss;
  explicit Rows(const torch::Tensor& t)
      : p(static_cast<const T*>(t.data_ptr())), sb(t.stride(0)), sh(t.stride(1)), ss(t.stride(2)) {}
  const T* row(int64_t b, int64_t h, int64_t i) const { return p + b * sb + h * sh + i * ss; }
};

struct Shape {
  int64_t b, nh, nkv, s, d, sp;  // sp: s rounded up to a whole block
  float scale;
  int64_t group() const { return nh / nkv; }
  int64_t blocks() const { return sp / kBlock; }
  int64_t pack() const { return d * sp; }  // elements of one (batch, kv head)'s packed k or v
};

// The query rows [m0, m0 + kBlock) of head h (zero past s) into dst [kBlock, d], and transposed
// into dst_t [d, kBlock] when that is given.
template <typename T, typename U = T>
void copy_block(const Rows<T>& x, int64_t b, int64_t h, int64_t m0, const Shape& sh, T* dst, U* dst_t) {
  const int64_t rows = std::min(kBlock, sh.s - m0);
  for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * sh.d, x.row(b, h, m0 + r), sizeof(T) * sh.d);
  std::fill(dst + rows * sh.d, dst + kBlock * sh.d, T(0));
  if (dst_t) transpose_block(dst, sh.d, dst_t);
}

template <typename T>
struct ForwardScratch {
  std::vector<T> qb, pb;
  std::vector<float> s, o, inv;
};

template <typename T>
void forward_impl(const Rows<T>& q, const Rows<T>& k, const Rows<T>& v, const Shape& sh, T* out, float* lse) {
  const int64_t pk = sh.pack();
  const std::unique_ptr<T[]> kt(new T[static_cast<size_t>(sh.b * sh.nkv * pk)]),
      vn(new T[static_cast<size_t>(sh.b * sh.nkv * pk)]);
  at::parallel_for(0, sh.b * sh.nkv, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      const T* kr = k.row(t / sh.nkv, t % sh.nkv, 0);
      pack_cols(kr, k.ss, sh.s, sh.d, sh.sp, kt.get() + t * pk);
      pack_rows(v.row(t / sh.nkv, t % sh.nkv, 0), v.ss, sh.s, sh.d, sh.sp, vn.get() + t * pk, sh.d);
    }
  });
  at::parallel_for(0, sh.b * sh.nh * sh.blocks(), 1, [&](int64_t lo, int64_t hi) {
    thread_local ForwardScratch<T> sc;
    T* qb = scratch(sc.qb, kBlock * sh.d);
    float* s = scratch(sc.s, kBlock * sh.sp);
    float* o = scratch(sc.o, kBlock * sh.d);
    float* inv = scratch(sc.inv, kBlock);
    T* p = nullptr;
    if constexpr (std::is_same_v<T, float>)
      p = s;
    else
      p = scratch(sc.pb, kBlock * sh.sp);
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t bi = t / (sh.nh * sh.blocks()), h = t / sh.blocks() % sh.nh, m0 = t % sh.blocks() * kBlock;
      const int64_t kv = bi * sh.nkv + h / sh.group(), nk = m0 + kBlock;
      copy_block(q, bi, h, m0, sh, qb, static_cast<T*>(nullptr));
      gemm(kBlock, nk, sh.d, qb, sh.d, kt.get() + kv * pk, sh.sp, s, sh.sp, false);
      for (int64_t r = 0; r < kBlock; ++r) {
        const int64_t i = m0 + r;
        if (i < sh.s)
          lse[(bi * sh.nh + h) * sh.s + i] = softmax_row(s + r * sh.sp, i + 1, nk, sh.scale, p + r * sh.sp, &inv[r]);
        else
          softmax_row(s + r * sh.sp, 1, nk, sh.scale, p + r * sh.sp, &inv[r]);  // padding: finite, never stored
      }
      gemm(kBlock, sh.d, nk, p, sh.sp, vn.get() + kv * pk, sh.d, o, sh.d, false);
      for (int64_t r = 0; r < kBlock && m0 + r < sh.s; ++r)
        store_row(o + r * sh.d, sh.d, inv[r], out + ((bi * sh.s + m0 + r) * sh.nh + h) * sh.d);
    }
    at::native::cpublas::brgemm_release();
  });
}

template <typename T>
struct BackwardScratch {
  std::vector<T> kt, vt, qb, dob, dobt, pp;
  std::vector<float> kn, qbt, s, dp, dqb, D, dkt, dvt;
};

// One task per (batch, kv head): its heads one after another, each over its query blocks in
// order, the gradients of k and v summed in one [d, sp] float32 pair (dk^T, dv^T), so their
// order is fixed. Parallel over batch x kv heads.
template <typename T>
void backward_impl(const Rows<T>& q, const Rows<T>& k, const Rows<T>& v, const Rows<T>& out, const Rows<T>& go,
                   const float* lse, const Shape& sh, T* dq, T* dk, T* dv) {
  constexpr bool f32 = std::is_same_v<T, float>;
  at::parallel_for(0, sh.b * sh.nkv, 1, [&](int64_t lo, int64_t hi) {
    thread_local BackwardScratch<T> sc;
    const int64_t pk = sh.pack(), blk = kBlock * sh.d, wide = kBlock * sh.sp;
    T* kt = scratch(sc.kt, pk);
    T* vt = scratch(sc.vt, pk);
    // The two products with dS run in float32 (k and q converted exactly): dS rounded to bf16 put
    // dq 1.6x further from float64 than torch's kernel at the shape.
    float* kn = scratch(sc.kn, pk);
    T* qb = scratch(sc.qb, blk);
    T* dob = scratch(sc.dob, blk);
    T* dobt = scratch(sc.dobt, blk);
    float* qbt = scratch(sc.qbt, blk);
    float* s = scratch(sc.s, wide);
    float* dp = scratch(sc.dp, wide);
    float* dqb = scratch(sc.dqb, blk);
    float* D = scratch(sc.D, kBlock);
    float* dkt = scratch(sc.dkt, pk);
    float* dvt = scratch(sc.dvt, pk);
    T* pp = f32 ? nullptr : scratch(sc.pp, wide);
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t bi = t / sh.nkv, g = t % sh.nkv;
      pack_cols(k.row(bi, g, 0), k.ss, sh.s, sh.d, sh.sp, kt);
      pack_cols(v.row(bi, g, 0), v.ss, sh.s, sh.d, sh.sp, vt);
      pack_rows(k.row(bi, g, 0), k.ss, sh.s, sh.d, sh.sp, kn, sh.d);
      for (int64_t j = 0; j < sh.group(); ++j) {
        const int64_t h = g * sh.group() + j;
        for (int64_t m = 0; m < sh.blocks(); ++m) {
          const int64_t m0 = m * kBlock, nk = m0 + kBlock;
          const bool first = j == 0 && m == 0;
          copy_block(q, bi, h, m0, sh, qb, qbt);
          copy_block(go, bi, h, m0, sh, dob, dobt);
          for (int64_t r = 0; r < kBlock; ++r)
            D[r] = m0 + r < sh.s ? dot(dob + r * sh.d, out.row(bi, h, m0 + r), sh.d) : 0.0f;
          gemm(kBlock, nk, sh.d, qb, sh.d, kt, sh.sp, s, sh.sp, false);
          gemm(kBlock, nk, sh.d, dob, sh.d, vt, sh.sp, dp, sh.sp, false);
          for (int64_t r = 0; r < kBlock; ++r) {
            const int64_t i = m0 + r;
            const bool in = i < sh.s;
            grad_row(s + r * sh.sp, dp + r * sh.sp, in ? i + 1 : 0, nk, sh.scale,
                     in ? lse[(bi * sh.nh + h) * sh.s + i] : 0.0f, D[r]);
          }
          // dq = dS k and dk^T += q^T dS in float32 (dS carries the scale); dv^T += dO^T P
          const T* p_b = nullptr;
          if constexpr (f32) {
            p_b = s;
          } else {
            pack_rows(s, sh.sp, kBlock, nk, kBlock, pp, sh.sp);
            p_b = pp;
          }
          gemm(kBlock, sh.d, nk, dp, sh.sp, kn, sh.d, dqb, sh.d, false);
          gemm(sh.d, nk, kBlock, qbt, kBlock, dp, sh.sp, dkt, sh.sp, !first);
          gemm(sh.d, nk, kBlock, dobt, kBlock, p_b, sh.sp, dvt, sh.sp, !first);
          if (first)  // the first block wrote columns [0, kBlock); the others start at zero
            for (int64_t c = 0; c < sh.d; ++c) {
              std::fill(dkt + c * sh.sp + kBlock, dkt + (c + 1) * sh.sp, 0.0f);
              std::fill(dvt + c * sh.sp + kBlock, dvt + (c + 1) * sh.sp, 0.0f);
            }
          for (int64_t r = 0; r < kBlock && m0 + r < sh.s; ++r)
            store_row(dqb + r * sh.d, sh.d, 1.0f, dq + ((bi * sh.s + m0 + r) * sh.nh + h) * sh.d);
        }
      }
      untranspose(dkt, sh.d, sh.sp, sh.s, dk + (bi * sh.s * sh.nkv + g) * sh.d, sh.nkv * sh.d);
      untranspose(dvt, sh.d, sh.sp, sh.s, dv + (bi * sh.s * sh.nkv + g) * sh.d, sh.nkv * sh.d);
    }
    at::native::cpublas::brgemm_release();
  });
}

// Whether libtorch's brgemm computes a small product of this dtype correctly on this CPU (it
// throws where oneDNN has no kernel for it, e.g. bf16 without AVX512-BF16 or AMX).
bool brgemm_works(at::ScalarType dtype) {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512vl"))
    return false;
  try {
    constexpr int64_t M = 2, N = 16, K = 2;
    float c[M * N] = {};
    if (dtype == at::kBFloat16) {
      bf16 a[M * K], b[K * N];
      for (int64_t i = 0; i < M * K; ++i) a[i] = bf16(static_cast<float>(i + 1));
      for (int64_t i = 0; i < K * N; ++i) b[i] = bf16(1.0f);  // VNNI or not, all ones
      gemm(M, N, K, a, K, b, N, c, N, false);
    } else {
      float a[M * K], b[K * N];
      for (int64_t i = 0; i < M * K; ++i) a[i] = static_cast<float>(i + 1);
      for (int64_t i = 0; i < K * N; ++i) b[i] = 1.0f;
      gemm(M, N, K, a, K, b, N, c, N, false);
    }
    at::native::cpublas::brgemm_release();
    for (int64_t n = 0; n < N; ++n)
      if (c[n] != 3.0f || c[N + n] != 7.0f) return false;
    return true;
  } catch (const std::exception&) {
    return false;
  }
}
#pragma GCC diagnostic pop
#endif  // AIRTUNE_ATTN_BRGEMM

bool kernel_works(at::ScalarType dtype) {
#ifdef AIRTUNE_ATTN_BRGEMM
  static const bool f32 = brgemm_works(at::kFloat);
  static const bool b16 = brgemm_works(at::kBFloat16);
  return dtype == at::kFloat ? f32 : dtype == at::kBFloat16 && b16;
#else
  (void)dtype;
  return false;
#endif
}

struct CausalAttention : public torch::autograd::Function<CausalAttention> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, double scale) {
    const int64_t b = q.size(0), nh = q.size(1), s = q.size(2), d = q.size(3);
    auto out = at::empty({b, s, nh, d}, q.options());
    auto lse = at::empty({b, nh, s}, q.options().dtype(at::kFloat));
#ifdef AIRTUNE_ATTN_BRGEMM
    const Shape sh{b, nh, k.size(1), s, d, (s + kBlock - 1) / kBlock * kBlock, static_cast<float>(scale)};
    if (q.scalar_type() == at::kFloat)
      forward_impl<float>(Rows<float>(q), Rows<float>(k), Rows<float>(v), sh, out.data_ptr<float>(),
                          lse.data_ptr<float>());
    else
      forward_impl<bf16>(Rows<bf16>(q), Rows<bf16>(k), Rows<bf16>(v), sh, out.data_ptr<bf16>(), lse.data_ptr<float>());
#endif
    auto res = out.transpose(1, 2);
    ctx->save_for_backward({q, k, v, res, lse});
    ctx->saved_data["scale"] = scale;
    return res;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto &q = saved[0], &k = saved[1], &v = saved[2], &out = saved[3], &lse = saved[4];
    if (!grad_out[0].defined()) return {torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
    auto go = grad_out[0].stride(3) == 1 ? grad_out[0] : grad_out[0].contiguous();
    const int64_t b = q.size(0), nh = q.size(1), s = q.size(2), d = q.size(3), nkv = k.size(1);
    auto dq = at::empty({b, s, nh, d}, q.options());
    auto dk = at::empty({b, s, nkv, d}, k.options());
    auto dv = at::empty({b, s, nkv, d}, v.options());
#ifdef AIRTUNE_ATTN_BRGEMM
    const Shape sh{
        b, nh, nkv, s, d, (s + kBlock - 1) / kBlock * kBlock, static_cast<float>(ctx->saved_data["scale"].toDouble())};
    if (q.scalar_type() == at::kFloat)
      backward_impl<float>(Rows<float>(q), Rows<float>(k), Rows<float>(v), Rows<float>(out), Rows<float>(go),
                           lse.data_ptr<float>(), sh, dq.data_ptr<float>(), dk.data_ptr<float>(), dv.data_ptr<float>());
    else
      backward_impl<bf16>(Rows<bf16>(q), Rows<bf16>(k), Rows<bf16>(v), Rows<bf16>(out), Rows<bf16>(go),
                          lse.data_ptr<float>(), sh, dq.data_ptr<bf16>(), dk.data_ptr<bf16>(), dv.data_ptr<bf16>());
#endif
    return {dq.transpose(1, 2), dk.transpose(1, 2), dv.transpose(1, 2), torch::Tensor()};
  }
};

}  // namespace

bool causal_attention_applies(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  if (!g_enabled.load(std::memory_order_relaxed)) return false;
  if (!q.defined() || !k.defined() || !v.defined() || q.dim() != 4 || k.dim() != 4 || v.dim() != 4) return false;
  if (!q.device().is_cpu() || !k.device().is_cpu() || !v.device().is_cpu()) return false;
  const auto dt = q.scalar_type();
  if ((dt != at::kFloat && dt != at::kBFloat16) || k.scalar_type() != dt || v.scalar_type() != dt) return false;
  if (k.sizes() != v.sizes() || k.size(0) != q.size(0) || k.size(2) != q.size(2) || k.size(3) != q.size(3))
    return false;
  const int64_t nh = q.size(1), nkv = k.size(1), d = q.size(3);
  if (q.size(0) < 1 || q.size(2) < 1 || nkv < 1 || nh % nkv != 0 || d < 2 || d > 256 || d % 2 != 0) return false;
  if (q.stride(3) != 1 || k.stride(3) != 1 || v.stride(3) != 1) return false;
  if (static_cast<double>(q.size(2)) * static_cast<double>(std::max(k.stride(2), v.stride(2))) >= 2147483647.0)
    return false;           // the re-layout gathers with 32-bit offsets
  if (dt == at::kBFloat16)  // k and v are re-laid out as 32-bit words (pairs of bf16)
    for (const auto* t : {&k, &v})
      if (reinterpret_cast<uintptr_t>(t->data_ptr()) % 4 != 0 || t->stride(0) % 2 || t->stride(1) % 2 ||
          t->stride(2) % 2)
        return false;
  return kernel_works(dt);
}

torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale) {
  return CausalAttention::apply(q, k, v, scale);
}

bool set_causal_attention_enabled(bool on) { return g_enabled.exchange(on); }

}  // namespace airtune::nn
