// Pre-norm RoPE decoders on libtorch, op-for-op as transformers: Llama 2/3/3.1, Mistral, Qwen2
// (modeling_llama: RMSNorm in fp32 then cast, half-split RoPE default/linear/llama3 computed in fp32,
// GQA attention through scaled_dot_product_attention, SwiGLU MLP, tied or separate lm_head), Gemma
// (RMSNorm times 1 + w in fp32, embeddings times sqrt(hidden), GeGLU with the tanh GELU), Gemma 2
// (plus norms after attention and MLP, attention scale query_pre_attn_scalar^-0.5, attention-score
// and final-logit softcapping with eager attention, alternating sliding windows), Gemma 3 (plus
// q/k RMSNorm, a second RoPE for sliding layers) and Phi-3 (fused qkv_proj / gate_up_proj in the
// checkpoint, partial rotary). One layer function (layer_forward) serves inference and training:
// the LoRA model passes LayerHooks that add its adapters.
//
// Quantized bases (nn/quantized.h): the seven projections of every layer can be held as NF4 or int8
// blocks, quantized at load (QuantOptions) or read from a bitsandbytes NF4 checkpoint; they are
// dequantized panel by panel inside each matmul. Embeddings, norms and lm_head stay in the model dtype.
//
// Shapes: input_ids / attention_mask are [B, S] (int64 / any integer or bool, 1 = real token).
// Padding may be on either side; position ids are cumsum(attention_mask) - 1 (as transformers'
// generate does), so a left-padded row gives the same logits as the unpadded row.
// Memory: weights are kept in the requested dtype on the requested device (quantized projections
// in their packed form). q/k/v and gate/up are fused into one matrix each at load (a copy). On the
// CPU every tensor owns its memory, so the file's bytes are released after loading, unless the files
// are mapped (FileAccess::kMap: tensors then alias the mapping; see nn/safetensors.h); streamed
// (FileAccess::kStream, LoraModel's) reads one tensor at a time, so a quantized base never holds the
// dense file. A KV cache
// holds 2 x layers x B x kv_heads x max_len x head_dim. Thread safety: a Decoder is immutable after construction;
// concurrent calls are safe (each call owns its cache). Work runs on libtorch's intra-op threads.
#pragma once

#include <torch/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nn/model_config.h"
#include "nn/onednn_linear.h"
#include "nn/quantized.h"
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

/// The fused matrices of a layer: q/k/v rows stacked [q | k | v], gate/up rows [gate | up].
enum class Matrix { kQKV = 0, kO = 1, kGateUp = 2, kDown = 3 };
inline constexpr int kNumMatrices = 4;
/// The norms of a layer: input_layernorm (kAttnIn), the norm before the MLP (kMlpIn: Llama's
/// post_attention_layernorm, Gemma 2's pre_feedforward_layernorm), Gemma 2/3's norms of the
/// attention and MLP outputs (kAttnOut = post_attention_layernorm, kMlpOut =
/// post_feedforward_layernorm), Gemma 3's q_norm / k_norm (over head_dim).
enum class Norm { kAttnIn = 0, kAttnOut = 1, kMlpIn = 2, kMlpOut = 3, kQ = 4, kK = 5 };
inline constexpr int kNumNorms = 6;

/// One fused matrix of a layer: dense ([rows, cols], model dtype) or quantized, plus its bias.
struct LayerMatrix {
  torch::Tensor w;                           // undefined when quantized
  std::shared_ptr<const QuantizedMatrix> q;  // null when dense
  torch::Tensor b;                           // [rows] or undefined
  FrozenPack pack;                           // w packed for oneDNN while a trainer holds it (Decoder::pack_frozen)
  bool quantized() const { return q != nullptr; }
  int64_t rows() const { return q ? q->rows : w.size(0); }
  int64_t cols() const { return q ? q->cols : w.size(1); }
};

/// What a forward pass uses in place of the frozen projections and norms (the LoRA model adds its
/// adapters and trainable copies). Decoder::base_hooks() uses the base as it is.
class LayerHooks {
 public:
  virtual ~LayerHooks() = default;
  /// Fused matrix m of layer `layer` applied to x: [..., cols] -> [..., rows], bias included.
  virtual torch::Tensor project(int layer, Matrix m, const torch::Tensor& x) const = 0;
  /// The weight of norm n of layer `layer` (undefined where the architecture has none).
  virtual torch::Tensor norm(int layer, Norm n) const = 0;
};

/// Per-forward inputs shared by the layers.
struct LayerInputs {
  torch::Tensor cos, sin;              // [B, 1, S, rotary_dim] in the model dtype
  torch::Tensor cos_local, sin_local;  // the same for sliding-window layers with their own RoPE, or undefined
  /// Per layer: an additive mask [B, 1, S, T], or undefined (no padding: the kernel's causal mode,
  /// or no mask at all for a one-token step).
  std::vector<torch::Tensor> masks;
};

class Decoder {
 public:
  /// Loads `<path>/config.json` and the safetensors weights. dtype: kFloat32, kBFloat16, kFloat16.
  /// Throws FormatError naming the file/key/tensor for unsupported configs (a quantized checkpoint
  /// format it does not read included) or missing or mis-shaped weights, IoError for unreadable
  /// files. `access`: the weight files are read into memory (default) or mapped (then they must not
  /// change while the Decoder lives). `quant`: quantize the layers' projections at load (ignored for
  /// a bitsandbytes NF4 checkpoint, whose quantized weights are used as they are).
  Decoder(const std::string& path, torch::Dtype dtype, torch::Device device, FileAccess access = FileAccess::kRead,
          const std::optional<QuantOptions>& quant = std::nullopt);

  const DecoderConfig& config() const { return config_; }
  torch::Dtype dtype() const { return dtype_; }
  torch::Device device() const { return device_; }
  /// The quantization of the projections (nullopt: dense).
  const std::optional<QuantOptions>& quantization() const { return quant_; }

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

  /// Frozen weights of one layer (read by the LoRA model, cpp/nn/lora_model.h).
  struct Layer {
    std::array<LayerMatrix, kNumMatrices> m;
    std::array<torch::Tensor, kNumNorms> norms;
    int64_t window = 0;
    const LayerMatrix& matrix(Matrix k) const { return m[static_cast<size_t>(k)]; }
    LayerMatrix& matrix(Matrix k) { return m[static_cast<size_t>(k)]; }
    const torch::Tensor& norm(Norm n) const { return norms[static_cast<size_t>(n)]; }
  };
  const std::vector<Layer>& layers() const { return layers_; }
  /// A copy of this model with other layer weights (same count and shapes; dense matrices in the
  /// model dtype and device; checked, InvalidArgument otherwise). Every other tensor is shared with
  /// this model, not copied. Used to generate with LoRA adapters merged in memory.
  Decoder with_layers(std::vector<Layer> layers) const;
  /// A copy with other embedding, final-norm and lm_head weights (undefined: keep this model's).
  Decoder with_head(torch::Tensor embed, torch::Tensor final_norm, torch::Tensor lm_head) const;
  const torch::Tensor& embed() const { return embed_; }
  const torch::Tensor& final_norm() const { return norm_; }
  const torch::Tensor& lm_head() const { return lm_head_; }

  /// The frozen matrix m of layer i applied to x (dense, through its oneDNN packs when packed, or
  /// dequantized panel by panel), bias included.
  torch::Tensor base_project(int layer, Matrix m, const torch::Tensor& x) const;
  /// Packs the dense float32 projections of every layer, and the lm_head when `lm_head`, for oneDNN
  /// (nn/onednn_linear.h: about 2.3x MKL's float32 GEMM on AMD CPUs), forward and input gradient:
  /// base_project and lm_head_pack() then serve the frozen matmuls of a training step. Memory: two
  /// packed copies beside each packed matrix, until unpack_frozen(). Returns false and packs
  /// nothing off the CPU, for other dtypes (bf16 GEMMs already run in oneDNN) or without oneDNN.
  bool pack_frozen(bool lm_head);
  /// Frees the packs (the plain weights were kept).
  void unpack_frozen();
  /// The lm_head's packs (undefined unless pack_frozen(true)).
  const FrozenPack& lm_head_pack() const { return lm_head_pack_; }
  /// Hooks that use this model's own weights.
  std::unique_ptr<LayerHooks> base_hooks() const;
  /// One decoder layer [B, S, H] -> [B, S, H]. `cache` (optional) receives this layer's keys and
  /// values after position cache->length (the caller advances the length after the last layer).
  torch::Tensor layer_forward(int layer, const torch::Tensor& x, const LayerInputs& in, KVCache* cache,
                              const LayerHooks& hooks) const;
  /// Token embeddings of `ids` from `weight` [V, H] (the base's or a trainable copy), scaled as the
  /// architecture does (Gemma).
  torch::Tensor embed_tokens(const torch::Tensor& ids, const torch::Tensor& weight) const;
  /// Logits of final hidden states `h` (already normed) with lm_head `weight`, softcapped as the
  /// architecture does (Gemma 2), in the model dtype.
  torch::Tensor head_logits(const torch::Tensor& h, const torch::Tensor& weight) const;
  /// RMSNorm as transformers (Llama: fp32 statistics, cast, then weight; Gemma: times 1 + w in fp32).
  torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& w) const;
  /// position_ids [B, S] -> the RoPE tables of LayerInputs (cos/sin [B, 1, S, rotary_dim]).
  void rope(const torch::Tensor& position_ids, LayerInputs& in) const;
  /// Whether attention needs an explicit mask even without padding (eager attention: softcapping).
  bool eager_attention() const { return config_.attn_softcap > 0; }

 private:
  DecoderConfig config_;
  torch::Dtype dtype_;
  torch::Device device_;
  std::optional<QuantOptions> quant_;
  torch::Tensor embed_, norm_, lm_head_, inv_freq_, inv_freq_local_;
  FrozenPack lm_head_pack_;
  std::vector<Layer> layers_;
};

/// Additive attention mask [B, 1, S, T] (0 = visible, dtype minimum = hidden) for queries at cache
/// positions past..past+S-1 over keys 0..T-1; key_valid [B, T] bool; window 0 = full causal.
torch::Tensor attention_mask_for(const torch::Tensor& key_valid, int64_t past, int64_t s, int64_t window,
                                 torch::Dtype dtype);

/// Sampling helpers (exposed for tests). logits [B, V] float32 -> next tokens [B] int64.
torch::Tensor sample_next(const torch::Tensor& logits, const GenerateOptions& options, torch::Generator& gen);

}  // namespace airtune::nn
