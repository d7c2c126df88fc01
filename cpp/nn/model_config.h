// Model configurations read from a Hugging Face `config.json` (torch-free).
//
// DecoderConfig covers the Llama family: model_type llama, mistral, qwen2 (and architectures
// LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM). Both transformers v4 keys
// (`rope_theta`, `rope_scaling`) and v5 keys (`rope_parameters`) are read. RoPE types: default,
// linear, llama3; anything else is rejected with the key named.
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
  /// Per layer: 0 = full attention, else the sliding window (keys with q_pos - k_pos < window).
  std::vector<int64_t> layer_window;
  std::vector<int64_t> eos_token_ids;
  int64_t bos_token_id = -1;
  int64_t pad_token_id = -1;

  /// Parses `<folder>/config.json` (or the given file).
  static DecoderConfig from_file(const std::string& path);
  static DecoderConfig from_json(const std::string& json, const std::string& source);
};

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
