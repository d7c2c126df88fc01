// BERT-family sentence encoder (MiniLM, BGE, ...) on libtorch, as transformers' BertModel, plus the
// sentence-transformers Pooling (cls / mean / max / mean_sqrt_len) and Normalize modules.
//
// Shapes: input_ids / attention_mask [B, S] (attention_mask 1 = real token); token type ids are 0.
// embed() returns [B, hidden] float32 on the CPU. Weights may be stored with or without a "bert."
// prefix. Memory: weights kept once in the requested dtype/device (each tensor read into its own
// buffer); on the CPU in float32 the dense weights are kept only reordered for oneDNN, whose fused
// linear runs the dense layers (the plain copies are freed). Thread safety: immutable after
// construction; concurrent calls are safe.
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

#include "nn/model_config.h"

namespace airtune::nn {

enum class Pooling { kCls, kMean, kMax, kMeanSqrtLen };

class Encoder {
 public:
  /// Loads `<path>/config.json` and the safetensors weights. Throws FormatError naming the
  /// file/key/tensor for unsupported configs or missing or mis-shaped weights.
  Encoder(const std::string& path, torch::Dtype dtype, torch::Device device);

  const EncoderConfig& config() const { return config_; }

  /// Last hidden states [B, S, H] in the model dtype; zero at padding positions (mask 0), which
  /// the dense layers skip.
  torch::Tensor hidden_states(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) const;

  /// Pooled (and L2-normalised when `normalize`) sentence embeddings [B, H], float32 on CPU.
  torch::Tensor embed(const torch::Tensor& input_ids, const torch::Tensor& attention_mask, Pooling pooling,
                      bool normalize) const;

 private:
  struct Layer {
    // qkv_w, o_w, in_w, out_w are undefined when packed_: the packed copies below replace them
    torch::Tensor qkv_w, qkv_b, o_w, o_b, ln1_w, ln1_b, in_w, in_b, out_w, out_b, ln2_w, ln2_b;
    torch::Tensor qkv_p, o_p, in_p, out_p;  // oneDNN-packed dense weights (CPU fp32)
  };
  // x [N, in] -> [N, out]: bias, then the config's activation when `activation`.
  torch::Tensor dense(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& wp, const torch::Tensor& b,
                      bool activation) const;
  // x W^T + b + residual.
  torch::Tensor dense_add(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& wp,
                          const torch::Tensor& b, const torch::Tensor& residual) const;
  EncoderConfig config_;
  torch::Dtype dtype_;
  torch::Device device_;
  torch::Tensor word_, pos_, type_, emb_ln_w_, emb_ln_b_;
  std::vector<Layer> layers_;
  bool packed_ = false;  // CPU float32 with oneDNN: dense layers through its packed, fused linear
};

}  // namespace airtune::nn
