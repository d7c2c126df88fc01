#include "nn/model_config.h"

#include <simdjson.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/errors.h"

namespace airtune::nn {

namespace {

namespace fs = std::filesystem;

std::string read_config_text(const std::string& path, std::string* source) {
  fs::path p(path);
  if (fs::is_directory(p)) p /= "config.json";
  *source = p.string();
  std::ifstream in(p, std::ios::binary);
  if (!in) throw IoError(p.string() + ": cannot open (a model folder needs config.json)");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Json {
 public:
  Json(const std::string& text, const std::string& source) : source_(source) {
    if (auto err = parser_.parse(text).get(root_))
      throw FormatError(source + ": not valid JSON: " + simdjson::error_message(err));
    if (root_.get_object().get(obj_)) throw FormatError(source + ": not a JSON object");
  }

  bool has(simdjson::dom::object o, std::string_view key) const {
    simdjson::dom::element e;
    return !o[key].get(e) && !e.is_null();
  }
  bool has(std::string_view key) const { return has(obj_, key); }
  /// The key is there, null or not.
  bool present(std::string_view key) const {
    simdjson::dom::element e;
    return !obj_[key].get(e);
  }

  int64_t integer(simdjson::dom::object o, std::string_view key, int64_t def, bool required,
                  const std::string& where = "") const {
    simdjson::dom::element e;
    if (o[key].get(e) || e.is_null()) {
      if (required) throw FormatError(source_ + ": missing required key '" + where + std::string(key) + "'");
      return def;
    }
    int64_t v = 0;
    if (e.get_int64().get(v)) {
      double d = 0;
      if (e.get_double().get(d) || d != static_cast<double>(static_cast<int64_t>(d)))
        throw FormatError(source_ + ": key '" + where + std::string(key) + "' must be an integer");
      v = static_cast<int64_t>(d);
    }
    return v;
  }
  int64_t integer(std::string_view key, int64_t def, bool required = false) const {
    return integer(obj_, key, def, required);
  }
  double number(simdjson::dom::object o, std::string_view key, double def, const std::string& where = "") const {
    simdjson::dom::element e;
    if (o[key].get(e) || e.is_null()) return def;
    double d = 0;
    if (e.get_double().get(d)) {
      int64_t i = 0;
      if (e.get_int64().get(i))
        throw FormatError(source_ + ": key '" + where + std::string(key) + "' must be a number");
      d = static_cast<double>(i);
    }
    return d;
  }
  double number(std::string_view key, double def) const { return number(obj_, key, def); }
  bool boolean(std::string_view key, bool def) const {
    simdjson::dom::element e;
    if (obj_[key].get(e) || e.is_null()) return def;
    bool b = false;
    if (e.get_bool().get(b)) throw FormatError(source_ + ": key '" + std::string(key) + "' must be true or false");
    return b;
  }
  std::string string(simdjson::dom::object o, std::string_view key, const std::string& def,
                     const std::string& where = "") const {
    simdjson::dom::element e;
    if (o[key].get(e) || e.is_null()) return def;
    std::string_view s;
    if (e.get_string().get(s)) throw FormatError(source_ + ": key '" + where + std::string(key) + "' must be a string");
    return std::string(s);
  }
  std::string string(std::string_view key, const std::string& def) const { return string(obj_, key, def); }
  bool object(std::string_view key, simdjson::dom::object* out) const {
    simdjson::dom::element e;
    if (obj_[key].get(e) || e.is_null()) return false;
    if (e.get_object().get(*out)) throw FormatError(source_ + ": key '" + std::string(key) + "' must be an object");
    return true;
  }
  /// An integer or a list of integers (eos_token_id).
  std::vector<int64_t> int_list(std::string_view key) const {
    std::vector<int64_t> out;
    simdjson::dom::element e;
    if (obj_[key].get(e) || e.is_null()) return out;
    simdjson::dom::array arr;
    if (!e.get_array().get(arr)) {
      for (auto x : arr) {
        int64_t v;
        if (x.get_int64().get(v)) throw FormatError(source_ + ": key '" + std::string(key) + "' must hold integers");
        out.push_back(v);
      }
      return out;
    }
    int64_t v;
    if (e.get_int64().get(v))
      throw FormatError(source_ + ": key '" + std::string(key) + "' must be an integer or a list");
    out.push_back(v);
    return out;
  }
  std::vector<std::string> string_list(std::string_view key) const {
    std::vector<std::string> out;
    simdjson::dom::element e;
    if (obj_[key].get(e) || e.is_null()) return out;
    simdjson::dom::array arr;
    if (e.get_array().get(arr)) throw FormatError(source_ + ": key '" + std::string(key) + "' must be a list");
    for (auto x : arr) {
      std::string_view s;
      if (x.get_string().get(s)) throw FormatError(source_ + ": key '" + std::string(key) + "' must hold strings");
      out.emplace_back(s);
    }
    return out;
  }
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
  simdjson::dom::object obj_;
};

void require_positive(const std::string& source, const char* key, int64_t v) {
  if (v <= 0)
    throw FormatError(source + ": key '" + key + "' must be a positive integer (got " + std::to_string(v) + ")");
}

// The sizes every transformer config has (decoder and encoder): required and positive.
template <typename Config>
void read_dimensions(const Json& j, const std::string& source, Config& c) {
  c.vocab_size = j.integer("vocab_size", 0, true);
  c.hidden_size = j.integer("hidden_size", 0, true);
  c.intermediate_size = j.integer("intermediate_size", 0, true);
  c.num_hidden_layers = j.integer("num_hidden_layers", 0, true);
  c.num_attention_heads = j.integer("num_attention_heads", 0, true);
  require_positive(source, "vocab_size", c.vocab_size);
  require_positive(source, "hidden_size", c.hidden_size);
  require_positive(source, "intermediate_size", c.intermediate_size);
  require_positive(source, "num_hidden_layers", c.num_hidden_layers);
  require_positive(source, "num_attention_heads", c.num_attention_heads);
}

}  // namespace

DecoderConfig DecoderConfig::from_file(const std::string& path) {
  std::string source;
  std::string text = read_config_text(path, &source);
  return from_json(text, source);
}

namespace {

const char* const kDecoderTypes[] = {"llama", "mistral", "qwen2", "gemma", "gemma2", "gemma3_text", "phi3"};

bool known_decoder(const std::string& t) {
  for (const char* k : kDecoderTypes)
    if (t == k) return true;
  return false;
}

// One RoPE description (an object of rope_parameters / rope_scaling); `where` names it in errors.
void read_rope(const Json& j, simdjson::dom::object rope, const std::string& where, int64_t max_pos, RopeConfig& r) {
  const std::string& source = j.source();
  r.theta = j.number(rope, "rope_theta", r.theta, where);
  std::string type = j.string(rope, "rope_type", "", where);
  if (type.empty()) type = j.string(rope, "type", "default", where);
  if (type != "default" && type != "linear" && type != "llama3")
    throw FormatError(source + ": key '" + where + "rope_type' is '" + type +
                      "': unsupported (supported: default, linear, llama3)");
  r.type = type;
  r.factor = j.number(rope, "factor", 1.0, where);
  if (type != "default" && !(r.factor > 0)) throw FormatError(source + ": key '" + where + "factor' must be positive");
  r.low_freq_factor = j.number(rope, "low_freq_factor", 1.0, where);
  r.high_freq_factor = j.number(rope, "high_freq_factor", 4.0, where);
  r.original_max_position_embeddings =
      j.integer(rope, "original_max_position_embeddings", type == "llama3" ? -1 : max_pos, type == "llama3", where);
  if (type == "llama3" && !(r.high_freq_factor > r.low_freq_factor))
    throw FormatError(source + ": key '" + where + "high_freq_factor' must exceed low_freq_factor");
  if (!(r.theta > 0)) throw FormatError(source + ": key '" + where + "rope_theta' must be positive");
}

void read_quantization(const Json& j, DecoderConfig& c) {
  simdjson::dom::object q;
  if (!j.object("quantization_config", &q)) return;
  const std::string& source = j.source();
  const std::string where = "quantization_config.";
  auto flag = [&](const char* key) {
    simdjson::dom::element e;
    bool b = false;
    return !q[key].get(e) && !e.get_bool().get(b) && b;
  };
  c.quantization.method =
      j.string(q, "quant_method", flag("load_in_4bit") || flag("load_in_8bit") ? "bitsandbytes" : "", where);
  const std::string supported =
      " (airtune reads bitsandbytes NF4 checkpoints, load_in_4bit with bnb_4bit_quant_type nf4; otherwise give "
      "the unquantized checkpoint and quantization='nf4' or 'int8', which quantizes it at load)";
  if (c.quantization.method != "bitsandbytes")
    throw FormatError(source + ": key '" + where + "quant_method' is '" + c.quantization.method +
                      "': a quantized checkpoint format airtune does not read" + supported);
  if (flag("load_in_8bit"))
    throw FormatError(source + ": key '" + where +
                      "load_in_8bit' is true: bitsandbytes 8-bit (LLM.int8) checkpoints are not read" + supported);
  const std::string type = j.string(q, "bnb_4bit_quant_type", "fp4", where);
  if (!flag("load_in_4bit") || type != "nf4")
    throw FormatError(source + ": key '" + where + "bnb_4bit_quant_type' is '" + type +
                      "': only nf4 bitsandbytes checkpoints are read" + supported);
  c.quantization.bnb_nf4 = true;
  c.quantization.double_quant = flag("bnb_4bit_use_double_quant");
}

}  // namespace

DecoderConfig DecoderConfig::from_json(const std::string& text, const std::string& source) {
  Json j(text, source);
  DecoderConfig c;
  c.model_type = j.string("model_type", "");
  auto archs = j.string_list("architectures");
  if (c.model_type.empty() && !archs.empty()) {
    const std::pair<const char*, const char*> prefixes[] = {
        {"Llama", "llama"},   {"Mistral", "mistral"}, {"Qwen2", "qwen2"}, {"Gemma3", "gemma3_text"},
        {"Gemma2", "gemma2"}, {"Gemma", "gemma"},     {"Phi3", "phi3"}};
    for (const auto& [prefix, type] : prefixes)
      if (archs[0].rfind(prefix, 0) == 0) {
        c.model_type = type;
        break;
      }
  }
  if (!known_decoder(c.model_type)) {
    throw FormatError(source + ": key 'model_type' is '" + c.model_type +
                      "': unsupported architecture (supported decoders: llama, mistral, qwen2, gemma, gemma2, "
                      "gemma3_text, phi3)");
  }
  const std::string& t = c.model_type;
  const bool gemma = t == "gemma" || t == "gemma2" || t == "gemma3_text";
  read_dimensions(j, source, c);
  c.num_key_value_heads = j.integer("num_key_value_heads", c.num_attention_heads);
  require_positive(source, "num_key_value_heads", c.num_key_value_heads);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    throw FormatError(source + ": key 'num_key_value_heads' (" + std::to_string(c.num_key_value_heads) +
                      ") must divide num_attention_heads (" + std::to_string(c.num_attention_heads) + ")");
  c.head_dim = j.integer("head_dim", 0);
  if (c.head_dim == 0) {
    if (c.hidden_size % c.num_attention_heads != 0)
      throw FormatError(source + ": hidden_size is not a multiple of num_attention_heads and no head_dim is given");
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.head_dim % 2 != 0) throw FormatError(source + ": key 'head_dim' must be even for rotary embeddings");
  c.max_position_embeddings = j.integer("max_position_embeddings", 2048);
  require_positive(source, "max_position_embeddings", c.max_position_embeddings);
  c.rms_norm_eps = j.number("rms_norm_eps", 1e-6);

  // Activation: Gemma 2/3 name it hidden_activation; Gemma's legacy "gelu" means the tanh approximation.
  std::string act = j.string("hidden_activation", "");
  if (act.empty()) act = j.string("hidden_act", gemma ? "gelu_pytorch_tanh" : "silu");
  if (act == "silu" || act == "swish") {
    c.activation = "silu";
  } else if (act == "gelu_pytorch_tanh" || (t == "gemma" && act == "gelu")) {
    c.activation = "gelu_tanh";
  } else {
    throw FormatError(source + ": key 'hidden_act' is '" + act +
                      "': unsupported (decoders: silu, or gelu_pytorch_tanh for Gemma)");
  }

  // RoPE: v5 rope_parameters (per layer type for Gemma 3), else v4 rope_theta + rope_scaling.
  c.rope.theta = j.number("rope_theta", 10000.0);
  simdjson::dom::object rope;
  double partial = j.number("partial_rotary_factor", 1.0);
  if (j.object("rope_parameters", &rope)) {
    simdjson::dom::element full, local;
    const bool per_type = !rope["full_attention"].get(full) || !rope["sliding_attention"].get(local);
    if (per_type) {
      simdjson::dom::object o;
      if (!rope["full_attention"].get(full) && !full.get_object().get(o))
        read_rope(j, o, "rope_parameters.full_attention.", c.max_position_embeddings, c.rope);
      if (!rope["sliding_attention"].get(local) && !local.get_object().get(o)) {
        c.rope_local.theta = 10000.0;
        read_rope(j, o, "rope_parameters.sliding_attention.", c.max_position_embeddings, c.rope_local);
        c.has_local_rope = true;
      }
    } else {
      read_rope(j, rope, "rope_parameters.", c.max_position_embeddings, c.rope);
      partial = j.number(rope, "partial_rotary_factor", partial, "rope_parameters.");
    }
  } else {
    if (j.object("rope_scaling", &rope)) read_rope(j, rope, "rope_scaling.", c.max_position_embeddings, c.rope);
    if (t == "gemma3_text") {
      c.rope_local.theta = j.number("rope_local_base_freq", 10000.0);
      c.has_local_rope = true;
    }
  }
  if (!(c.rope.theta > 0)) throw FormatError(source + ": key 'rope_theta' must be positive");
  if (!(partial > 0 && partial <= 1)) throw FormatError(source + ": key 'partial_rotary_factor' must be in (0, 1]");
  c.rotary_dim = static_cast<int64_t>(static_cast<double>(c.head_dim) * partial);
  if (c.rotary_dim <= 0 || c.rotary_dim % 2 != 0)
    throw FormatError(source + ": partial_rotary_factor x head_dim must be a positive even number of dims");

  if (t == "qwen2") {
    c.attention_bias = true;  // q/k/v biases are part of the architecture
    c.o_proj_bias = false;
  } else if (t == "llama" || gemma) {
    c.attention_bias = j.boolean("attention_bias", false);
    c.o_proj_bias = c.attention_bias;
    c.mlp_bias = t == "llama" && j.boolean("mlp_bias", false);
  }
  c.tie_word_embeddings = j.boolean("tie_word_embeddings", gemma);
  if (gemma) {
    c.norm_plus_one = true;
    c.embed_scale = std::sqrt(static_cast<double>(c.hidden_size));
  }
  if (t == "gemma2" || t == "gemma3_text") {
    c.sandwich_norms = true;
    const double scalar = j.number("query_pre_attn_scalar", 256.0);
    if (!(scalar > 0)) throw FormatError(source + ": key 'query_pre_attn_scalar' must be positive");
    c.attn_scale = 1.0 / std::sqrt(scalar);
    // transformers' defaults apply when the key is absent; null turns softcapping off
    const bool g2 = t == "gemma2";
    c.attn_softcap = j.number("attn_logit_softcapping", g2 && !j.present("attn_logit_softcapping") ? 50.0 : 0.0);
    c.final_softcap = j.number("final_logit_softcapping", g2 && !j.present("final_logit_softcapping") ? 30.0 : 0.0);
    if (c.attn_softcap < 0 || c.final_softcap < 0)
      throw FormatError(source + ": softcapping values must be positive or null");
  }
  c.qk_norm = t == "gemma3_text";
  c.fused_projections = t == "phi3";

  // Attention windows per layer.
  int64_t window = j.integer("sliding_window", 0);
  if (window < 0) throw FormatError(source + ": key 'sliding_window' must be positive or null");
  c.layer_window.assign(static_cast<size_t>(c.num_hidden_layers), 0);
  auto layer_types = j.string_list("layer_types");
  if (layer_types.empty() && (t == "gemma2" || t == "gemma3_text") && window > 0) {
    // transformers' defaults: Gemma 2 alternates sliding/full; Gemma 3 has one full layer in sliding_window_pattern
    const int64_t pattern = t == "gemma2" ? 2 : j.integer("sliding_window_pattern", 6);
    if (pattern <= 0) throw FormatError(source + ": key 'sliding_window_pattern' must be positive");
    for (int64_t i = 0; i < c.num_hidden_layers; ++i)
      layer_types.push_back((i + 1) % pattern ? "sliding_attention" : "full_attention");
  }
  if (!layer_types.empty()) {
    if (static_cast<int64_t>(layer_types.size()) != c.num_hidden_layers)
      throw FormatError(source + ": key 'layer_types' has " + std::to_string(layer_types.size()) + " entries for " +
                        std::to_string(c.num_hidden_layers) + " layers");
    for (size_t i = 0; i < layer_types.size(); ++i) {
      if (layer_types[i] == "sliding_attention") {
        if (window <= 0)
          throw FormatError(source + ": layer_types asks for sliding_attention but sliding_window is null");
        c.layer_window[i] = window;
      } else if (layer_types[i] != "full_attention") {
        throw FormatError(source + ": key 'layer_types[" + std::to_string(i) + "]' is '" + layer_types[i] +
                          "': unsupported");
      }
    }
  } else if ((t == "mistral" || t == "phi3") && window > 0) {
    c.layer_window.assign(static_cast<size_t>(c.num_hidden_layers), window);
  } else if (t == "qwen2" && j.boolean("use_sliding_window", false) && window > 0) {
    int64_t max_window_layers = j.integer("max_window_layers", c.num_hidden_layers);
    for (int64_t i = max_window_layers; i < c.num_hidden_layers; ++i) c.layer_window[static_cast<size_t>(i)] = window;
  }
  if (j.boolean("use_bidirectional_attention", false))
    throw FormatError(source + ": key 'use_bidirectional_attention' is true: only causal decoders are supported");

  c.eos_token_ids = j.int_list("eos_token_id");
  c.bos_token_id = j.integer("bos_token_id", -1);
  c.pad_token_id = j.integer("pad_token_id", -1);
  read_quantization(j, c);
  return c;
}

BnbQuantState parse_bnb_quant_state(const std::string& text, const std::string& source) {
  Json j(text, source);
  BnbQuantState q;
  q.quant_type = j.string("quant_type", "");
  q.blocksize = j.integer("blocksize", 0, true);
  q.nested = j.has("nested_blocksize");
  if (q.nested) {
    q.nested_blocksize = j.integer("nested_blocksize", 0, true);
    q.nested_offset = j.number("nested_offset", NAN);
    if (!std::isfinite(q.nested_offset)) throw FormatError(source + ": key 'nested_offset' must be a finite number");
  }
  q.shape = j.int_list("shape");
  if (q.blocksize <= 0) throw FormatError(source + ": key 'blocksize' must be positive");
  return q;
}

EncoderConfig EncoderConfig::from_file(const std::string& path) {
  std::string source;
  std::string text = read_config_text(path, &source);
  return from_json(text, source);
}

EncoderConfig EncoderConfig::from_json(const std::string& text, const std::string& source) {
  Json j(text, source);
  EncoderConfig c;
  c.model_type = j.string("model_type", "");
  if (c.model_type != "bert")
    throw FormatError(source + ": key 'model_type' is '" + c.model_type +
                      "': unsupported architecture (supported encoders: bert)");
  read_dimensions(j, source, c);
  if (c.hidden_size % c.num_attention_heads != 0)
    throw FormatError(source + ": hidden_size must be a multiple of num_attention_heads");
  c.max_position_embeddings = j.integer("max_position_embeddings", 512);
  c.type_vocab_size = j.integer("type_vocab_size", 2);
  c.layer_norm_eps = j.number("layer_norm_eps", 1e-12);
  c.hidden_act = j.string("hidden_act", "gelu");
  if (c.hidden_act != "gelu" && c.hidden_act != "gelu_new" && c.hidden_act != "relu" &&
      c.hidden_act != "gelu_pytorch_tanh")
    throw FormatError(source + ": key 'hidden_act' is '" + c.hidden_act + "': unsupported");
  std::string pos = j.string("position_embedding_type", "absolute");
  if (pos != "absolute")
    throw FormatError(source + ": key 'position_embedding_type' is '" + pos + "': only absolute is supported");
  return c;
}

}  // namespace airtune::nn
