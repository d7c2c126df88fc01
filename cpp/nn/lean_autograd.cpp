#include "nn/lean_autograd.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <string>
#include <vector>

#include "core/errors.h"

namespace airtune::nn {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

torch::ScalarType compute_type(const torch::Tensor& x) {
  return x.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

// The forward shared by the plain and the autograd paths; `rstd` receives rsqrt(mean(x^2) + eps).
torch::Tensor rms_forward(const torch::Tensor& x, const torch::Tensor& w, double eps, bool plus_one,
                          torch::Tensor* rstd) {
  auto xf = x.to(compute_type(x));
  auto r = at::rsqrt(xf.pow(2).mean(-1, true) + eps);
  if (rstd) *rstd = r;
  xf = xf * r;
  if (plus_one) return (xf * (w.to(xf.scalar_type()) + 1.0)).to(x.scalar_type());
  return w * xf.to(x.scalar_type());
}

struct RmsNorm : public torch::autograd::Function<RmsNorm> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& w, double eps,
                               bool plus_one) {
    torch::Tensor r;
    auto out = rms_forward(x, w, eps, plus_one, &r);
    ctx->save_for_backward({x, w, r});
    ctx->saved_data["plus_one"] = plus_one;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &w = saved[1], &r = saved[2];
    const bool plus_one = ctx->saved_data["plus_one"].toBool();
    const auto ct = compute_type(x);
    const auto& g = grad_out[0];
    auto y = x.to(ct) * r;  // the normalised input, recomputed
    torch::Tensor gy, gw;
    std::vector<int64_t> lead(static_cast<size_t>(x.dim() - 1));
    for (size_t i = 0; i < lead.size(); ++i) lead[i] = static_cast<int64_t>(i);
    if (plus_one) {
      auto gf = g.to(ct);
      gy = gf * (w.to(ct) + 1.0);
      if (ctx->needs_input_grad(1)) gw = (gf * y).sum(lead).to(w.scalar_type());
    } else {
      gy = (g * w).to(ct);
      if (ctx->needs_input_grad(1)) gw = (g * y.to(x.scalar_type())).sum(lead).to(w.scalar_type());
    }
    torch::Tensor gx;
    if (ctx->needs_input_grad(0)) {
      // d/dx of x * rstd: rstd * (gy - y * mean(gy * y))
      gx = ((gy - y * (gy * y).mean(-1, true)) * r).to(x.scalar_type());
    }
    return {gx, gw, torch::Tensor(), torch::Tensor()};
  }
};

// The forward shared by the plain and the autograd paths.
torch::Tensor swiglu_forward(const torch::Tensor& gate_up) {
  const int64_t n = gate_up.size(-1) / 2;
  return at::silu(gate_up.narrow(-1, 0, n)) * gate_up.narrow(-1, n, n);
}

struct SwiGlu : public torch::autograd::Function<SwiGlu> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& gate_up) {
    ctx->save_for_backward({gate_up});
    return swiglu_forward(gate_up);
  }

  // The gradient of the fused [gate | up] output in one buffer, in place: no temporaries of
  // [tokens, intermediate] and no cat of the halves' gradients. silu_backward evaluates
  // s (1 + x (1 - s)) in float32 for bf16 / fp16 inputs (a bf16 chain of ops would round s to 1
  // and lose the term for large x).
  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto gu = ctx->get_saved_variables()[0];
    const auto& g = grad_out[0];
    const int64_t n = gu.size(-1) / 2;
    const auto gate = gu.narrow(-1, 0, n), up = gu.narrow(-1, n, n);
    auto dgu = at::empty_like(gu, at::MemoryFormat::Contiguous);
    auto dgate = dgu.narrow(-1, 0, n), dup = dgu.narrow(-1, n, n);
    at::silu_out(dup, gate).mul_(g);  // d up = g silu(gate)
    at::mul_out(dgate, g, up);
    at::silu_backward_out(dgate, dgate, gate);  // d gate = g up silu'(gate)
    return {dgu};
  }
};

}  // namespace

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& w, double eps, bool plus_one) {
  if (!torch::GradMode::is_enabled() || !(x.requires_grad() || w.requires_grad()))
    return rms_forward(x, w, eps, plus_one, nullptr);
  return RmsNorm::apply(x, w, eps, plus_one);
}

torch::Tensor swiglu(const torch::Tensor& gate_up) {
  if (gate_up.size(-1) % 2 != 0)
    throw InvalidArgument("swiglu: the last dim must hold the gate and up halves, got " +
                          std::to_string(gate_up.size(-1)));
  if (!torch::GradMode::is_enabled() || !gate_up.requires_grad()) return swiglu_forward(gate_up);
  return SwiGlu::apply(gate_up);
}

}  // namespace airtune::nn
