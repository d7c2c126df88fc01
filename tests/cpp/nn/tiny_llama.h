// Tiny random Llama weights for the libtorch tests (hidden 16, 4 heads of which 2 KV heads,
// MLP 24), drawn from torch's global generator in a fixed order so a seed gives one model.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace airtune::test {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

/// Appends the weights of decoder layer `i` to `w` (PEFT/transformers names).
inline void append_llama_layer(NamedTensors& w, int i) {
  const std::string p = "model.layers." + std::to_string(i) + ".";
  w.push_back({p + "self_attn.q_proj.weight", torch::randn({16, 16}) * 0.3});
  w.push_back({p + "self_attn.k_proj.weight", torch::randn({8, 16}) * 0.3});
  w.push_back({p + "self_attn.v_proj.weight", torch::randn({8, 16}) * 0.3});
  w.push_back({p + "self_attn.o_proj.weight", torch::randn({16, 16}) * 0.3});
  w.push_back({p + "mlp.gate_proj.weight", torch::randn({24, 16}) * 0.3});
  w.push_back({p + "mlp.up_proj.weight", torch::randn({24, 16}) * 0.3});
  w.push_back({p + "mlp.down_proj.weight", torch::randn({16, 24}) * 0.3});
  w.push_back({p + "input_layernorm.weight", torch::rand({16}) + 0.5});
  w.push_back({p + "post_attention_layernorm.weight", torch::rand({16}) + 0.5});
}

}  // namespace airtune::test
