// The fused bf16 LoRA term (nn/lora_bf16.h) against the ATen expression it replaces, computed in
// float64: the output is bf16(base + delta) to one bf16 rounding of a float32-accurate delta, the
// gradients of x, A and B equal to float32 rounding, and the base's gradient passed through. The
// same bits at 1 and 2 threads and on every instruction set this CPU runs (AVX-512, AVX2, the
// plain loop), on inputs where torch's own GEMMs inside the op are order-free (make_blas_exact).
// Shapes cover the kernels' edges: row counts that are no multiple of 4 or of the 128-row blocks,
// column counts that are no multiple of 32 or of 8, ranks side by side (16, 32, 64, and 4, 8, 20,
// 33, 40 padded to 16, 32 or 64 lanes).
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/errors.h"
#include "nn/lora_bf16.h"
#include "nn/quantized.h"

namespace {

using airtune::nn::LoraTerm;

struct Case {
  int64_t tokens, in;
  std::vector<int64_t> cols, ranks;
};

struct Result {
  torch::Tensor out, gx, gbase;
  std::vector<torch::Tensor> ga, gb;
};

struct Inputs {
  torch::Tensor base, x, g;
  std::vector<torch::Tensor> a, b;
  std::vector<double> scaling;
  int64_t n = 0;
};

Inputs make(const Case& c) {
  torch::manual_seed(3);
  Inputs in;
  for (auto w : c.cols) in.n += w;
  in.base = (torch::randn({c.tokens, in.n}) * 2).to(torch::kBFloat16);
  in.x = torch::randn({c.tokens, c.in}).to(torch::kBFloat16);
  in.g = torch::randn({c.tokens, in.n}).to(torch::kBFloat16);
  for (size_t i = 0; i < c.cols.size(); ++i) {
    in.a.push_back(torch::randn({c.ranks[i], c.in}) / std::sqrt(static_cast<double>(c.in)));
    in.b.push_back(torch::randn({c.cols[i], c.ranks[i]}) * 0.5);
    in.scaling.push_back(32.0 / static_cast<double>(c.ranks[i]));
  }
  return in;
}

// Inputs on which torch's GEMMs inside the op (x A^T forward, grad x = gxa A) have the same bits in
// any summation order, so that they do not depend on the BLAS kernel or its thread split (MKL's
// float32 GEMM differs between 1 and 2 threads on some AMD CPUs): x holds multiples of 1/8 up to 1
// and every column of the adapters' stacked A one power of two, so x A^T is an exact sum of
// multiples of 1/16 and each entry of grad x is one entry of grad xa times a power of two. The
// base, the output gradient and B stay random, so the sums the fused kernels make (delta, grad xa,
// grad B over 128-row blocks) remain order-sensitive: a dependence of theirs on the thread count
// or instruction set still changes bits. grad A = gxa^T x is a BLAS sum over tokens: same() holds
// it to float32 rounding only.
Inputs make_blas_exact(const Case& c) {
  Inputs in = make(c);
  in.x = (torch::randint(-8, 9, {c.tokens, c.in}) / 8.0).to(torch::kBFloat16);
  const auto na = static_cast<int64_t>(c.ranks.size());
  for (int64_t i = 0; i < na; ++i) {
    auto a = torch::zeros({c.ranks[i], c.in});
    auto av = a.accessor<float, 2>();
    for (int64_t j = i; j < c.in; j += na)  // column j belongs to one adapter, at one of its rows
      av[(j * 31 + i) % c.ranks[i]][j] = std::ldexp((j % 3) ? 1.0f : -1.0f, -static_cast<int>(j % 2));
    in.a[i] = a;
  }
  return in;
}

Result run(const Inputs& in, bool fused) {
  auto base_leaf = in.base.clone().requires_grad_(true);
  auto x = in.x.clone().requires_grad_(true);
  std::vector<torch::Tensor> a, b;
  for (size_t i = 0; i < in.a.size(); ++i) {
    a.push_back(in.a[i].clone().requires_grad_(true));
    b.push_back(in.b[i].clone().requires_grad_(true));
  }
  torch::Tensor out;
  const auto base = base_leaf * 1;  // a non-leaf, as the frozen matmul's output is
  if (fused) {
    std::vector<LoraTerm> terms;
    int64_t col0 = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      terms.push_back({a[i], b[i], in.scaling[i], col0});
      col0 += b[i].size(0);
    }
    EXPECT_TRUE(airtune::nn::lora_bf16_applies(base, terms));
    out = airtune::nn::lora_add_bf16_(base, x.to(torch::kFloat32), terms);
  } else {  // the reference: float64 delta, one rounding to bf16
    std::vector<torch::Tensor> deltas;
    const auto xd = x.to(torch::kFloat64);
    for (size_t i = 0; i < a.size(); ++i)
      deltas.push_back(at::linear(at::linear(xd, a[i].to(torch::kFloat64)), b[i].to(torch::kFloat64) * in.scaling[i]));
    out = (base.to(torch::kFloat64) + at::cat(deltas, -1)).to(torch::kBFloat16);
  }
  out.backward(in.g);
  Result r{out.detach(), x.grad(), base_leaf.grad(), {}, {}};
  for (size_t i = 0; i < a.size(); ++i) {
    r.ga.push_back(a[i].grad());
    r.gb.push_back(b[i].grad());
  }
  return r;
}

double rel_diff(const torch::Tensor& got, const torch::Tensor& want) {
  const auto w = want.to(torch::kFloat64), d = (got.to(torch::kFloat64) - w).abs().max();
  return d.item<double>() / (1e-30 + w.abs().max().item<double>());
}

// The same bits in what the fused kernels decide (grad A: to float32 rounding, see make_blas_exact).
bool same(const Result& p, const Result& q) {
  bool ok = torch::equal(p.out, q.out) && torch::equal(p.gx, q.gx) && torch::equal(p.gbase, q.gbase);
  for (size_t i = 0; i < p.ga.size(); ++i)
    ok = ok && torch::equal(p.gb[i], q.gb[i]) && torch::allclose(p.ga[i], q.ga[i], 1e-6, 1e-6);
  return ok;
}

void check(const Case& c) {
  const auto in = make(c);
  const auto ref = run(in, false);
  const auto got = run(in, true);
  // output: within one bf16 rounding step of the float64 value, plus the float32 error of a delta
  // that cancels against the base (a float32 delta may round the other way near a midpoint)
  const auto want = ref.out.to(torch::kFloat64), b64 = in.base.to(torch::kFloat64);
  const auto tol = want.abs() * std::ldexp(1.0, -7) + 1e-5 * (b64.abs() + (want - b64).abs()) + 1e-30;
  const auto err = (got.out.to(torch::kFloat64) - want).abs();
  EXPECT_TRUE((err <= tol).all().item<bool>()) << "forward beyond one bf16 step: " << (err - tol).max().item<double>();
  EXPECT_GT(got.out.eq(ref.out).to(torch::kFloat32).mean().item<double>(), 0.99) << "forward mostly the same bits";
  EXPECT_TRUE(torch::equal(got.gbase, ref.gbase)) << "the base's gradient is passed through";
  EXPECT_LT(rel_diff(got.gx, ref.gx), 1e-2) << "grad x (bf16: the leaf's dtype)";
  for (size_t i = 0; i < c.cols.size(); ++i) {
    EXPECT_LT(rel_diff(got.ga[i], ref.ga[i]), 1e-5) << "grad A " << i;
    EXPECT_LT(rel_diff(got.gb[i], ref.gb[i]), 1e-5) << "grad B " << i;
  }
  // the same bits at every thread count and instruction set
  const auto exact = make_blas_exact(c);
  const int threads = at::get_num_threads();
  const auto isa = airtune::nn::lora_bf16_isa();
  at::set_num_threads(1);
  const auto one = run(exact, true);
  at::set_num_threads(2);
  EXPECT_TRUE(same(run(exact, true), one)) << "2 threads";
  for (const char* other : {"avx2", "base"}) {
    if (!airtune::nn::set_lora_bf16_isa(other)) continue;
    EXPECT_TRUE(same(run(exact, true), one)) << other << " against " << isa;
  }
  airtune::nn::set_lora_bf16_isa(isa);
  at::set_num_threads(threads);
  EXPECT_TRUE(same(run(exact, true), one)) << "default threads";
}

TEST(LoraBf16, FusedQkvMatchesTheAtenTerm) { check({300, 96, {64, 40, 40}, {16, 16, 32}}); }

TEST(LoraBf16, OneModuleWithRaggedEdges) { check({7, 72, {45}, {16}}); }

TEST(LoraBf16, RankSixtyFourOverManyBlocks) { check({517, 48, {33, 96}, {64, 32}}); }

TEST(LoraBf16, RanksPaddedToSixteenLanes) { check({133, 40, {24, 50, 17}, {8, 4, 20}}); }

TEST(LoraBf16, RanksPaddedToSixtyFourLanes) { check({70, 24, {40, 33}, {40, 33}}); }

TEST(LoraBf16, NoRowsGiveZeroGradients) {
  const auto r = run(make({0, 24, {40}, {8}}), true);
  EXPECT_EQ(r.out.sizes(), (std::vector<int64_t>{0, 40}));
  EXPECT_EQ(r.gb[0].sizes(), (std::vector<int64_t>{40, 8}));
  EXPECT_EQ(r.gb[0].abs().sum().item<double>(), 0.0);
  EXPECT_EQ(r.ga[0].abs().sum().item<double>(), 0.0);
}

// An NF4 base's output (quantized_linear on the rows of a layer) is a tensor of its own, so the
// fused term applies to QLoRA too, and its gradients reach x through both paths.
TEST(LoraBf16, AppliesOverAnNf4Base) {
  torch::manual_seed(8);
  airtune::nn::QuantOptions q;
  auto w = std::make_shared<const airtune::nn::QuantizedMatrix>(
      std::vector<airtune::nn::QuantizedTensor>{airtune::nn::quantize(torch::randn({48, 32}) * 0.1, q)});
  auto x = torch::randn({20, 32}).to(torch::kBFloat16).requires_grad_(true);
  auto a = (torch::randn({16, 32}) * 0.1).requires_grad_(true), b = (torch::randn({48, 16}) * 0.1).requires_grad_(true);
  auto base = airtune::nn::quantized_linear(x, w, torch::Tensor());
  EXPECT_FALSE(base.is_view());
  const std::vector<LoraTerm> terms{{a, b, 2.0, 0}};
  ASSERT_TRUE(airtune::nn::lora_bf16_applies(base, terms));
  const auto want = (base.detach().to(torch::kFloat64) +
                     at::linear(at::linear(x.detach().to(torch::kFloat64), a.detach().to(torch::kFloat64)),
                                b.detach().to(torch::kFloat64) * 2.0))
                        .to(torch::kBFloat16);
  auto out = airtune::nn::lora_add_bf16_(base, x.to(torch::kFloat32), terms);
  EXPECT_LE((out.detach().to(torch::kFloat32) - want.to(torch::kFloat32)).abs().max().item<double>(),
            std::ldexp(1.0, -7) * (1 + want.to(torch::kFloat32).abs().max().item<double>()));
  out.sum().backward();
  ASSERT_TRUE(x.grad().defined() && a.grad().defined() && b.grad().defined());
  EXPECT_GT(a.grad().abs().sum().item<double>(), 0.0);
}

TEST(LoraBf16, AppliesOnlyWhereItsKernelsDo) {
  auto base = torch::zeros({4, 8}, torch::kBFloat16);
  std::vector<LoraTerm> ok{{torch::zeros({16, 3}), torch::zeros({8, 16}), 1.0, 0}};
  EXPECT_TRUE(airtune::nn::lora_bf16_applies(base, ok));
  std::vector<LoraTerm> rank8{{torch::zeros({8, 3}), torch::zeros({8, 8}), 1.0, 0}};
  EXPECT_TRUE(airtune::nn::lora_bf16_applies(base, rank8)) << "rank 8 runs on 16 lanes";
  std::vector<LoraTerm> rank65{{torch::zeros({65, 3}), torch::zeros({8, 65}), 1.0, 0}};
  EXPECT_FALSE(airtune::nn::lora_bf16_applies(base, rank65)) << "past 64 the ATen path";
  std::vector<LoraTerm> outside{{torch::zeros({16, 3}), torch::zeros({8, 16}), 1.0, 1}};
  EXPECT_FALSE(airtune::nn::lora_bf16_applies(base, outside));
  EXPECT_FALSE(airtune::nn::lora_bf16_applies(base.to(torch::kFloat32), ok));
  EXPECT_FALSE(airtune::nn::lora_bf16_applies(base.t(), ok));
  EXPECT_THROW(airtune::nn::lora_add_bf16_(base, torch::zeros({4, 5}), ok), airtune::InvalidArgument);
  EXPECT_FALSE(airtune::nn::set_lora_bf16_isa("sse9"));
}

}  // namespace
