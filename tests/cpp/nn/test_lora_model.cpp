// LoRA model and training-loop invariants on a tiny random Llama written by our own writer:
// a zero-B adapter leaves the logits unchanged, merged weights reproduce the adapter's logits,
// adapter save/load round-trips, schedules are hand-checked, accumulation is token-normalised,
// a few steps lower the loss.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "core/errors.h"
#include "nn/decoder.h"
#include "nn/lora_model.h"
#include "nn/safetensors.h"
#include "nn/trainer_loop.h"
#include "tiny_llama.h"

namespace fs = std::filesystem;
using airtune::nn::Decoder;
using airtune::nn::LoraModel;
using airtune::nn::LoraOptions;

namespace {

const char* kConfig = R"({"model_type":"llama","vocab_size":40,"hidden_size":16,"intermediate_size":24,
  "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"max_position_embeddings":64,
  "rms_norm_eps":1e-6,"rope_theta":10000.0,"tie_word_embeddings":false,"eos_token_id":2})";

fs::path make_model() {
  auto dir = fs::temp_directory_path() / ("airtune_lora_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << kConfig;
  torch::manual_seed(3);
  airtune::test::NamedTensors w = {{"model.embed_tokens.weight", torch::randn({40, 16})},
                                   {"model.norm.weight", torch::rand({16}) + 0.5},
                                   {"lm_head.weight", torch::randn({40, 16}) * 0.3}};
  for (int i = 0; i < 2; ++i) airtune::test::append_llama_layer(w, i);
  airtune::nn::save_safetensors((dir / "model.safetensors").string(), w, {{"format", "pt"}});
  return dir;
}

LoraOptions all_linear() {
  LoraOptions o;
  o.r = 4;
  o.alpha = 8;
  o.all_linear = true;
  return o;
}

void randomize_b(LoraModel& m) {
  torch::NoGradGuard g;
  torch::manual_seed(9);
  for (const auto& a : m.adapters()) a.b.copy_(torch::randn(a.b.sizes()) * 0.2);
}

}  // namespace

TEST(NnLora, ZeroBKeepsBaseLogitsAndTargetsMatch) {
  auto dir = make_model();
  Decoder base(dir.string(), torch::kFloat32, torch::kCPU);
  LoraModel m(dir.string(), all_linear(), torch::kFloat32, torch::kCPU);
  EXPECT_EQ(m.adapters().size(), 14u);
  EXPECT_EQ(m.adapters()[1].module, "model.layers.0.self_attn.k_proj");
  EXPECT_EQ(m.adapters()[1].b.size(0), 8);
  auto ids = torch::randint(3, 40, {2, 7});
  auto mask = torch::ones({2, 7}, torch::kInt64);
  torch::NoGradGuard g;
  EXPECT_LT((m.logits(ids, mask) - base.logits(ids, mask)).abs().max().item<double>(), 1e-5);
  LoraOptions o;
  o.target_modules = {"k_proj"};
  LoraModel k(dir.string(), o, torch::kFloat32, torch::kCPU);
  EXPECT_EQ(k.adapters().size(), 2u);
  o.target_modules = {"attn"};
  EXPECT_THROW(LoraModel(dir.string(), o, torch::kFloat32, torch::kCPU), airtune::InvalidArgument);
  fs::remove_all(dir);
}

TEST(NnLora, MergedWeightsReproduceAdapterAndAdapterRoundTrips) {
  auto dir = make_model();
  LoraModel m(dir.string(), all_linear(), torch::kFloat32, torch::kCPU);
  randomize_b(m);
  auto out = dir / "merged";
  m.save_merged(out.string());
  fs::copy_file(dir / "config.json", out / "config.json");
  Decoder merged(out.string(), torch::kFloat32, torch::kCPU);
  auto ids = torch::randint(3, 40, {2, 9});
  auto mask = torch::ones({2, 9}, torch::kInt64);
  mask[1][7] = 0;
  mask[1][8] = 0;
  torch::NoGradGuard g;
  auto want = m.logits(ids, mask);
  auto diff = (merged.logits(ids, mask) - want).abs();
  EXPECT_LT(diff[0].max().item<double>(), 1e-4);
  EXPECT_LT(diff[1].narrow(0, 0, 7).max().item<double>(), 1e-4);
  m.save_adapter((dir / "ad").string(), "base");
  LoraModel back(dir.string(), all_linear(), torch::kFloat32, torch::kCPU);
  back.load_adapter((dir / "ad").string());
  EXPECT_TRUE(torch::equal(back.logits(ids, mask), want));
  LoraOptions qv;  // default q_proj, v_proj: the saved adapter has keys this model lacks
  LoraModel other(dir.string(), qv, torch::kFloat32, torch::kCPU);
  EXPECT_THROW(other.load_adapter((dir / "ad").string()), airtune::FormatError);
  fs::remove_all(dir);
}

TEST(NnLora, MergedDecoderInMemoryEqualsTheSavedMergedModel) {
  auto dir = make_model();
  LoraOptions qv;  // q_proj + v_proj: the fused qkv matrix is partly adapted, gate/up not at all
  qv.r = 4;
  for (const auto& opts : {all_linear(), qv}) {
    LoraModel m(dir.string(), opts, torch::kFloat32, torch::kCPU);
    randomize_b(m);
    auto out = dir / "merged";
    fs::remove_all(out);
    m.save_merged(out.string());
    fs::copy_file(dir / "config.json", out / "config.json");
    Decoder saved(out.string(), torch::kFloat32, torch::kCPU);
    auto inmem = m.merged_decoder();
    auto ids = torch::randint(3, 40, {2, 9});
    auto mask = torch::ones({2, 9}, torch::kInt64);
    mask[1][0] = 0;  // left padding, as generation pads
    torch::NoGradGuard g;
    EXPECT_TRUE(torch::equal(inmem->logits(ids, mask), saved.logits(ids, mask)));
    airtune::nn::GenerateOptions o;
    o.max_new_tokens = 6;
    o.eos_token_ids = {2};
    auto a = inmem->generate(ids, mask, o), b = saved.generate(ids, mask, o);
    EXPECT_TRUE(torch::equal(a.tokens, b.tokens));
    // The base is untouched: its logits are still the unadapted ones.
    Decoder fresh(dir.string(), torch::kFloat32, torch::kCPU);
    EXPECT_TRUE(torch::equal(m.base().logits(ids, mask), fresh.logits(ids, mask)));
  }
  Decoder base(dir.string(), torch::kFloat32, torch::kCPU);
  auto layers = base.layers();
  layers[1].matrix(airtune::nn::Matrix::kO).w = torch::zeros({3, 3});
  EXPECT_THROW(base.with_layers(layers), airtune::InvalidArgument);
  layers.pop_back();
  EXPECT_THROW(base.with_layers(layers), airtune::InvalidArgument);
  fs::remove_all(dir);
}

TEST(NnLora, Schedules) {
  using airtune::nn::lr_lambda;
  EXPECT_DOUBLE_EQ(lr_lambda("linear", 0, 2, 10), 0.0);
  EXPECT_DOUBLE_EQ(lr_lambda("linear", 1, 2, 10), 0.5);
  EXPECT_DOUBLE_EQ(lr_lambda("linear", 2, 2, 10), 1.0);
  EXPECT_DOUBLE_EQ(lr_lambda("linear", 6, 2, 10), 0.5);
  EXPECT_NEAR(lr_lambda("cosine", 6, 2, 10), 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(lr_lambda("constant", 9, 2, 10), 1.0);
  EXPECT_THROW(lr_lambda("exp", 0, 0, 1), airtune::InvalidArgument);
}

TEST(NnLora, TrainingLowersLossAndAccumulationIsTokenNormalised) {
  auto dir = make_model();
  std::vector<airtune::nn::TrainExample> data;
  for (int i = 0; i < 4; ++i) {
    airtune::nn::TrainExample e;
    const int n = 4 + 5 * i;  // very different lengths
    for (int j = 0; j < n; ++j) {
      e.ids.push_back(3 + (j * 7 + i) % 30);
      e.labels.push_back(j < 2 ? -100 : e.ids.back());
    }
    data.push_back(e);
  }
  airtune::nn::TrainOptions o;
  o.epochs = 3;
  o.learning_rate = 1e-2;
  o.group_by_length = false;
  o.max_grad_norm = 0;
  o.batch_size = 4;
  LoraModel a(dir.string(), all_linear(), torch::kFloat32, torch::kCPU);
  auto ra = airtune::nn::train_lora(a, data, {}, o, nullptr);
  o.batch_size = 2;
  o.grad_accum = 2;
  LoraModel b(dir.string(), all_linear(), torch::kFloat32, torch::kCPU);
  auto rb = airtune::nn::train_lora(b, data, {}, o, nullptr);
  ASSERT_EQ(ra.history.size(), 3u);
  ASSERT_EQ(rb.history.size(), 3u);
  EXPECT_LT(ra.history.back().loss, ra.history.front().loss);
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(ra.history[i].loss, rb.history[i].loss, 1e-5);
  for (size_t i = 0; i < a.adapters().size(); ++i)
    EXPECT_TRUE(torch::allclose(a.adapters()[i].b, b.adapters()[i].b, 1e-3, 1e-4));  // Adam amplifies ulps
  std::vector<airtune::nn::TrainExample> bad = {data[0]};
  bad[0].labels.assign(bad[0].labels.size(), -100);
  EXPECT_THROW(airtune::nn::train_lora(a, bad, {}, o, nullptr), airtune::InvalidArgument);
  fs::remove_all(dir);
}
