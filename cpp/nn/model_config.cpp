#include "nn/model_config.h"

#include <simdjson.h>

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

DecoderConfig DecoderConfig::from_json(const std::string& text, const std::string& source) {
  Json j(text, source);
  DecoderConfig c;
  c.model_type = j.string("model_type", "");
  auto archs = j.string_list("architectures");
  if (c.model_type.empty() && !archs.empty()) {
    if (archs[0].rfind("Llama", 0) == 0) c.model_type = "llama";
    if (archs[0].rfind("Mistral", 0) == 0) c.model_type = "mistral";
    if (archs[0].rfind("Qwen2", 0) == 0) c.model_type = "qwen2";
  }
  if (c.model_type != "llama" && c.model_type != "mistral" && c.model_type != "qwen2") {
    throw FormatError(source + ": key 'model_type' is '" + c.model_type +
                      "': unsupported architecture (supported decoders: llama, mistral, qwen2)");
  }
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
  std::string act = j.string("hidden_act", "silu");
  if (act != "silu" && act != "swish")
    throw FormatError(source + ": key 'hidden_act' is '" + act + "': only silu is supported for decoders");

  // RoPE: v5 rope_parameters, else v4 rope_theta + rope_scaling.
  simdjson::dom::object rope;
  std::string where;
  bool have_rope = false;
  c.rope.theta = j.number("rope_theta", 10000.0);
  if (j.object("rope_parameters", &rope)) {
    have_rope = true;
    where = "rope_parameters.";
    c.rope.theta = j.number(rope, "rope_theta", c.rope.theta, where);
  } else if (j.object("rope_scaling", &rope)) {
    have_rope = true;
    where = "rope_scaling.";
  }
  if (have_rope) {
    std::string type = j.string(rope, "rope_type", "", where);
    if (type.empty()) type = j.string(rope, "type", "default", where);
    if (type != "default" && type != "linear" && type != "llama3")
      throw FormatError(source + ": key '" + where + "rope_type' is '" + type +
                        "': unsupported (supported: default, linear, llama3)");
    c.rope.type = type;
    c.rope.factor = j.number(rope, "factor", 1.0, where);
    if (type != "default" && !(c.rope.factor > 0))
      throw FormatError(source + ": key '" + where + "factor' must be positive");
    c.rope.low_freq_factor = j.number(rope, "low_freq_factor", 1.0, where);
    c.rope.high_freq_factor = j.number(rope, "high_freq_factor", 4.0, where);
    c.rope.original_max_position_embeddings =
        j.integer(rope, "original_max_position_embeddings", type == "llama3" ? -1 : c.max_position_embeddings,
                  type == "llama3", where);
    if (type == "llama3" && !(c.rope.high_freq_factor > c.rope.low_freq_factor))
      throw FormatError(source + ": key '" + where + "high_freq_factor' must exceed low_freq_factor");
  }
  if (!(c.rope.theta > 0)) throw FormatError(source + ": key 'rope_theta' must be positive");

  if (c.model_type == "qwen2") {
    c.attention_bias = true;  // q/k/v biases are part of the architecture
    c.o_proj_bias = false;
  } else if (c.model_type == "llama") {
    c.attention_bias = j.boolean("attention_bias", false);
    c.o_proj_bias = c.attention_bias;
    c.mlp_bias = j.boolean("mlp_bias", false);
  }
  c.tie_word_embeddings = j.boolean("tie_word_embeddings", c.model_type == "qwen2" ? false : false);

  // Attention windows per layer.
  int64_t window = j.integer("sliding_window", 0);
  if (window < 0) throw FormatError(source + ": key 'sliding_window' must be positive or null");
  c.layer_window.assign(static_cast<size_t>(c.num_hidden_layers), 0);
  auto layer_types = j.string_list("layer_types");
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
  } else if (c.model_type == "mistral" && window > 0) {
    c.layer_window.assign(static_cast<size_t>(c.num_hidden_layers), window);
  } else if (c.model_type == "qwen2" && j.boolean("use_sliding_window", false) && window > 0) {
    int64_t max_window_layers = j.integer("max_window_layers", c.num_hidden_layers);
    for (int64_t i = max_window_layers; i < c.num_hidden_layers; ++i) c.layer_window[static_cast<size_t>(i)] = window;
  }

  c.eos_token_ids = j.int_list("eos_token_id");
  c.bos_token_id = j.integer("bos_token_id", -1);
  c.pad_token_id = j.integer("pad_token_id", -1);
  return c;
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
