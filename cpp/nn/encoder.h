// BERT-family sentence encoder (MiniLM, BGE, ...) on libtorch, as transformers' BertModel, plus the
// sentence-transformers Pooling (cls / mean / max / mean_sqrt_len) and Normalize modules.
//
// Shapes: input_ids / attention_mask [B, S] (attention_mask 1 = real token); token type ids are 0.
// embed() returns [B, hidden] float32 on the CPU. Weights may be stored with or without a "bert."
// prefix. Memory: weights kept in the requested dtype/device (aliasing the mapped file on CPU when
// the dtype matches). Thread safety: immutable after construction; concurrent calls are safe.
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

  /// Last hidden states [B, S, H] in the model dtype.
  torch::Tensor hidden_states(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) const;

  /// Pooled (and L2-normalised when `normalize`) sentence embeddings [B, H], float32 on CPU.
  torch::Tensor embed(const torch::Tensor& input_ids, const torch::Tensor& attention_mask, Pooling pooling,
                      bool normalize) const;

 private:
  struct Layer {
    torch::Tensor qkv_w, qkv_b, o_w, o_b, ln1_w, ln1_b, in_w, in_b, out_w, out_b, ln2_w, ln2_b;
  };
  EncoderConfig config_;
  torch::Dtype dtype_;
  torch::Device device_;
  torch::Tensor word_, pos_, type_, emb_ln_w_, emb_ln_b_;
  std::vector<Layer> layers_;
};

}  // namespace airtune::nn
