// Llama-family decoder (Llama 2/3/3.1, Mistral, Qwen2) on libtorch, op-for-op as transformers'
// modeling_llama: RMSNorm in fp32 then cast, half-split RoPE (default/linear/llama3) computed in
// fp32, GQA attention through scaled_dot_product_attention, SwiGLU MLP, tied or separate lm_head.
//
// Shapes: input_ids / attention_mask are [B, S] (int64 / any integer or bool, 1 = real token).
// Padding may be on either side; position ids are cumsum(attention_mask) - 1 (as transformers'
// generate does), so a left-padded row gives the same logits as the unpadded row.
// Memory: weights are kept in the requested dtype on the requested device. q/k/v and gate/up are
// fused into one matrix each at load (a copy); the others alias the file's bytes (read into memory,
// or mapped with FileAccess::kMap: see nn/safetensors.h) when the dtype and device match (CPU). A KV cache holds 2 x
// layers x B x kv_heads x max_len x head_dim. Thread safety: a Decoder is immutable after construction; concurrent
// calls are safe (each call owns its cache). Work runs on libtorch's intra-op threads.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nn/model_config.h"
#include "nn/safetensors.h"

namespace airtune::nn {

/// Per-layer key/value cache: k[i], v[i] are [B, kv_heads, capacity, head_dim]; `length` filled.
struct KVCache {
  std::vector<torch::Tensor> k, v;
  int64_t length = 0;
  int64_t capacity = 0;
};

struct GenerateOptions {
  int64_t max_new_tokens = 32;
  bool do_sample = false;    // false: greedy (argmax)
  double temperature = 1.0;  // > 0; applied first when sampling
  int64_t top_k = 0;         // 0: off
  double top_p = 1.0;        // in (0, 1]; 1: off
  uint64_t seed = 0;         // sampling is deterministic for a given seed, batch and device
  std::vector<int64_t> eos_token_ids;
  int64_t pad_token_id = 0;  // written after a row finished
  /// Optional: called after every step with the token of each row (-1 for rows already finished);
  /// returns the rows to stop now ("stop" reason). Used for stop strings.
  std::function<std::vector<bool>(const std::vector<int64_t>&)> on_step;
};

struct GenerateOutput {
  torch::Tensor tokens;                     // [B, n] int64 on CPU, right-padded with pad_token_id
  std::vector<int64_t> lengths;             // generated tokens per row (EOS included)
  std::vector<std::string> finish_reasons;  // "eos" | "stop" | "length"
};

class Decoder {
 public:
  /// Loads `<path>/config.json` and the safetensors weights. dtype: kFloat32, kBFloat16, kFloat16.
  /// Throws FormatError naming the file/key/tensor for unsupported configs or missing or
  /// mis-shaped weights, IoError for unreadable files. `access`: the weight files are read into
  /// memory (default) or mapped (then they must not change while the Decoder lives).
  Decoder(const std::string& path, torch::Dtype dtype, torch::Device device, FileAccess access = FileAccess::kRead);

  const DecoderConfig& config() const { return config_; }
  torch::Dtype dtype() const { return dtype_; }
  torch::Device device() const { return device_; }

  /// Full-sequence logits [B, S, V] in the model dtype on the model device.
  torch::Tensor logits(const torch::Tensor& input_ids, const std::optional<torch::Tensor>& attention_mask) const;

  /// One forward step. ids [B, S]; position_ids [B, S]; key_valid [B, cache.length + S] bool (which
  /// keys are real tokens). Appends to `cache` when given. Returns logits [B, S or 1, V]
  /// (only the last position when last_only).
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& position_ids, const torch::Tensor& key_valid,
                        KVCache* cache, bool last_only) const;

  KVCache new_cache(int64_t batch, int64_t capacity) const;

  /// Batched generation with a KV cache. input_ids [B, S] (left-padded), attention_mask [B, S].
  /// Throws InvalidArgument when a prompt does not fit in max_position_embeddings (naming the row)
  /// or options are out of range; new tokens are capped so prompt + new <= the context.
  GenerateOutput generate(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                          const GenerateOptions& options) const;

  /// Frozen weights of one layer (read by the LoRA trainer, cpp/nn/lora_model.h). q/k/v rows are
  /// stacked in qkv_w ([q | k | v]), gate/up rows in gate_up_w ([gate | up]).
  struct Layer {
    torch::Tensor qkv_w, qkv_b, o_w, o_b, gate_up_w, gate_up_b, down_w, down_b, ln1, ln2;
    int64_t window = 0;
  };
  const std::vector<Layer>& layers() const { return layers_; }
  /// A copy of this model with other layer weights (same count and shapes, model dtype and device;
  /// checked, InvalidArgument otherwise). Every other tensor is shared with this model, not copied.
  /// Used to generate with LoRA adapters merged in memory (LoraModel::merged_decoder).
  Decoder with_layers(std::vector<Layer> layers) const;
  const torch::Tensor& embed() const { return embed_; }
  const torch::Tensor& final_norm() const { return norm_; }
  const torch::Tensor& lm_head() const { return lm_head_; }
  /// RMSNorm as transformers (fp32 statistics, cast, then weight).
  torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& w) const;
  /// position_ids [B, S] -> (cos, sin) [B, S, head_dim] in the model dtype.
  std::pair<torch::Tensor, torch::Tensor> rope(const torch::Tensor& position_ids) const;

 private:
  DecoderConfig config_;
  torch::Dtype dtype_;
  torch::Device device_;
  torch::Tensor embed_, norm_, lm_head_, inv_freq_;
  std::vector<Layer> layers_;
};

/// Additive attention mask [B, 1, S, T] (0 = visible, dtype minimum = hidden) for queries at cache
/// positions past..past+S-1 over keys 0..T-1; key_valid [B, T] bool; window 0 = full causal.
torch::Tensor attention_mask_for(const torch::Tensor& key_valid, int64_t past, int64_t s, int64_t window,
                                 torch::Dtype dtype);

/// Sampling helpers (exposed for tests). logits [B, V] float32 -> next tokens [B] int64.
torch::Tensor sample_next(const torch::Tensor& logits, const GenerateOptions& options, torch::Generator& gen);

}  // namespace airtune::nn
