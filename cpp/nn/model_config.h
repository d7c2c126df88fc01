// Model configurations read from a Hugging Face `config.json` (torch-free).
//
// DecoderConfig covers pre-norm decoders with RoPE and gated MLPs: model_type llama, mistral, qwen2,
// gemma, gemma2, gemma3_text and phi3 (or the matching architectures name). Both transformers v4
// keys (`rope_theta`, `rope_scaling`, `rope_local_base_freq`, `sliding_window_pattern`) and v5 keys
// (`rope_parameters`, per layer type for Gemma 3; `layer_types`) are read. RoPE types: default,
// linear, llama3; anything else is rejected with the key named. A `quantization_config` is read
// into CheckpointQuantization: bitsandbytes NF4 checkpoints (load_in_4bit) are loaded as they are;
// any other quantized format is refused with its quant_method named.
// EncoderConfig covers BERT-family encoders (model_type bert: MiniLM, BGE, ...).
// Errors: IoError (file), FormatError naming the file and key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace airtune::nn {

struct RopeConfig {
  std::string type = "default";  // default | linear | llama3
  double theta = 10000.0;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

/// The `quantization_config` of a checkpoint (empty method: an unquantized checkpoint).
struct CheckpointQuantization {
  std::string method;    // quant_method ("bitsandbytes", "gptq", ...)
  bool bnb_nf4 = false;  // bitsandbytes load_in_4bit with bnb_4bit_quant_type nf4: read as it is
  bool double_quant = false;
};

struct DecoderConfig {
  std::string model_type;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  RopeConfig rope;
  bool attention_bias = false;  // q/k/v/o biases (qwen2: q/k/v only)
  bool o_proj_bias = false;
  bool mlp_bias = false;
  bool tie_word_embeddings = false;
  // Architecture variants (Llama's are the defaults).
  std::string activation = "silu";  // silu | gelu_tanh (Gemma's gelu_pytorch_tanh)
  bool norm_plus_one = false;       // Gemma: RMSNorm computed in fp32 times (1 + w), then cast
  double embed_scale = 0.0;         // > 0: embeddings times this (Gemma: sqrt(hidden_size) in the model dtype)
  double attn_scale = 0.0;          // attention scale; 0: head_dim^-0.5 (Gemma 2/3: query_pre_attn_scalar^-0.5)
  double attn_softcap = 0.0;        // > 0: scores = cap * tanh(scores / cap) (Gemma 2), eager attention
  double final_softcap = 0.0;       // > 0: logits = cap * tanh(logits / cap) (Gemma 2)
  bool sandwich_norms = false;      // Gemma 2/3: norms after attention and after the MLP, one before the MLP
  bool qk_norm = false;             // Gemma 3: RMSNorm over head_dim on q and k before RoPE
  bool fused_projections = false;   // Phi-3: the checkpoint holds qkv_proj and gate_up_proj fused
  int64_t rotary_dim = 0;           // rotated dims of each head (partial_rotary_factor x head_dim)
  /// RoPE of the sliding-window layers when it differs from `rope` (Gemma 3); unused otherwise.
  RopeConfig rope_local;
  bool has_local_rope = false;
  CheckpointQuantization quantization;
  /// Per layer: 0 = full attention, else the sliding window (keys with q_pos - k_pos < window).
  std::vector<int64_t> layer_window;
  std::vector<int64_t> eos_token_ids;
  int64_t bos_token_id = -1;
  int64_t pad_token_id = -1;

  /// Parses `<folder>/config.json` (or the given file).
  static DecoderConfig from_file(const std::string& path);
  static DecoderConfig from_json(const std::string& json, const std::string& source);
};

/// The JSON a bitsandbytes 4-bit checkpoint stores for each quantized weight
/// (`<name>.quant_state.bitsandbytes__nf4`, a U8 tensor of UTF-8 text).
struct BnbQuantState {
  std::string quant_type;  // "nf4" (fp4 is refused by the reader)
  int64_t blocksize = 0;
  std::vector<int64_t> shape;
  bool nested = false;  // double quantization
  int64_t nested_blocksize = 0;
  double nested_offset = 0.0;
};
/// Parses that JSON strictly (FormatError naming `source` and the key).
BnbQuantState parse_bnb_quant_state(const std::string& json, const std::string& source);

struct EncoderConfig {
  std::string model_type;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  std::string hidden_act = "gelu";  // gelu (erf) | gelu_new | relu

  static EncoderConfig from_file(const std::string& path);
  static EncoderConfig from_json(const std::string& json, const std::string& source);
};

}  // namespace airtune::nn
