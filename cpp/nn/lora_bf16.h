// LoRA's low-rank term added into a bf16 frozen output in one pass over it (CPU).
//
// Over a bfloat16 base, a plain adapter's output is bf16(base(x) + (x.float() A^T)(s B)^T): the
// adapters stay float32, as PEFT keeps them. Through ATen ops that term is a float32 [tokens, out]
// tensor, cast to bf16, concatenated with its neighbours and added (five passes over [tokens, out]
// memory forward, two more backward, where one core's memory bandwidth is the limit: r = 16 makes
// the GEMMs cheap). Here the [tokens, r] product x A^T is one GEMM for every adapter of a fused
// matrix, and the second product is computed row by row into a small buffer and added into the
// base output in place, rounded to bf16 once (as PEFT's bf16(base + delta) rounds). The backward
// reads the bf16 gradient once for both products that need it: grad (x A^T) = g (s B) and
// grad (s B) = g^T (x A^T).
//
// Bits: float32 FMAs in a fixed order on every CPU (the kernels are compiled for AVX-512, AVX2 and
// a plain loop with the same per-lane arithmetic) and every thread count (rows are independent; the
// sum over rows of grad B runs over fixed blocks of 128 rows, added in block order). Equal to the
// ATen path to float32 rounding before the one bf16 rounding. Ranks 1 to 64 (rounded up to 16, 32
// or 64 lanes with zeros, which leave the real lanes' bits as they are).
// Thread safety: a pure function of its inputs; work runs on libtorch's intra-op threads.
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

namespace airtune::nn {

/// One adapter on a column range of a fused output: A [r, in], B [cols, r] float32 (trainable).
struct LoraTerm {
  torch::Tensor a, b;
  double scaling = 1.0;
  int64_t col0 = 0;  // first column of the base output this adapter adds to
};

/// Whether lora_add_bf16_ handles this base output (bf16, CPU, contiguous [tokens, N], not a view)
/// and these terms (float32 CPU A and B of rank 1 to 64, column ranges inside N; larger ranks keep
/// the ATen expression).
bool lora_bf16_applies(const torch::Tensor& base_out, const std::vector<LoraTerm>& terms);

/// base_out [T, N] += sum over terms of (xf A^T)(s B)^T on the term's columns, in place, rounded to
/// bf16 once; returns base_out. xf [T, in] float32 (the module input, cast once for all terms).
/// Differentiable in base_out, xf and every A and B. Check lora_bf16_applies first.
torch::Tensor lora_add_bf16_(torch::Tensor base_out, const torch::Tensor& xf, const std::vector<LoraTerm>& terms);

/// The instruction set the kernels run on: "avx512", "avx2" or "base" (from the CPU at first use).
std::string lora_bf16_isa();
/// For tests: run the kernels on `isa` ("avx512", "avx2", "base"); false (and no change) when
/// this CPU or build lacks it. Not for use while a forward or backward runs.
bool set_lora_bf16_isa(const std::string& isa);

}  // namespace airtune::nn
