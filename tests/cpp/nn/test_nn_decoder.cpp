// Decoder invariants on a tiny random model written by our own writer: configs (v4/v5 keys,
// errors), KV-cache decoding equals a full forward, left padding does not change a row's logits,
// sampling warpers.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "core/errors.h"
#include "nn/decoder.h"
#include "nn/model_config.h"
#include "nn/safetensors.h"
#include "tiny_llama.h"

namespace fs = std::filesystem;
using airtune::nn::Decoder;
using airtune::nn::DecoderConfig;

namespace {

const char* kConfig = R"({"model_type":"mistral","vocab_size":50,"hidden_size":16,"intermediate_size":24,
  "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"max_position_embeddings":64,
  "rms_norm_eps":1e-6,"rope_theta":10000.0,"sliding_window":4,"tie_word_embeddings":true,"eos_token_id":[2,3]})";

fs::path make_model() {
  auto dir = fs::temp_directory_path() / ("airtune_nn_dec_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << kConfig;
  torch::manual_seed(1);
  airtune::test::NamedTensors w = {{"model.embed_tokens.weight", torch::randn({50, 16})},
                                   {"model.norm.weight", torch::rand({16}) + 0.5}};
  for (int i = 0; i < 2; ++i) airtune::test::append_llama_layer(w, i);
  airtune::nn::save_safetensors((dir / "model.safetensors").string(), w, {{"format", "pt"}});
  return dir;
}

}  // namespace

TEST(NnDecoderConfig, ReadsV4AndV5RopeKeys) {
  auto v4 = DecoderConfig::from_json(
      R"({"model_type":"llama","vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,
          "num_attention_heads":2,"rope_theta":500000.0,"rope_scaling":{"rope_type":"llama3","factor":8.0,
          "low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}})",
      "v4");
  EXPECT_EQ(v4.rope.type, "llama3");
  EXPECT_DOUBLE_EQ(v4.rope.theta, 500000.0);
  EXPECT_EQ(v4.num_key_value_heads, 2);
  EXPECT_EQ(v4.head_dim, 4);
  auto v5 = DecoderConfig::from_json(
      R"({"model_type":"qwen2","vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":2,
          "num_attention_heads":2,"num_key_value_heads":1,"rope_parameters":{"rope_type":"linear","rope_theta":1e6,"factor":2.0},
          "layer_types":["full_attention","sliding_attention"],"sliding_window":16,"eos_token_id":7})",
      "v5");
  EXPECT_EQ(v5.rope.type, "linear");
  EXPECT_DOUBLE_EQ(v5.rope.theta, 1e6);
  EXPECT_TRUE(v5.attention_bias);
  EXPECT_EQ(v5.layer_window, (std::vector<int64_t>{0, 16}));
  EXPECT_EQ(v5.eos_token_ids, (std::vector<int64_t>{7}));
}

TEST(NnDecoderConfig, ErrorsNameTheKey) {
  auto expect = [](const std::string& json, const std::string& needle) {
    try {
      DecoderConfig::from_json(json, "cfg.json");
      FAIL() << needle;
    } catch (const airtune::FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect(R"({"model_type":"gpt2"})", "model_type");
  expect(R"({"model_type":"llama","vocab_size":10})", "hidden_size");
  expect(R"({"model_type":"llama","vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,
             "num_attention_heads":2,"rope_scaling":{"rope_type":"yarn","factor":4}})",
         "rope_scaling.rope_type");
  expect(R"({"model_type":"llama","vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,
             "num_attention_heads":4,"num_key_value_heads":3})",
         "num_key_value_heads");
  expect(R"({"model_type":"llama","vocab_size":"x"})", "vocab_size");
}

TEST(NnDecoder, CacheAndPaddingInvariants) {
  auto dir = make_model();
  Decoder model(dir.string(), torch::kFloat32, torch::kCPU);
  torch::NoGradGuard ng;
  auto ids = torch::randint(4, 50, {1, 10});
  auto full = model.logits(ids, std::nullopt);  // sequence longer than the sliding window
  // Incremental decoding through the KV cache gives the same logits as the full forward.
  auto cache = model.new_cache(1, 10);
  auto valid = torch::ones({1, 10}, torch::kBool);
  auto pos = torch::arange(10).view({1, 10});
  auto first = model.forward(ids.narrow(1, 0, 6), pos.narrow(1, 0, 6), valid.narrow(1, 0, 6), &cache, false);
  EXPECT_TRUE(torch::allclose(first, full.narrow(1, 0, 6), 1e-5, 1e-5));
  for (int64_t t = 6; t < 10; ++t) {
    auto step = model.forward(ids.narrow(1, t, 1), pos.narrow(1, t, 1), valid.narrow(1, 0, t + 1), &cache, true);
    EXPECT_TRUE(torch::allclose(step.squeeze(1), full.select(1, t), 1e-5, 1e-5)) << t;
  }
  // Left padding: the padded row's logits at real positions equal the unpadded row's.
  auto padded = torch::cat({torch::zeros({1, 3}, torch::kInt64), ids}, 1);
  auto mask = torch::cat({torch::zeros({1, 3}, torch::kInt64), torch::ones({1, 10}, torch::kInt64)}, 1);
  auto lp = model.logits(padded, mask);
  EXPECT_TRUE(torch::allclose(lp.narrow(1, 3, 10), full, 1e-5, 1e-5));
  // Greedy generation is deterministic and stops at an EOS id when produced.
  airtune::nn::GenerateOptions o;
  o.max_new_tokens = 5;
  o.eos_token_ids = {2, 3};
  auto g1 = model.generate(ids, torch::ones_like(ids), o);
  auto g2 = model.generate(padded, mask, o);
  EXPECT_TRUE(torch::equal(g1.tokens, g2.tokens));
  EXPECT_THROW(model.logits(torch::full({1, 3}, 50, torch::kInt64), std::nullopt), airtune::InvalidArgument);
  EXPECT_THROW(model.generate(torch::ones({1, 64}, torch::kInt64), torch::ones({1, 64}), o), airtune::InvalidArgument);
  fs::remove_all(dir);
}

TEST(NnDecoder, MissingTensorIsNamed) {
  auto dir = make_model();
  airtune::nn::save_safetensors((dir / "model.safetensors").string(),
                                {{"model.embed_tokens.weight", torch::randn({50, 16})}});
  try {
    Decoder model(dir.string(), torch::kFloat32, torch::kCPU);
    FAIL();
  } catch (const airtune::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("model.norm.weight"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(NnSampling, TopKOneIsGreedyAndTopPKeepsNucleus) {
  auto logits = torch::tensor({{0.0f, 3.0f, 1.0f, 2.9f}, {5.0f, 0.0f, 0.0f, 0.0f}});
  airtune::nn::GenerateOptions o;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  auto greedy = airtune::nn::sample_next(logits, o, gen);
  EXPECT_EQ(greedy[0].item<int64_t>(), 1);
  o.do_sample = true;
  o.top_k = 1;
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(torch::equal(airtune::nn::sample_next(logits, o, gen), greedy));
  o.top_k = 0;
  o.top_p = 0.5;  // row 0: tokens 1 and 3 hold ~0.95 together; token 1 alone ~0.5 -> {1, 3} kept
  for (int i = 0; i < 50; ++i) {
    auto t = airtune::nn::sample_next(logits, o, gen)[0].item<int64_t>();
    EXPECT_TRUE(t == 1 || t == 3) << t;
  }
}
