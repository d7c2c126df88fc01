// RMSNorm and SwiGLU with hand-written backward passes (the approach of Unsloth and Liger Kernel):
// the forward is the same ATen ops as the plain expressions (the same bits), the backward computes
// the gradient in fewer passes from what it saved:
//   rms_norm:  saves x, the weight and rstd [..., 1] (not x * rstd); y = x * rstd is recomputed.
//   swiglu:    silu(gate) * up of the fused [gate | up] output saves that output, not silu(gate):
//              [tokens, intermediate] less per layer; silu is recomputed, and the gradient of both
//              halves is written in place into one [tokens, 2 intermediate] buffer (no cat).
// Gradients equal autograd's to float32 rounding (SwiGLU's: the same bits, it runs autograd's own
// kernels, silu_backward included). Thread safety: pure functions.
#pragma once

#include <torch/types.h>

namespace airtune::nn {

/// RMSNorm over the last dim, computed in float32 (float64 stays float64):
///   plus_one == false: w * (x * rsqrt(mean(x^2) + eps)).to(x.dtype)   (Llama)
///   plus_one == true:  (x * rsqrt(mean(x^2) + eps) * (w + 1)).to(x.dtype)  (Gemma)
/// x [..., D] any dtype/strides, w [D] (trainable or not).
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& w, double eps, bool plus_one);

/// silu(gate) * up, elementwise, for gate_up [..., 2 I] = [gate | up] (gate the first I columns);
/// returns [..., I]. InvalidArgument when the last dim is odd.
torch::Tensor swiglu(const torch::Tensor& gate_up);

}  // namespace airtune::nn
