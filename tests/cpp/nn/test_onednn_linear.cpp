// oneDNN's packed linear (nn/onednn_linear.h) against at::linear: the product, the frozen linear's
// input gradient, the fused lm_head + loss through the lm_head's packs, and a LoRA model whose
// frozen base is packed (Decoder::pack_frozen) against the same model unpacked: loss and every
// adapter gradient equal to float32 rounding; unpacking restores the plain path and a merged copy
// never inherits the packs of the weights it replaced.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "nn/decoder.h"
#include "nn/linear_cross_entropy.h"
#include "nn/lora_model.h"
#include "nn/onednn_linear.h"
#include "nn/safetensors.h"
#include "tiny_llama.h"

namespace fs = std::filesystem;
using namespace airtune::nn;

namespace {

void expect_close(const torch::Tensor& a, const torch::Tensor& b, double rtol, const char* what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const double err = (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
  const double scale = b.to(torch::kFloat64).abs().max().item<double>();
  EXPECT_LE(err, 1e-6 + rtol * scale) << what << ": max abs diff " << err << " (scale " << scale << ")";
}

fs::path make_model() {
  auto dir = fs::temp_directory_path() / ("airtune_onednn_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << R"({"model_type":"llama","vocab_size":40,"hidden_size":16,
    "intermediate_size":24,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
    "max_position_embeddings":64,"rms_norm_eps":1e-6,"rope_theta":10000.0,"tie_word_embeddings":false})";
  torch::manual_seed(3);
  airtune::test::NamedTensors w = {{"model.embed_tokens.weight", torch::randn({40, 16})},
                                   {"model.norm.weight", torch::rand({16}) + 0.5},
                                   {"lm_head.weight", torch::randn({40, 16}) * 0.3}};
  for (int i = 0; i < 2; ++i) airtune::test::append_llama_layer(w, i);
  save_safetensors((dir / "model.safetensors").string(), w, {{"format", "pt"}});
  return dir;
}

}  // namespace

TEST(NnOneDnn, FrozenLinearMatchesAtLinearForwardAndInputGradient) {
  if (!onednn_available()) GTEST_SKIP() << "libtorch without oneDNN";
  torch::manual_seed(1);
  auto w = torch::randn({48, 32}), b = torch::randn({48});
  auto x0 = torch::randn({2, 5, 32});
  auto g = torch::randn({2, 5, 48});
  auto x1 = x0.clone().requires_grad_(true), x2 = x0.clone().requires_grad_(true);
  auto ref = at::linear(x1, w, b);
  auto out = frozen_linear(x2, pack_frozen(w), b);
  expect_close(out, ref, 1e-5, "forward");
  ref.backward(g);
  out.backward(g);
  expect_close(x2.grad(), x1.grad(), 1e-5, "input gradient");
  // no bias, no grad mode: a plain product
  torch::NoGradGuard no_grad;
  expect_close(frozen_linear(x0, pack_frozen(w), torch::Tensor()), at::linear(x0, w), 1e-5, "no bias");
}

TEST(NnOneDnn, PackedLmHeadLossEqualsThePlainOne) {
  if (!onednn_available()) GTEST_SKIP() << "libtorch without oneDNN";
  torch::manual_seed(2);
  auto w = torch::randn({50, 16}) * 0.5;
  auto t = torch::randint(0, 50, {23}, torch::kInt64);
  t.index_put_({torch::rand({23}) < 0.3}, -100);
  auto h1 = torch::randn({23, 16}).requires_grad_(true);
  auto h2 = h1.detach().clone().requires_grad_(true);
  const auto packs = pack_frozen(w);
  int64_t c1 = 0, c2 = 0;
  auto l1 = linear_cross_entropy_sum(h1, w, t, 7, &c1);
  auto l2 = linear_cross_entropy_sum(h2, w, t, 7, &c2, &packs);
  expect_close(l2, l1, 1e-6, "loss");
  EXPECT_EQ(c1, c2);
  l1.backward();
  l2.backward();
  expect_close(h2.grad(), h1.grad(), 1e-5, "grad h");
}

TEST(NnOneDnn, PackedBaseTrainsLikeThePlainOne) {
  const auto dir = make_model();
  LoraOptions o;
  o.r = 4;
  o.alpha = 8;
  o.all_linear = true;
  LoraModel plain(dir.string(), o, torch::kFloat32, torch::kCPU), packed(dir.string(), o, torch::kFloat32, torch::kCPU);
  {
    torch::NoGradGuard g;
    torch::manual_seed(9);
    for (size_t i = 0; i < plain.adapters().size(); ++i) {
      auto b = torch::randn(plain.adapters()[i].b.sizes()) * 0.2;
      plain.adapters()[i].b.copy_(b);
      packed.adapters()[i].b.copy_(b);
    }
  }
  const bool did = packed.pack_frozen();
  EXPECT_EQ(did, onednn_available());
  auto ids = torch::randint(3, 40, {2, 9}, torch::kInt64);
  auto mask = torch::ones({2, 9}, torch::kInt64);
  auto labels = ids.clone();
  labels.index_put_({0, torch::indexing::Slice(0, 4)}, -100);
  auto a = plain.loss_sum(ids, mask, labels, true), b = packed.loss_sum(ids, mask, labels, true);
  expect_close(b.sum, a.sum, 1e-5, "loss");
  EXPECT_EQ(a.correct, b.correct);
  a.sum.backward();
  b.sum.backward();
  const auto pa = plain.parameters(), pb = packed.parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) expect_close(pb[i].grad(), pa[i].grad(), 1e-4, "adapter gradient");
  // a merged copy carries no pack of the weights it replaced: its logits are the merged model's
  torch::NoGradGuard g;
  auto merged_logits = packed.merged_decoder()->logits(ids, mask);
  expect_close(merged_logits, plain.logits(ids, mask), 1e-4, "merged decoder of a packed model");
  packed.unpack_frozen();
  EXPECT_FALSE(packed.base().lm_head_pack().defined());
  expect_close(packed.logits(ids, mask), plain.logits(ids, mask), 1e-6, "unpacked");
  fs::remove_all(dir);
}
