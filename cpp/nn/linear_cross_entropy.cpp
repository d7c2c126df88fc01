#include "nn/linear_cross_entropy.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <algorithm>
#include <string>

#include "core/errors.h"

namespace airtune::nn {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct Sums {
  torch::Tensor loss;            // float32 scalar
  torch::Tensor grad_h, grad_w;  // undefined when not asked for
  int64_t correct = 0;
};

// The chunk loop: loss, and the gradients of the summed loss w.r.t. h and W (when asked).
Sums chunked(const torch::Tensor& h, const torch::Tensor& w, const torch::Tensor& target, int64_t chunk, bool need_h,
             bool need_w, bool count, const FrozenPack* packed) {
  torch::NoGradGuard no_grad;
  const int64_t n = h.size(0);
  Sums out;
  out.loss = at::zeros({}, h.options().dtype(torch::kFloat32));
  if (need_h) out.grad_h = at::empty_like(h, at::MemoryFormat::Contiguous);
  // the weight's gradient accumulates over chunks in float32 (the unfused path makes it in one matmul)
  if (need_w) out.grad_w = at::zeros(w.sizes(), w.options().dtype(torch::kFloat32));
  torch::Tensor correct = count ? at::zeros({}, target.options()) : torch::Tensor();
  // [chunk, V] buffers made once and reused by every chunk: a fresh one per chunk is first-touched
  // page by page each time (in bf16 the two casts cost more than the lm_head's matmul did)
  const int64_t rows = std::min(chunk, n), vocab = w.size(0);
  const bool low = h.scalar_type() != torch::kFloat32;  // the packed path is float32 only
  // model dtype: the matmul's logits, then (dead once cast) the gradient's cast; and float32
  torch::Tensor model_buf, f32_buf;
  auto rows_of = [&](torch::Tensor& buf, torch::ScalarType dt, int64_t m) {
    if (!buf.defined()) buf = at::empty({rows, vocab}, h.options().dtype(dt));
    return buf.narrow(0, 0, m);
  };
  // Over a bf16 (or fp16) base on the CPU the float32 work runs in blocks of about 512K logits
  // (2 MB, cache-sized): a chunk-sized float32 buffer was 32 MB first-touched by every call, its
  // page faults most of the loss's time in a profile. The log-softmax is per row, so the values
  // are the same; on a GPU the whole chunk stays one block (fewer kernel launches).
  const int64_t block = low && h.device().is_cpu() ? cross_entropy_block_rows(vocab, rows) : rows;
  // The loss, the argmax count and the gradient (softmax - onehot, zero on ignored rows, in place)
  // of float32 logits lf [mb, V] with targets tc; returns the gradient.
  auto rows_loss = [&](torch::Tensor lf, const torch::Tensor& tc) {
    auto valid = tc.ne(-100);
    const bool all_valid = valid.all().item<bool>();
    auto tsafe = all_valid ? tc : tc.masked_fill(valid.logical_not(), 0);
    if (count) correct += lf.argmax(-1).eq(tc).logical_and(valid).sum();
    // in place: a second [mb, V] float32 tensor would be a fresh allocation, first-touched page by page
    auto logp = at::_log_softmax_out(lf, lf, 1, false);
    auto picked = logp.gather(1, tsafe.unsqueeze(1)).squeeze(1);
    out.loss -= all_valid ? picked.sum() : picked.masked_fill(valid.logical_not(), 0).sum();
    if (!need_h && !need_w) return torch::Tensor();
    auto g = logp.exp_();
    g.scatter_add_(1, tsafe.unsqueeze(1), at::full({lf.size(0), 1}, -1.0f, g.options()));
    if (!all_valid) g.mul_(valid.unsqueeze(1).to(g.scalar_type()));
    return g;
  };
  for (int64_t s = 0; s < n; s += chunk) {
    const int64_t m = std::min(chunk, n - s);
    auto hc = h.narrow(0, s, m);
    auto tc = target.narrow(0, s, m);
    torch::Tensor logits;
    if (packed) {
      logits = onednn_linear(hc.contiguous(), packed->fwd, torch::Tensor());  // float32, no out= form
    } else {
      logits = rows_of(model_buf, h.scalar_type(), m);
      at::mm_out(logits, hc, w.t());
    }
    torch::Tensor gc;  // the chunk's gradient in the matmul's dtype
    if (!low) {
      gc = rows_loss(logits, tc);
    } else {  // block by block in float32, the gradient cast back over the logits it replaces
      if (!f32_buf.defined()) f32_buf = at::empty({block, vocab}, h.options().dtype(torch::kFloat32));
      for (int64_t r0 = 0; r0 < m; r0 += block) {
        const int64_t mb = std::min(block, m - r0);
        auto lb = logits.narrow(0, r0, mb);
        auto g = rows_loss(f32_buf.narrow(0, 0, mb).copy_(lb), tc.narrow(0, r0, mb));
        if (g.defined()) lb.copy_(g);
      }
      gc = logits;
    }
    logits = torch::Tensor();
    if (!need_h && !need_w) continue;
    if (need_h) {
      auto dst = out.grad_h.narrow(0, s, m);
      if (packed)
        dst.copy_(onednn_linear(gc, packed->bwd, torch::Tensor()));
      else
        at::mm_out(dst, gc, w);
    }
    if (need_w) {
      if (gc.scalar_type() == torch::kFloat32)
        out.grad_w.addmm_(gc.t(), hc);
      else
        out.grad_w.add_(at::mm(gc.t(), hc).to(torch::kFloat32));
    }
  }
  if (count) out.correct = correct.item<int64_t>();
  return out;
}

struct LinearCrossEntropy : public torch::autograd::Function<LinearCrossEntropy> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& h, const torch::Tensor& w,
                               const torch::Tensor& target, int64_t chunk, int64_t* correct, const FrozenPack* packed) {
    const bool need_h = h.requires_grad(), need_w = w.requires_grad() && !packed;
    auto r = chunked(h, w, target, chunk, need_h, need_w, correct != nullptr, packed);
    if (correct) *correct = r.correct;
    ctx->saved_data["grad_h"] = r.grad_h;
    ctx->saved_data["grad_w"] = r.grad_w;
    ctx->saved_data["w_dtype"] = static_cast<int64_t>(w.scalar_type());
    return r.loss;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto& go = grad_out[0];
    auto gh = ctx->saved_data["grad_h"].toTensor();
    auto gw = ctx->saved_data["grad_w"].toTensor();
    const auto w_dtype = static_cast<c10::ScalarType>(ctx->saved_data["w_dtype"].toInt());
    torch::Tensor dh, dw;
    if (gh.defined()) dh = gh * go.to(gh.scalar_type());
    if (gw.defined()) dw = (gw * go).to(w_dtype);
    return {dh, dw, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

int64_t cross_entropy_chunk_rows(int64_t vocab) {
  constexpr int64_t kLogitsPerChunk = int64_t{1} << 23;
  return std::max<int64_t>(16, kLogitsPerChunk / std::max<int64_t>(vocab, 1));
}

int64_t cross_entropy_block_rows(int64_t vocab, int64_t chunk_rows) {
  constexpr int64_t kLogitsPerBlock = int64_t{1} << 19;
  return std::clamp<int64_t>(kLogitsPerBlock / std::max<int64_t>(vocab, 1), 1, std::max<int64_t>(chunk_rows, 1));
}

torch::Tensor linear_cross_entropy_sum(const torch::Tensor& h, const torch::Tensor& weight, const torch::Tensor& target,
                                       int64_t chunk_rows, int64_t* correct, const FrozenPack* packed) {
  if (h.dim() != 2 || weight.dim() != 2 || target.dim() != 1 || h.size(0) != target.size(0) ||
      h.size(1) != weight.size(1))
    throw InvalidArgument("linear_cross_entropy_sum: expected h [N, D], weight [V, D], target [N]; got h " +
                          c10::str(h.sizes()) + ", weight " + c10::str(weight.sizes()) + ", target " +
                          c10::str(target.sizes()));
  if (chunk_rows <= 0) throw InvalidArgument("linear_cross_entropy_sum: chunk_rows must be > 0");
  if (target.numel() > 0) {
    const auto t = target.to(torch::kInt64);
    auto bad = t.ne(-100).logical_and(t.lt(0).logical_or(t.ge(weight.size(0))));
    if (bad.any().item<bool>()) {
      const int64_t i = bad.nonzero()[0][0].item<int64_t>();
      throw InvalidArgument("linear_cross_entropy_sum: target " + std::to_string(t[i].item<int64_t>()) + " at row " +
                            std::to_string(i) + " is outside the vocabulary [0, " + std::to_string(weight.size(0)) +
                            ") and is not -100");
    }
  }
  if (packed && (!packed->defined() || h.scalar_type() != torch::kFloat32 || !h.device().is_cpu())) packed = nullptr;
  auto w = weight.scalar_type() == h.scalar_type() ? weight : weight.to(h.scalar_type());
  auto t = target.to(h.device(), torch::kInt64);
  const bool grad = torch::GradMode::is_enabled() && (h.requires_grad() || w.requires_grad());
  if (!grad) {
    auto r = chunked(h, w, t, chunk_rows, false, false, correct != nullptr, packed);
    if (correct) *correct = r.correct;
    return r.loss;
  }
  return LinearCrossEntropy::apply(h, w, t, chunk_rows, correct, packed);
}

}  // namespace airtune::nn
