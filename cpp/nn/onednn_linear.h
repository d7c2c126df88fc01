// oneDNN's linear on a weight reordered once into its blocked layout (the ops torch.compile emits
// on CPUs), found through libtorch's dispatcher: a libtorch built without oneDNN reports
// onednn_available() == false and callers keep at::linear.
//
// Why: at::linear's float32 GEMM is MKL's sgemm, and MKL runs its AVX2 kernels on AMD CPUs; oneDNN
// JIT-compiles AVX-512 ones. Measured on one Zen core (torch 2.13): MKL 85-100 GFLOP/s, packed
// oneDNN 190-235 GFLOP/s on the shapes of a 50M Llama's projections and lm_head. Results equal
// at::linear's to float32 rounding (a different summation order). bf16 matmuls already go to
// oneDNN through at::linear, so only float32 weights are worth packing.
// Thread safety: pure functions; the work runs on libtorch's intra-op threads.
#pragma once

#include <torch/types.h>

namespace airtune::nn {

/// Whether this libtorch has oneDNN's packed linear ops.
bool onednn_available();

/// w [out, in] (CPU, float32 or bf16) -> an opaque oneDNN tensor for onednn_linear. A copy: the
/// caller may free w.
torch::Tensor onednn_pack(const torch::Tensor& w);

/// x [..., in] W^T + b with W packed by onednn_pack; b [out] or undefined. act: "none" | "gelu" |
/// "relu"; algorithm (GELU only): "none" (erf) | "tanh". No autograd.
torch::Tensor onednn_linear(const torch::Tensor& x, const torch::Tensor& packed, const torch::Tensor& b,
                            const char* act = "none", const char* algorithm = nullptr);

/// onednn_linear(x, packed, b) + other, the add fused into the GEMM. No autograd.
torch::Tensor onednn_linear_add(const torch::Tensor& x, const torch::Tensor& other, const torch::Tensor& packed,
                                const torch::Tensor& b);

/// A frozen weight W [out, in] packed for both products a training step makes with it: x W^T (the
/// forward) and g W (the gradient of the input). Two packed copies of W: 2 x out x in x 4 bytes.
struct FrozenPack {
  torch::Tensor fwd;  // onednn_pack(W)
  torch::Tensor bwd;  // onednn_pack(W^T)
  bool defined() const { return fwd.defined(); }
};

/// Both packs of w (float32 on the CPU; the caller checks onednn_available()).
FrozenPack pack_frozen(const torch::Tensor& w);

/// x [..., in] W^T + b, differentiable with respect to x only (W and b are frozen): the backward is
/// one GEMM, g [..., out] -> g W through the bwd pack.
torch::Tensor frozen_linear(const torch::Tensor& x, const FrozenPack& w, const torch::Tensor& b);

}  // namespace airtune::nn
