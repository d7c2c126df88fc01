// Causal self-attention on the CPU: softmax(scale q k^T + causal mask) v with its backward, every
// GEMM through the batch-reduce GEMM micro-kernel libtorch exports from oneDNN
// (at::native::cpublas::brgemm: bf16 x bf16 -> float32, or float32 x float32 -> float32), the
// softmax in float32 between them.
//
// Why: torch 2.13's CPU flash attention hands its GEMMs to brgemm only on CPUs with AMX; elsewhere
// it converts each block to float32 and calls MKL's sgemm, which runs AVX2 kernels on AMD CPUs.
// Forward and backward of [2, 8, 512, 64] (GQA over 4 kv heads) took 39 ms on one Zen 5 core,
// ~40 GFLOP/s, where brgemm reaches 440-500 GFLOP/s in bf16 and ~250 in float32.
//
// Work: per (batch, head), blocks of 64 query rows; block m sees keys [0, 64 (m + 1)) (causal: the
// blocks above the diagonal are never computed). Forward: S = scale q k^T (float32), row-wise
// log-sum-exp (saved, [b, nh, s] float32), E = exp(S - row max) rounded to the input dtype
// (torch's flash kernel rounds it the same way), out = (E v) / row sum. Backward
// (FlashAttention-2): P recomputed from the saved log-sum-exp, dP = dO v^T, dS = P (dP -
// rowsum(dO * out)), dq = scale dS k, and dk^T, dv^T accumulated over the query blocks of every
// head that reads the kv head as scale q^T dS and dO^T P; the two products with dS in float32.
// Memory: k and v re-laid out once per (batch, kv head) for the kernel (bf16: pairs of rows
// interleaved); per thread, scratch that only grows (a few [64, s] and [d, s] float32 arrays).
//
// Bits: every output row is made by one task over fixed blocks; the backward runs one task per
// (batch, kv head), its heads and blocks in order, so results do not depend on the thread count
// (the backward uses at most batch x kv heads threads). They depend on the CPU (oneDNN
// JIT-compiles its kernels for AMX, AVX-512 or AVX2).
// Thread safety: a pure function of its inputs; work runs on libtorch's intra-op threads.
#pragma once

#include <torch/types.h>

namespace airtune::nn {

/// Whether causal_attention runs on these inputs: q [b, nh, s, d], k and v [b, nkv, s, d] on the
/// CPU, all float32 or all bf16, the last dimension contiguous, nh a multiple of nkv, d even and
/// at most 256; the CPU has AVX-512 and libtorch's brgemm works for the dtype (tried once); and
/// the kernel is enabled (set_causal_attention_enabled). Otherwise callers keep
/// at::scaled_dot_product_attention.
bool causal_attention_applies(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);

/// softmax(scale q k^T, causal) v as [b, nh, s, d] (a transposed view of a contiguous
/// [b, s, nh, d] tensor, so the caller's transpose and reshape to [b, s, nh d] copy nothing).
/// Query head h reads kv head h / (nh / nkv), as scaled_dot_product_attention(enable_gqa).
/// Differentiable in q, k and v. Check causal_attention_applies first.
torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale);

/// For tests and paired benchmarks: switch the kernel off (causal_attention_applies returns
/// false) or on again; returns the previous setting. Not for use while a forward or backward runs.
bool set_causal_attention_enabled(bool on);

}  // namespace airtune::nn
