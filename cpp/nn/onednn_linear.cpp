#include "nn/onednn_linear.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>

#include <optional>
#include <string>
#include <vector>

namespace airtune::nn {
namespace {

struct OneDnn {
  std::optional<c10::OperatorHandle> reorder, pointwise, binary;
  bool ok() const { return reorder && pointwise && binary; }
};

const OneDnn& ops() {
  static const OneDnn o = [] {
    OneDnn r;
    auto& d = c10::Dispatcher::singleton();
    r.reorder = d.findSchema({"mkldnn::_reorder_linear_weight", ""});
    r.pointwise = d.findSchema({"mkldnn::_linear_pointwise", ""});
    r.binary = d.findSchema({"mkldnn::_linear_pointwise", "binary"});
    return r;
  }();
  return o;
}

torch::Tensor call(const c10::OperatorHandle& op, std::vector<c10::IValue> stack) {
  op.callBoxed(&stack);
  return stack.at(0).toTensor();
}

c10::IValue optional_tensor(const torch::Tensor& t) { return t.defined() ? c10::IValue(t) : c10::IValue(); }

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Only x is a differentiable input; the packs and the bias come as plain arguments (the backward
// keeps the bwd pack alive in saved_data).
struct FrozenLinear : public torch::autograd::Function<FrozenLinear> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const FrozenPack* w,
                               const torch::Tensor* b) {
    ctx->saved_data["bwd"] = w->bwd;
    return onednn_linear(x.contiguous(), w->fwd, *b);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    auto bwd = ctx->saved_data["bwd"].toTensor();
    return {onednn_linear(grad_out[0].contiguous(), bwd, torch::Tensor()), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

bool onednn_available() { return ops().ok(); }

torch::Tensor onednn_pack(const torch::Tensor& w) { return call(*ops().reorder, {w.contiguous(), c10::IValue()}); }

torch::Tensor onednn_linear(const torch::Tensor& x, const torch::Tensor& packed, const torch::Tensor& b,
                            const char* act, const char* algorithm) {
  return call(*ops().pointwise,
              {x, packed, optional_tensor(b), std::string(act), c10::List<std::optional<c10::Scalar>>(),
               algorithm ? c10::IValue(std::string(algorithm)) : c10::IValue()});
}

torch::Tensor onednn_linear_add(const torch::Tensor& x, const torch::Tensor& other, const torch::Tensor& packed,
                                const torch::Tensor& b) {
  return call(*ops().binary, {x, other, packed, optional_tensor(b), std::string("add")});
}

FrozenPack pack_frozen(const torch::Tensor& w) {
  torch::NoGradGuard no_grad;
  FrozenPack p;
  p.fwd = onednn_pack(w);
  p.bwd = onednn_pack(w.t().contiguous());
  return p;
}

torch::Tensor frozen_linear(const torch::Tensor& x, const FrozenPack& w, const torch::Tensor& b) {
  if (!(torch::GradMode::is_enabled() && x.requires_grad())) return onednn_linear(x.contiguous(), w.fwd, b);
  return FrozenLinear::apply(x, &w, &b);
}

}  // namespace airtune::nn
