// Fused lm_head + cross-entropy computed in chunks of rows, so that the [tokens, vocab] logits
// (the largest tensor of a training step at real vocabularies) never exist beyond one chunk.
//
// The gradients are computed in the forward pass, chunk by chunk (as Liger Kernel's fused linear
// cross-entropy does): the loss is the last node of the graph, so its incoming gradient is a scalar
// and the backward only scales what the forward kept. This costs no extra lm_head matmul (a
// recompute in the backward would cost one) and keeps grad_h [N, D] (and grad_W [V, D] when the
// weight is trainable) instead of the logits and their log-softmax [N, V].
//
// Per token the loss is -log_softmax(h W^T)[target] in float32 (the logits computed in h's dtype
// and cast, as the unfused path does); the sum runs over the chunks in a fixed order, so the result
// does not depend on the thread count. Equal to the unfused at::cross_entropy_loss(..., Sum) to
// float32 rounding (a different summation order).
// Thread safety: a pure function of its inputs; work runs on libtorch's intra-op threads.
#pragma once

#include <torch/types.h>

#include <cstdint>

#include "nn/onednn_linear.h"

namespace airtune::nn {

/// Rows per chunk for a vocabulary of `vocab` logits: about 8M float32 logits (32 MB) per chunk.
int64_t cross_entropy_chunk_rows(int64_t vocab);

/// Rows per float32 block when h is bf16 or fp16 on the CPU: the chunk's logits stay in h's dtype
/// and each block of about 512K of them (2 MB) is cast to float32 for the log-softmax and its
/// gradient; in [1, chunk_rows].
int64_t cross_entropy_block_rows(int64_t vocab, int64_t chunk_rows);

/// Sum over rows i with target[i] != -100 of cross_entropy(h[i] W^T, target[i]).
/// h [N, D] (float32 or bf16/fp16), weight [V, D] (cast to h's dtype), target [N] int64 in [0, V) or
/// -100. Returns a float32 scalar attached to the graph of h and weight when grad mode is on and
/// either requires grad (the gradients are computed here, see above). `chunk_rows` > 0.
/// `correct`: when non-null, receives the number of counted rows whose argmax logit is the target.
/// `packed`: when non-null and defined, the frozen weight's oneDNN packs (used for float32 h on the
/// CPU, else ignored; the weight then gets no gradient): both lm_head GEMMs of each chunk run
/// through them.
/// Throws InvalidArgument on mismatched shapes or a target outside [0, V) other than -100.
torch::Tensor linear_cross_entropy_sum(const torch::Tensor& h, const torch::Tensor& weight, const torch::Tensor& target,
                                       int64_t chunk_rows, int64_t* correct = nullptr,
                                       const FrozenPack* packed = nullptr);

}  // namespace airtune::nn
