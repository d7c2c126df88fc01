#include "nn/lora_bf16.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "core/errors.h"

// The kernels' bodies are compiled three times (AVX-512, AVX2, baseline) with the same lane-wise
// IEEE operations (explicit FMAs, no contraction left to the compiler), so every CPU computes the
// same bits; one is chosen at the first call.
#if defined(__x86_64__) && defined(__GNUC__)
#define AIRTUNE_LORA_X86 1
#endif

namespace airtune::nn {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kRowsPerBlock = 128;  // rows summed into one partial grad B (fixed: thread-count free)

inline float bf16_to_float(uint16_t h) {
  const uint32_t u = uint32_t{h} << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Round to nearest even, NaN to the quiet NaN: c10::BFloat16's conversion.
inline uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
  const uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  return nan ? uint16_t{0x7fc0} : static_cast<uint16_t>(r);
}

using AddRows = void (*)(const float*, int64_t, int64_t, const float*, int64_t, uint16_t*, int64_t);
using GradBlock = void (*)(const uint16_t*, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*,
                           float*, int64_t, float*);
using SumBlocks = void (*)(const float*, int64_t, int64_t, int64_t, int64_t, float*);

constexpr int kRanks[] = {16, 32, 64};  // ranks with kernels (16 lanes); others take the ATen path
constexpr int kNumRanks = 3;

struct Kernels {
  AddRows add_rows[kNumRanks];
  GradBlock grad_block[kNumRanks];
  SumBlocks sum_blocks;
};

// Each instruction set's kernels: one namespace per target, the same bodies (see the .inc).
namespace isa_base {
struct V {
  float v[16];
  static inline V zero() { return {}; }
  static inline V load(const float* p) {
    V r;
    std::memcpy(r.v, p, sizeof r.v);
    return r;
  }
  static inline V splat(float x) {
    V r;
    for (float& e : r.v) e = x;
    return r;
  }
  static inline V fma(V a, V b, V c) {
    for (int l = 0; l < 16; ++l) c.v[l] = std::fma(a.v[l], b.v[l], c.v[l]);
    return c;
  }
  static inline V mul(V a, V b) {
    for (int l = 0; l < 16; ++l) a.v[l] *= b.v[l];
    return a;
  }
  static inline void store(float* p, V a) { std::memcpy(p, a.v, sizeof a.v); }
};
#include "nn/lora_bf16_kernels.inc"
}  // namespace isa_base

#ifdef AIRTUNE_LORA_X86
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace isa_avx2 {
struct V {
  __m256 lo, hi;
  static inline V zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
  static inline V load(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
  static inline V splat(float x) { return {_mm256_set1_ps(x), _mm256_set1_ps(x)}; }
  static inline V fma(V a, V b, V c) { return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)}; }
  static inline V mul(V a, V b) { return {_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
  static inline void store(float* p, V a) {
    _mm256_storeu_ps(p, a.lo);
    _mm256_storeu_ps(p + 8, a.hi);
  }
};
#include "nn/lora_bf16_kernels.inc"
}  // namespace isa_avx2
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,fma")
namespace isa_avx512 {
struct V {
  __m512 v;
  static inline V zero() { return {_mm512_setzero_ps()}; }
  static inline V load(const float* p) { return {_mm512_loadu_ps(p)}; }
  static inline V splat(float x) { return {_mm512_set1_ps(x)}; }
  static inline V fma(V a, V b, V c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
  static inline V mul(V a, V b) { return {_mm512_mul_ps(a.v, b.v)}; }
  static inline void store(float* p, V a) { _mm512_storeu_ps(p, a.v); }
};
#include "nn/lora_bf16_kernels.inc"
}  // namespace isa_avx512
#pragma GCC pop_options
#endif

struct Isa {
  const char* name;
  const Kernels* table;
};

Isa detect() {
#ifdef AIRTUNE_LORA_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) return {"avx512", &isa_avx512::kTable};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {"avx2", &isa_avx2::kTable};
#endif
  return {"base", &isa_base::kTable};
}

std::atomic<const Isa*>& current() {
  static const Isa detected = detect();
  static std::atomic<const Isa*> isa{&detected};
  return isa;
}

const Kernels& kernels() { return *current().load(std::memory_order_acquire)->table; }

// The kernel rank of an adapter of rank r: the smallest of 16, 32, 64 that holds it (the extra
// rows of A and columns of B zero, which add exact zeros: the real lanes keep their bits); -1
// past 64.
int64_t kernel_rank(int64_t r) {
  for (const int k : kRanks)
    if (r >= 1 && r <= k) return k;
  return -1;
}

int rank_index(int64_t r) {
  for (int i = 0; i < kNumRanks; ++i)
    if (kRanks[i] == r) return i;
  return -1;
}

struct Slot {
  int64_t col0 = 0, cols = 0, k0 = 0, r = 0;
  int64_t offset = 0;  // into a concatenation of every slot's [r, cols] block
};

std::vector<Slot> slots_of(const std::vector<int64_t>& col0, const std::vector<int64_t>& cols,
                           const std::vector<int64_t>& r) {
  std::vector<Slot> s(col0.size());
  int64_t k0 = 0, off = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    s[i] = {col0[i], cols[i], k0, r[i], off};
    k0 += r[i];
    off += r[i] * cols[i];
  }
  return s;
}

// bt: every slot's (s B)^T [r, cols], concatenated (slot.offset); xa [T, R]; out [T, N] bf16.
void add_rows(const float* xa, int64_t R, const float* bt, const std::vector<Slot>& slots, uint16_t* out, int64_t T,
              int64_t N) {
  const auto& k = kernels();
  at::parallel_for(0, (T + 3) / 4, 4, [&](int64_t begin, int64_t end) {
    for (int64_t q = begin; q < end; ++q) {
      const int64_t t = q * 4, n = std::min<int64_t>(4, T - t);
      for (const auto& s : slots)
        k.add_rows[rank_index(s.r)](xa + t * R + s.k0, R, n, bt + s.offset, s.cols, out + t * N + s.col0, N);
    }
  });
}

// gxa [T, R] and gsb (like sb: every slot's grad (s B) [cols, r], concatenated) from g [T, N] bf16.
void grad_rows(const uint16_t* g, int64_t T, int64_t N, const float* xa, int64_t R, const float* sb,
               const std::vector<Slot>& slots, int64_t sb_size, float* gxa, float* gsb) {
  if (T == 0) {  // no rows: nothing to sum
    std::fill(gsb, gsb + sb_size, 0.0f);
    return;
  }
  const auto& k = kernels();
  int64_t widest = 0;
  for (const auto& s : slots) widest = std::max(widest, s.cols);
  const int64_t blocks = (T + kRowsPerBlock - 1) / kRowsPerBlock;
  // every block writes its whole part: no zeroing
  const std::unique_ptr<float[]> partial(new float[static_cast<size_t>(blocks * sb_size)]);
  at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    std::vector<float> gf(static_cast<size_t>(kRowsPerBlock * widest));
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t t = b * kRowsPerBlock, n = std::min(kRowsPerBlock, T - t);
      for (const auto& s : slots)
        k.grad_block[rank_index(s.r)](g + t * N + s.col0, N, n, xa + t * R + s.k0, R, sb + s.offset, s.cols, gf.data(),
                                      gxa + t * R + s.k0, R, partial.get() + b * sb_size + s.offset);
    }
  });
  at::parallel_for(0, sb_size, 4096,
                   [&](int64_t begin, int64_t end) { k.sum_blocks(partial.get(), blocks, sb_size, begin, end, gsb); });
}

// Inputs: base [T, N] bf16 (written in place), xf [T, in] float32, params = A_1..A_n, B_1..B_n.
struct LoraBf16 : public torch::autograd::Function<LoraBf16> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor base, const torch::Tensor& xf, at::TensorList params,
                               const std::vector<LoraTerm>* terms) {
    const size_t n = terms->size();
    std::vector<int64_t> col0, cols, r, rank;  // r: the kernel's rank, rank: the adapter's
    std::vector<torch::Tensor> as, bts, sbs;
    for (size_t i = 0; i < n; ++i) {
      const auto& a = params[i];
      const auto& b = params[n + i];
      const int64_t kr = kernel_rank(a.size(0)), pad = kr - a.size(0);
      const auto sb = (b * (*terms)[i].scaling).contiguous();
      const auto sb_k = pad ? at::cat({sb, at::zeros({sb.size(0), pad}, sb.options())}, 1) : sb;  // [cols, kr]
      as.push_back(pad ? at::cat({a, at::zeros({pad, a.size(1)}, a.options())}, 0) : a);
      bts.push_back(sb_k.t().contiguous().view({-1}));
      sbs.push_back(sb_k.view({-1}));
      col0.push_back((*terms)[i].col0);
      cols.push_back(b.size(0));
      r.push_back(kr);
      rank.push_back(a.size(0));
    }
    const auto a_cat = n == 1 ? as[0].contiguous() : at::cat(as, 0);
    const auto xc = xf.contiguous();
    const auto xa = at::mm(xc, a_cat.t()).contiguous();  // [T, R]
    const auto bt = at::cat(bts, 0), sb = at::cat(sbs, 0);
    const auto slots = slots_of(col0, cols, r);
    const int64_t T = base.size(0), N = base.size(1), R = xa.size(1);
    add_rows(xa.data_ptr<float>(), R, bt.data_ptr<float>(), slots,
             reinterpret_cast<uint16_t*>(base.data_ptr<at::BFloat16>()), T, N);
    ctx->mark_dirty({base});
    ctx->save_for_backward({xc, xa, a_cat, sb});
    ctx->saved_data["col0"] = col0;
    ctx->saved_data["cols"] = cols;
    ctx->saved_data["rank"] = rank;
    std::vector<double> scaling;
    for (const auto& t : *terms) scaling.push_back(t.scaling);
    ctx->saved_data["scaling"] = scaling;
    return base;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto &xf = saved[0], &xa = saved[1], &a_cat = saved[2], &sb = saved[3];
    const auto col0 = ctx->saved_data["col0"].toIntVector();
    const auto cols = ctx->saved_data["cols"].toIntVector();
    const auto rank = ctx->saved_data["rank"].toIntVector();
    std::vector<int64_t> r;
    for (const int64_t k : rank) r.push_back(kernel_rank(k));
    const auto scaling = ctx->saved_data["scaling"].toDoubleVector();
    const auto slots = slots_of(col0, cols, r);
    const auto g = grad_out[0].contiguous();
    const int64_t T = g.size(0), N = g.size(1), R = xa.size(1);
    auto gxa = at::empty({T, R}, xa.options());
    auto gsb = at::empty_like(sb);
    grad_rows(reinterpret_cast<const uint16_t*>(g.data_ptr<at::BFloat16>()), T, N, xa.data_ptr<float>(), R,
              sb.data_ptr<float>(), slots, sb.numel(), gxa.data_ptr<float>(), gsb.data_ptr<float>());
    const size_t n = slots.size();
    variable_list out(3 + 2 * n);
    out[0] = grad_out[0];
    if (ctx->needs_input_grad(1)) out[1] = at::mm(gxa, a_cat);
    const auto ga = at::mm(gxa.t(), xf);  // [R, in]
    for (size_t i = 0; i < n; ++i) {
      const auto& s = slots[i];
      out[2 + i] = ga.narrow(0, s.k0, rank[i]);
      out[2 + n + i] = gsb.narrow(0, s.offset, s.r * s.cols).view({s.cols, s.r}).narrow(1, 0, rank[i]) * scaling[i];
    }
    return out;
  }
};

}  // namespace

std::string lora_bf16_isa() { return current().load(std::memory_order_acquire)->name; }

bool set_lora_bf16_isa(const std::string& isa) {
  static const Isa base{"base", &isa_base::kTable};
  const Isa* pick = isa == "base" ? &base : nullptr;
#ifdef AIRTUNE_LORA_X86
  static const Isa avx2{"avx2", &isa_avx2::kTable}, avx512{"avx512", &isa_avx512::kTable};
  static const std::string best = detect().name;  // the most this CPU runs
  if (isa == "avx512" && best == "avx512") pick = &avx512;
  if (isa == "avx2" && best != "base") pick = &avx2;
#endif
  if (pick) current().store(pick, std::memory_order_release);
  return pick != nullptr;
}

bool lora_bf16_applies(const torch::Tensor& base_out, const std::vector<LoraTerm>& terms) {
  if (terms.empty() || !base_out.defined() || base_out.scalar_type() != torch::kBFloat16 ||
      !base_out.device().is_cpu() || base_out.dim() != 2 || !base_out.is_contiguous() || base_out.is_view())
    return false;
  for (const auto& t : terms) {
    if (t.a.scalar_type() != torch::kFloat32 || t.b.scalar_type() != torch::kFloat32 || !t.a.device().is_cpu() ||
        !t.b.device().is_cpu() || t.a.dim() != 2 || t.b.dim() != 2 || t.a.size(0) != t.b.size(1) ||
        kernel_rank(t.a.size(0)) < 0 || t.col0 < 0 || t.col0 + t.b.size(0) > base_out.size(1))
      return false;
  }
  return true;
}

torch::Tensor lora_add_bf16_(torch::Tensor base_out, const torch::Tensor& xf, const std::vector<LoraTerm>& terms) {
  if (!lora_bf16_applies(base_out, terms) || xf.dim() != 2 || xf.scalar_type() != torch::kFloat32 ||
      xf.size(0) != base_out.size(0) ||
      std::any_of(terms.begin(), terms.end(), [&](const LoraTerm& t) { return t.a.size(1) != xf.size(1); }))
    throw InvalidArgument(
        "lora_add_bf16_: expected base [T, N] bf16 (CPU, contiguous), xf [T, in] float32 and "
        "float32 adapters inside N; got base " +
        c10::str(base_out.sizes()) + " " + c10::str(base_out.scalar_type()) + ", xf " + c10::str(xf.sizes()));
  std::vector<torch::Tensor> params;
  for (const auto& t : terms) params.push_back(t.a);
  for (const auto& t : terms) params.push_back(t.b);
  return LoraBf16::apply(std::move(base_out), xf, at::TensorList(params), &terms);
}

}  // namespace airtune::nn
