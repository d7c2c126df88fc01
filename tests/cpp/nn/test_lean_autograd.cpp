// RMSNorm and SwiGLU with hand-written backward passes against autograd through the plain ATen
// expressions: forward the same bits; RMSNorm's gradients of x, w equal in float64 on tiny shapes
// (to 1e-12) and in float32 on layer-sized ones (to float32 rounding), for a trainable and a frozen
// weight, Gemma's (1 + w) form and a non-contiguous input (the q/k norm of a transposed view);
// SwiGLU's gradient of [gate | up] the same bits as autograd's in float64, float32 and bfloat16.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/errors.h"
#include "nn/lean_autograd.h"

namespace {

torch::Tensor plain_rms(const torch::Tensor& x, const torch::Tensor& w, double eps, bool plus_one) {
  auto xf = x.to(x.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32);
  xf = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps);
  if (plus_one) return (xf * (w.to(xf.scalar_type()) + 1.0)).to(x.scalar_type());
  return w * xf.to(x.scalar_type());
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

void check_rms(torch::Dtype dt, std::vector<int64_t> shape, bool w_grad, bool plus_one, bool transposed, double tol) {
  torch::manual_seed(11);
  const int64_t d = shape.back();
  auto base = torch::randn(shape, torch::dtype(dt)) * 3;
  auto w0 = torch::rand({d}, torch::dtype(dt)) + 0.5;
  auto g = torch::randn(shape, torch::dtype(dt));
  auto run = [&](bool lean) {
    auto src = base.clone().requires_grad_(true);
    // a non-contiguous input as in the q/k norms: a transposed view of the leaf
    auto x = transposed ? src.transpose(0, 1).contiguous().transpose(0, 1) : src;
    auto w = w0.clone().requires_grad_(w_grad);
    auto y = lean ? airtune::nn::rms_norm(x, w, 1e-6, plus_one) : plain_rms(x, w, 1e-6, plus_one);
    (y * g).sum().backward();
    return std::make_tuple(y.detach(), src.grad(), w_grad ? w.grad() : torch::Tensor());
  };
  auto [y0, gx0, gw0] = run(false);
  auto [y1, gx1, gw1] = run(true);
  EXPECT_TRUE(torch::equal(y0, y1)) << "forward must be the same bits";
  EXPECT_LE(max_diff(gx1, gx0), tol * (1 + gx0.abs().max().item<double>())) << "grad x";
  if (w_grad) EXPECT_LE(max_diff(gw1, gw0), tol * (1 + gw0.abs().max().item<double>())) << "grad w";
}

void check_swiglu(torch::Dtype dt, std::vector<int64_t> shape) {
  torch::manual_seed(5);
  auto gu0 = torch::randn({shape[0], shape[1], 2 * shape[2]}, torch::dtype(dt)) * 2;
  auto g = torch::randn(shape, torch::dtype(dt));
  auto run = [&](bool lean) {
    auto gu = gu0.clone().requires_grad_(true);
    auto parts = gu.split(shape[2], -1);  // views, as the decoder's fused gate/up output
    auto y = lean ? airtune::nn::swiglu(gu) : at::silu(parts[0]) * parts[1];
    (y * g).sum().backward();
    return std::make_pair(y.detach(), gu.grad());
  };
  auto [y0, g0] = run(false);
  auto [y1, g1] = run(true);
  EXPECT_TRUE(torch::equal(y0, y1)) << "forward must be the same bits";
  // the backward runs autograd's own kernels (mul, silu_backward) on the same operands
  EXPECT_TRUE(torch::equal(g1, g0)) << "gradient must be the same bits, max diff " << max_diff(g1, g0);
  // the halves' gradients land in their own columns: gate's first, up's second
  const int64_t n = shape[2];
  EXPECT_TRUE(torch::equal(g1.narrow(-1, n, n), g * at::silu(gu0.narrow(-1, 0, n))));
}

}  // namespace

TEST(LeanAutograd, RmsNormMatchesAutogradInDouble) {
  for (bool w_grad : {false, true})
    for (bool plus_one : {false, true})
      for (bool transposed : {false, true}) check_rms(torch::kFloat64, {3, 4, 5}, w_grad, plus_one, transposed, 1e-12);
}

TEST(LeanAutograd, RmsNormMatchesAutogradInFloat32) {
  check_rms(torch::kFloat32, {2, 128, 512}, true, false, false, 2e-5);
  check_rms(torch::kFloat32, {2, 128, 512}, false, false, false, 2e-5);
  check_rms(torch::kFloat32, {4, 64, 64}, true, true, true, 2e-5);
}

TEST(LeanAutograd, SwigluMatchesAutograd) {
  check_swiglu(torch::kFloat64, {2, 3, 7});
  check_swiglu(torch::kFloat32, {2, 128, 1536});
  check_swiglu(torch::kBFloat16, {2, 16, 64});
}

TEST(LeanAutograd, SwigluRefusesAnOddWidth) {
  EXPECT_THROW(airtune::nn::swiglu(torch::randn({2, 5})), airtune::InvalidArgument);
}

TEST(LeanAutograd, NoGraphWithoutGrad) {
  auto x = torch::randn({2, 3, 8});
  auto w = torch::ones({8});
  EXPECT_FALSE(airtune::nn::rms_norm(x, w, 1e-6, false).requires_grad());
  EXPECT_FALSE(airtune::nn::swiglu(x).requires_grad());
  EXPECT_TRUE(torch::equal(airtune::nn::rms_norm(x, w, 1e-6, false), plain_rms(x, w, 1e-6, false)));
}
