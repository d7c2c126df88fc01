// The brgemm causal attention (nn/causal_attention.h) against float64 attention computed from the
// same inputs (forward and the gradients of q, k and v), beside torch's own
// scaled_dot_product_attention in the same dtype as the yardstick: in float32 within float32
// rounding, in bf16 no further from float64 than torch's kernel is (both round the probabilities
// and the outputs to bf16). The same bits at 1 and 2 threads. Shapes cover the blocks' edges
// (sequence lengths that are no multiple of 64, a single token), grouped-query heads and head
// sizes 16 to 128; inputs are the decoder's strided views of a [b, s, heads, d] projection.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "nn/causal_attention.h"

namespace {

struct Case {
  int64_t b, nh, nkv, s, d;
};

struct Result {
  torch::Tensor out, dq, dk, dv;
};

struct Inputs {
  torch::Tensor q, k, v, g;  // q, k, v: [b, heads, s, d] views of [b, s, heads, d]
};

Inputs make(const Case& c, torch::Dtype dt) {
  torch::manual_seed(11);
  Inputs in;
  in.q = (torch::randn({c.b, c.s, c.nh, c.d}) * 1.5).to(dt).transpose(1, 2);
  in.k = (torch::randn({c.b, c.s, c.nkv, c.d}) * 1.5).to(dt).transpose(1, 2);
  in.v = torch::randn({c.b, c.s, c.nkv, c.d}).to(dt).transpose(1, 2);
  in.g = torch::randn({c.b, c.nh, c.s, c.d}).to(dt);
  return in;
}

enum class Engine { kOurs, kSdpa, kFloat64 };

Result run(const Inputs& in, Engine e) {
  const bool f64 = e == Engine::kFloat64;
  auto q = (f64 ? in.q.to(torch::kFloat64) : in.q.clone()).requires_grad_(true);
  auto k = (f64 ? in.k.to(torch::kFloat64) : in.k.clone()).requires_grad_(true);
  auto v = (f64 ? in.v.to(torch::kFloat64) : in.v.clone()).requires_grad_(true);
  const int64_t nh = q.size(1), nkv = k.size(1), s = q.size(2);
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  torch::Tensor out;
  if (e == Engine::kOurs) {
    EXPECT_TRUE(airtune::nn::causal_attention_applies(q, k, v));
    out = airtune::nn::causal_attention(q, k, v, scale);
  } else if (e == Engine::kSdpa) {
    out = at::scaled_dot_product_attention(q, k, v, std::nullopt, 0.0, true, scale, nkv != nh);
  } else {
    const auto kk = k.repeat_interleave(nh / nkv, 1), vv = v.repeat_interleave(nh / nkv, 1);
    const auto mask = torch::ones({s, s}, torch::kBool).triu(1);
    auto scores = at::matmul(q, kk.transpose(2, 3)) * scale;
    out = at::matmul(at::softmax(scores.masked_fill(mask, -INFINITY), -1), vv);
  }
  out.backward(f64 ? in.g.to(torch::kFloat64) : in.g);
  return {out.detach(), q.grad(), k.grad(), v.grad()};
}

// |got - want| / max(|want|, 1) in the Frobenius norm: relative, absolute where the exact
// gradient is ~0 (one token: the softmax of one score does not depend on it)
double rel_err(const torch::Tensor& got, const torch::Tensor& want) {
  const auto w = want.to(torch::kFloat64);
  return (got.to(torch::kFloat64) - w).norm().item<double>() / std::max(1.0, w.norm().item<double>());
}

bool same(const Result& a, const Result& b) {
  return torch::equal(a.out, b.out) && torch::equal(a.dq, b.dq) && torch::equal(a.dk, b.dk) && torch::equal(a.dv, b.dv);
}

std::string name(const Case& c) {
  return "b" + std::to_string(c.b) + " nh" + std::to_string(c.nh) + " nkv" + std::to_string(c.nkv) + " s" +
         std::to_string(c.s) + " d" + std::to_string(c.d);
}

void check(const Case& c, torch::Dtype dt) {
  const auto in = make(c, dt);
  if (!airtune::nn::causal_attention_applies(in.q, in.k, in.v))
    GTEST_SKIP() << "the kernel does not run on this CPU for this dtype (it needs AVX-512, and for bf16 oneDNN's "
                    "AVX512-BF16 or AMX brgemm): the decoder keeps scaled_dot_product_attention here";
  const auto ref = run(in, Engine::kFloat64);
  const auto got = run(in, Engine::kOurs);
  const auto sdpa = run(in, Engine::kSdpa);
  EXPECT_EQ(got.out.sizes(), in.q.sizes());
  EXPECT_EQ(got.dk.sizes(), in.k.sizes());
  const std::vector<std::pair<const char*, std::pair<torch::Tensor, std::pair<torch::Tensor, torch::Tensor>>>> parts = {
      {"out", {ref.out, {got.out, sdpa.out}}},
      {"dq", {ref.dq, {got.dq, sdpa.dq}}},
      {"dk", {ref.dk, {got.dk, sdpa.dk}}},
      {"dv", {ref.dv, {got.dv, sdpa.dv}}}};
  for (const auto& [part, t] : parts) {
    const double ours = rel_err(t.second.first, t.first), theirs = rel_err(t.second.second, t.first);
    if (std::getenv("ATTN_DEBUG")) printf("%s %s ours %.3g sdpa %.3g\n", name(c).c_str(), part, ours, theirs);
    if (dt == torch::kFloat32)
      EXPECT_LT(ours, 2e-6) << name(c) << " " << part << " (sdpa: " << theirs << ")";
    else  // both round P and the result to bf16 (8 bits): no further from float64 than torch's kernel
      EXPECT_LT(ours, std::max(1.1 * theirs, 1e-4)) << name(c) << " " << part << " (sdpa: " << theirs << ")";
  }
  const int before = at::get_num_threads();
  at::set_num_threads(1);
  const auto one = run(in, Engine::kOurs);
  at::set_num_threads(2);
  const auto two = run(in, Engine::kOurs);
  at::set_num_threads(before);
  EXPECT_TRUE(same(one, two)) << name(c) << ": 1 and 2 threads";
  EXPECT_TRUE(same(one, got)) << name(c) << ": default threads";
}

const std::vector<Case> kCases = {
    {2, 8, 4, 512, 64},  // the 50M Llama
    {1, 4, 4, 100, 32},  // s no multiple of 64, no grouping
    {2, 6, 2, 65, 16},   // one row past a block
    {1, 2, 1, 1, 64},    // a single token
    {1, 3, 1, 130, 128},
};

TEST(CausalAttention, Float32MatchesFloat64) {
  for (const auto& c : kCases) check(c, torch::kFloat32);
}

TEST(CausalAttention, Bf16NoFurtherFromFloat64ThanSdpa) {
  for (const auto& c : kCases) check(c, torch::kBFloat16);
}

TEST(CausalAttention, AppliesOnlyWhereItComputesTheSame) {
  const auto q = torch::randn({1, 4, 8, 16}), k = torch::randn({1, 2, 8, 16});
  if (!airtune::nn::causal_attention_applies(q, k, k))
    GTEST_SKIP() << "the kernel does not run on this CPU (no AVX-512 or no oneDNN brgemm): nothing to switch";
  EXPECT_FALSE(airtune::nn::causal_attention_applies(q, torch::randn({1, 2, 9, 16}), torch::randn({1, 2, 9, 16})))
      << "keys past the queries (a cached decode step)";
  EXPECT_FALSE(airtune::nn::causal_attention_applies(q, torch::randn({1, 3, 8, 16}), torch::randn({1, 3, 8, 16})))
      << "heads no multiple of kv heads";
  EXPECT_FALSE(
      airtune::nn::causal_attention_applies(q.to(torch::kFloat64), k.to(torch::kFloat64), k.to(torch::kFloat64)));
  EXPECT_FALSE(airtune::nn::causal_attention_applies(q, k.to(torch::kBFloat16), k.to(torch::kBFloat16)));
  EXPECT_FALSE(airtune::nn::causal_attention_applies(torch::randn({1, 4, 8, 15}), torch::randn({1, 2, 8, 15}),
                                                     torch::randn({1, 2, 8, 15})))
      << "odd head size";
  EXPECT_FALSE(airtune::nn::causal_attention_applies(q.transpose(2, 3).contiguous().transpose(2, 3), k, k))
      << "head dimension not contiguous";
  EXPECT_TRUE(airtune::nn::set_causal_attention_enabled(false));
  EXPECT_FALSE(airtune::nn::causal_attention_applies(q, k, k));
  EXPECT_FALSE(airtune::nn::set_causal_attention_enabled(true));
  EXPECT_TRUE(airtune::nn::causal_attention_applies(q, k, k));
}

}  // namespace
