#include "nn/decoder.h"

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "core/errors.h"
#include "nn/causal_attention.h"
#include "nn/lean_autograd.h"
#include "nn/safetensors.h"

namespace airtune::nn {

namespace {

torch::Tensor floating(const WeightStore& w, const std::string& name, std::vector<int64_t> shape) {
  auto t = w.get(name, shape);
  if (!t.is_floating_point())
    throw FormatError(w.source() + ": tensor '" + name + "' has dtype " + std::string(c10::toString(t.scalar_type())) +
                      "; a floating-point weight is expected");
  return t;
}

// A weight in the model dtype on the model device. `own`: never alias the file's bytes (so they
// can be released after loading).
torch::Tensor load(const WeightStore& w, const std::string& name, std::vector<int64_t> shape, torch::Dtype dtype,
                   torch::Device device, bool own) {
  auto t = floating(w, name, std::move(shape));
  auto out = t.to(device, dtype);
  if (own && out.is_alias_of(t)) out = out.clone();
  return out;
}

// The leading pieces of the last dim of `t` (a split when they cover it, else narrows).
std::vector<torch::Tensor> split_last(const torch::Tensor& t, std::vector<int64_t> sizes) {
  int64_t total = 0;
  for (auto n : sizes) total += n;
  if (total == t.size(-1)) return t.split_with_sizes(sizes, -1);
  std::vector<torch::Tensor> out;
  int64_t at = 0;
  for (auto n : sizes) {
    out.push_back(t.narrow(-1, at, n));
    at += n;
  }
  return out;
}

torch::Tensor rotate_half(const torch::Tensor& x) {
  int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

torch::Tensor apply_rope(const torch::Tensor& t, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t rot = cos.size(-1), d = t.size(-1);
  if (rot == d) return t * cos + rotate_half(t) * sin;
  auto r = t.narrow(-1, 0, rot);
  return at::cat({r * cos + rotate_half(r) * sin, t.narrow(-1, rot, d - rot)}, -1);
}

// inv_freq exactly as transformers' rope init functions (fp32) over `dim` rotated dims.
torch::Tensor inv_freq_for(const RopeConfig& r, int64_t dim) {
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  auto inv = 1.0 / at::pow(r.theta, at::arange(0, dim, 2, torch::TensorOptions().dtype(torch::kInt64)).to(f32) /
                                        static_cast<double>(dim));
  if (r.type == "linear") {
    inv = inv / r.factor;
  } else if (r.type == "llama3") {
    const double factor = r.factor, low = r.low_freq_factor, high = r.high_freq_factor;
    const double old_len = static_cast<double>(r.original_max_position_embeddings);
    const double low_wavelen = old_len / low, high_wavelen = old_len / high;
    auto wavelen = 2 * M_PI / inv;
    auto llama = at::where(wavelen > low_wavelen, inv / factor, inv);
    auto smooth = (old_len / wavelen - low) / (high - low);
    auto smoothed = (1 - smooth) * llama / factor + smooth * llama;
    auto medium = at::logical_not(wavelen < high_wavelen) * at::logical_not(wavelen > low_wavelen);
    inv = at::where(medium, smoothed, llama);
  }
  return inv;
}

// A quantized weight of a bitsandbytes NF4 checkpoint, checked against the expected shape.
QuantizedTensor read_bnb_nf4(const WeightStore& w, const std::string& name, int64_t rows, int64_t cols) {
  const std::string state_name = name + ".quant_state.bitsandbytes__nf4";
  auto raw = w.get(state_name).contiguous();
  if (raw.scalar_type() != torch::kUInt8) throw FormatError(w.source() + ": tensor '" + state_name + "' must be U8");
  const std::string text(reinterpret_cast<const char*>(raw.data_ptr<uint8_t>()), static_cast<size_t>(raw.numel()));
  const auto st = parse_bnb_quant_state(text, w.source() + ": " + state_name);
  if (st.quant_type != "nf4")
    throw FormatError(w.source() + ": " + state_name + " has quant_type '" + st.quant_type + "' (only nf4 is read)");
  if (st.shape != std::vector<int64_t>{rows, cols})
    throw FormatError(w.source() + ": " + state_name + " records shape " + c10::str(c10::IntArrayRef(st.shape)) +
                      ", expected [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
  auto code_book = [&](const std::string& key, const float* levels, int64_t n, const char* what) {
    auto t = w.get(key).to(torch::kFloat32).reshape({-1});
    auto want = at::from_blob(const_cast<float*>(levels), {n}, torch::kFloat32);
    if (t.numel() != n || !at::equal(t, want))
      throw FormatError(w.source() + ": tensor '" + key + "' is not the " + what + " code book airtune decodes");
  };
  code_book(name + ".quant_map", nf4_levels().data(), 16, "NF4");
  QuantizedTensor q;
  q.kind = QuantKind::kNF4;
  q.rows = rows;
  q.cols = cols;
  q.block_size = st.blocksize;
  q.codes = w.get(name).reshape({-1}).clone();
  if (st.nested) {
    if (st.nested_blocksize != kNestedBlock)
      throw FormatError(w.source() + ": " + state_name + " has nested_blocksize " +
                        std::to_string(st.nested_blocksize) + " (expected 256)");
    code_book(name + ".nested_quant_map", dynamic_map_levels().data(), 256, "8-bit dynamic");
    q.nested_codes = w.get(name + ".absmax").reshape({-1}).clone();
    q.nested_absmax = w.get(name + ".nested_absmax").reshape({-1}).clone();
    q.nested_offset = static_cast<float>(st.nested_offset);
  } else {
    q.absmax = w.get(name + ".absmax").reshape({-1}).clone();
  }
  q.validate(w.source() + ": " + name);
  return q;
}

struct BaseHooks final : LayerHooks {
  explicit BaseHooks(const Decoder& d) : d_(d) {}
  torch::Tensor project(int layer, Matrix m, const torch::Tensor& x) const override {
    return d_.base_project(layer, m, x);
  }
  torch::Tensor norm(int layer, Norm n) const override { return d_.layers()[static_cast<size_t>(layer)].norm(n); }

 private:
  const Decoder& d_;
};

}  // namespace

// Additive attention mask [B, 1, S, T]: 0 where query i (cache position past + i) may see key j.
torch::Tensor attention_mask_for(const torch::Tensor& key_valid, int64_t past, int64_t s, int64_t window,
                                 torch::Dtype dtype) {
  const int64_t t = key_valid.size(1);
  auto opts = torch::TensorOptions().dtype(torch::kInt64).device(key_valid.device());
  auto q = at::arange(past, past + s, opts).view({s, 1});
  auto k = at::arange(0, t, opts).view({1, t});
  auto allowed = k <= q;
  if (window > 0) allowed = allowed & ((q - k) < window);
  allowed = allowed.unsqueeze(0) & key_valid.view({key_valid.size(0), 1, t});  // [B, S, T]
  auto zero = at::zeros({}, torch::TensorOptions().dtype(dtype).device(key_valid.device()));
  auto neg = at::full({}, at::Scalar(std::numeric_limits<float>::lowest()),
                      torch::TensorOptions().dtype(torch::kFloat32).device(key_valid.device()))
                 .to(dtype);
  if (dtype == torch::kBFloat16 || dtype == torch::kFloat16) {
    neg = at::full({}, dtype == torch::kFloat16 ? -65504.0 : -3.3895313892515355e38,
                   torch::TensorOptions().dtype(dtype).device(key_valid.device()));
  }
  return at::where(allowed, zero, neg).unsqueeze(1);
}

Decoder::Decoder(const std::string& path, torch::Dtype dtype, torch::Device device, FileAccess access,
                 const std::optional<QuantOptions>& quant)
    : config_(DecoderConfig::from_file(path)), dtype_(dtype), device_(device) {
  if (dtype != torch::kFloat32 && dtype != torch::kBFloat16 && dtype != torch::kFloat16)
    throw InvalidArgument("decoder dtype must be float32, bfloat16 or float16");
  namespace fs = std::filesystem;
  fs::path weights_path(path);
  if (!fs::is_directory(weights_path)) weights_path = weights_path.parent_path();
  WeightStore w(weights_path.string(), access);
  const auto& c = config_;
  // kRead: copy what aliases the file's bytes, so they are released after loading; kStream tensors
  // already own their bytes (one tensor of the file at a time), kMap ones alias the mapping.
  const bool own = access == FileAccess::kRead;
  const bool prequantized = c.quantization.bnb_nf4;
  if (!prequantized) quant_ = quant;
  const int64_t h = c.hidden_size, d = c.head_dim, nh = c.num_attention_heads, nkv = c.num_key_value_heads;
  const int64_t inter = c.intermediate_size;
  auto dense = [&](const std::string& name, std::vector<int64_t> shape) {
    return load(w, name, std::move(shape), dtype, device, own);
  };
  embed_ = dense("model.embed_tokens.weight", {c.vocab_size, h});
  norm_ = dense("model.norm.weight", {h});
  if (w.contains("lm_head.weight")) {
    lm_head_ = dense("lm_head.weight", {c.vocab_size, h});
  } else if (c.tie_word_embeddings) {
    lm_head_ = embed_;
  } else {
    throw FormatError(w.source() + ": missing tensor 'lm_head.weight' (and tie_word_embeddings is false)");
  }

  // One fused matrix from its checkpoint modules (name, rows), each dense or quantized.
  struct Part {
    std::string module;
    int64_t rows;
    bool bias;
  };
  auto matrix = [&](const std::string& prefix, const std::vector<Part>& parts, int64_t cols) {
    std::vector<QuantizedTensor> qparts;
    std::vector<torch::Tensor> dparts, biases;
    for (const auto& part : parts) {
      const std::string name = prefix + part.module + ".weight";
      if (prequantized && w.contains(name + ".quant_state.bitsandbytes__nf4")) {
        qparts.push_back(read_bnb_nf4(w, name, part.rows, cols).to(device));
        if (!quant_) quant_ = QuantOptions{QuantKind::kNF4, qparts.back().block_size, qparts.back().nested()};
      } else if (quant_ && !prequantized) {
        qparts.push_back(quantize(floating(w, name, {part.rows, cols}), *quant_, w.source() + ": " + name).to(device));
      } else {
        dparts.push_back(load(w, name, {part.rows, cols}, dtype, device, own && parts.size() == 1));
      }
      if (part.bias) biases.push_back(load(w, prefix + part.module + ".bias", {part.rows}, dtype, device, false));
    }
    LayerMatrix m;
    if (!qparts.empty() && !dparts.empty())
      throw FormatError(w.source() + ": the modules of " + prefix + parts.front().module +
                        " are partly quantized: airtune fuses them into one matrix and needs all or none quantized");
    if (!qparts.empty()) {
      m.q = std::make_shared<const QuantizedMatrix>(std::move(qparts));
    } else {
      m.w = dparts.size() == 1 ? dparts.front() : at::cat(dparts, 0);
    }
    if (!biases.empty())
      m.b = biases.size() == 1 ? (own ? biases.front().clone() : biases.front()) : at::cat(biases, 0);
    return m;
  };
  const int64_t qd = nh * d, kvd = nkv * d;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    Layer L;
    const bool ab = c.attention_bias, mb = c.mlp_bias;
    if (c.fused_projections) {
      L.matrix(Matrix::kQKV) = matrix(p, {{"self_attn.qkv_proj", qd + 2 * kvd, ab}}, h);
      L.matrix(Matrix::kGateUp) = matrix(p, {{"mlp.gate_up_proj", 2 * inter, mb}}, h);
    } else {
      L.matrix(Matrix::kQKV) =
          matrix(p, {{"self_attn.q_proj", qd, ab}, {"self_attn.k_proj", kvd, ab}, {"self_attn.v_proj", kvd, ab}}, h);
      L.matrix(Matrix::kGateUp) = matrix(p, {{"mlp.gate_proj", inter, mb}, {"mlp.up_proj", inter, mb}}, h);
    }
    L.matrix(Matrix::kO) = matrix(p, {{"self_attn.o_proj", h, c.o_proj_bias}}, qd);
    L.matrix(Matrix::kDown) = matrix(p, {{"mlp.down_proj", h, mb}}, inter);
    auto norm = [&](Norm n, const std::string& name, int64_t dim) {
      L.norms[static_cast<size_t>(n)] = dense(p + name + ".weight", {dim});
    };
    norm(Norm::kAttnIn, "input_layernorm", h);
    if (c.sandwich_norms) {
      norm(Norm::kAttnOut, "post_attention_layernorm", h);
      norm(Norm::kMlpIn, "pre_feedforward_layernorm", h);
      norm(Norm::kMlpOut, "post_feedforward_layernorm", h);
    } else {
      norm(Norm::kMlpIn, "post_attention_layernorm", h);
    }
    if (c.qk_norm) {
      norm(Norm::kQ, "self_attn.q_norm", d);
      norm(Norm::kK, "self_attn.k_norm", d);
    }
    L.window = c.layer_window[static_cast<size_t>(i)];
    layers_.push_back(std::move(L));
  }
  inv_freq_ = inv_freq_for(c.rope, c.rotary_dim).to(device);
  if (c.has_local_rope) inv_freq_local_ = inv_freq_for(c.rope_local, c.rotary_dim).to(device);
}

torch::Tensor Decoder::rms_norm(const torch::Tensor& x, const torch::Tensor& w) const {
  return ::airtune::nn::rms_norm(x, w, config_.rms_norm_eps, config_.norm_plus_one);
}

void Decoder::rope(const torch::Tensor& position_ids, LayerInputs& in) const {
  // [B, S] -> cos/sin [B, 1, S, rotary_dim] in the model dtype, via fp32 as transformers does.
  const int64_t b = position_ids.size(0);
  auto pos = position_ids.unsqueeze(1).to(torch::kFloat32);
  auto table = [&](const torch::Tensor& inv_freq, torch::Tensor& cos, torch::Tensor& sin) {
    auto inv = inv_freq.view({1, -1, 1}).expand({b, -1, 1});
    auto freqs = at::matmul(inv, pos).transpose(1, 2);
    auto emb = at::cat({freqs, freqs}, -1);
    cos = emb.cos().to(dtype_).unsqueeze(1);
    sin = emb.sin().to(dtype_).unsqueeze(1);
  };
  table(inv_freq_, in.cos, in.sin);
  if (inv_freq_local_.defined()) table(inv_freq_local_, in.cos_local, in.sin_local);
}

torch::Tensor Decoder::embed_tokens(const torch::Tensor& ids, const torch::Tensor& weight) const {
  auto x = at::embedding(weight.scalar_type() == dtype_ ? weight : weight.to(dtype_), ids);
  if (config_.embed_scale > 0) {
    // transformers: a float32 tensor of sqrt(hidden) cast to the weight's dtype
    auto scale =
        at::scalar_tensor(config_.embed_scale, torch::TensorOptions().dtype(torch::kFloat32)).to(x.device(), dtype_);
    x = x * scale;
  }
  return x;
}

torch::Tensor Decoder::head_logits(const torch::Tensor& h, const torch::Tensor& weight) const {
  auto logits = at::linear(h, weight.scalar_type() == h.scalar_type() ? weight : weight.to(h.scalar_type()));
  if (config_.final_softcap > 0) logits = at::tanh(logits / config_.final_softcap) * config_.final_softcap;
  return logits;
}

torch::Tensor Decoder::base_project(int layer, Matrix m, const torch::Tensor& x) const {
  const auto& lm = layers_[static_cast<size_t>(layer)].matrix(m);
  if (lm.quantized()) return quantized_linear(x, lm.q, lm.b);
  if (lm.pack.defined()) return frozen_linear(x, lm.pack, lm.b);
  return lm.b.defined() ? at::linear(x, lm.w, lm.b) : at::linear(x, lm.w);
}

bool Decoder::pack_frozen(bool lm_head) {
  if (!device_.is_cpu() || dtype_ != torch::kFloat32 || !onednn_available()) return false;
  for (auto& L : layers_)
    for (auto& lm : L.m)
      if (!lm.quantized() && !lm.pack.defined()) lm.pack = nn::pack_frozen(lm.w);
  if (lm_head && !lm_head_pack_.defined()) lm_head_pack_ = nn::pack_frozen(lm_head_);
  return true;
}

void Decoder::unpack_frozen() {
  for (auto& L : layers_)
    for (auto& lm : L.m) lm.pack = FrozenPack();
  lm_head_pack_ = FrozenPack();
}

std::unique_ptr<LayerHooks> Decoder::base_hooks() const { return std::make_unique<BaseHooks>(*this); }

torch::Tensor Decoder::layer_forward(int li, const torch::Tensor& x_in, const LayerInputs& in, KVCache* cache,
                                     const LayerHooks& hooks) const {
  const auto& c = config_;
  const auto& L = layers_[static_cast<size_t>(li)];
  const int64_t b = x_in.size(0), s = x_in.size(1);
  const int64_t nh = c.num_attention_heads, nkv = c.num_key_value_heads, d = c.head_dim;
  const int64_t qd = nh * d, kvd = nkv * d, inter = c.intermediate_size;
  const double scale = c.attn_scale > 0 ? c.attn_scale : 1.0 / std::sqrt(static_cast<double>(d));
  auto x = x_in;
  auto hn = rms_norm(x, hooks.norm(li, Norm::kAttnIn));
  // split, not narrow: the backward of a split is one cat, that of each narrow a zero-filled
  // full-width gradient (added up)
  auto qkv = split_last(hooks.project(li, Matrix::kQKV, hn), {qd, kvd, kvd});
  auto q = qkv[0].view({b, s, nh, d}).transpose(1, 2);
  auto k = qkv[1].view({b, s, nkv, d}).transpose(1, 2);
  auto v = qkv[2].view({b, s, nkv, d}).transpose(1, 2);
  if (c.qk_norm) {
    q = rms_norm(q, hooks.norm(li, Norm::kQ));
    k = rms_norm(k, hooks.norm(li, Norm::kK));
  }
  const bool local = L.window > 0 && in.cos_local.defined();
  q = apply_rope(q, local ? in.cos_local : in.cos, local ? in.sin_local : in.sin);
  k = apply_rope(k, local ? in.cos_local : in.cos, local ? in.sin_local : in.sin);
  if (cache) {
    const int64_t past = cache->length;
    cache->k[static_cast<size_t>(li)].narrow(2, past, s).copy_(k);
    cache->v[static_cast<size_t>(li)].narrow(2, past, s).copy_(v);
    k = cache->k[static_cast<size_t>(li)].narrow(2, 0, past + s);
    v = cache->v[static_cast<size_t>(li)].narrow(2, 0, past + s);
  }
  const auto& mask = in.masks[static_cast<size_t>(li)];
  torch::Tensor attn;
  if (c.attn_softcap > 0) {  // eager attention, as transformers' Gemma 2 (softcap, then mask, fp32 softmax)
    if (nkv != nh) {
      k = k.repeat_interleave(nh / nkv, 1);
      v = v.repeat_interleave(nh / nkv, 1);
    }
    auto scores = at::matmul(q, k.transpose(2, 3)) * scale;
    scores = at::tanh(scores / c.attn_softcap) * c.attn_softcap;
    if (mask.defined()) scores = scores + mask;
    attn = at::matmul(at::softmax(scores, -1, torch::kFloat32).to(q.scalar_type()), v);
  } else if (mask.defined()) {
    if (nkv != nh) {
      k = k.repeat_interleave(nh / nkv, 1);
      v = v.repeat_interleave(nh / nkv, 1);
    }
    attn = at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, scale);
  } else if (causal_attention_applies(q, k, v)) {  // square causal (training, prompts): nn/causal_attention.h
    attn = causal_attention(q, k, v, scale);
  } else {  // as transformers' sdpa path without a mask: the kernel handles GQA (no k/v copies)
    attn = at::scaled_dot_product_attention(q, k, v, std::nullopt, 0.0, s > 1, scale, nkv != nh);
  }
  attn = attn.transpose(1, 2).reshape({b, s, qd});
  auto o = hooks.project(li, Matrix::kO, attn);
  if (c.sandwich_norms) o = rms_norm(o, hooks.norm(li, Norm::kAttnOut));
  x = x + o;
  auto h2 = rms_norm(x, hooks.norm(li, Norm::kMlpIn));
  auto gate_up = hooks.project(li, Matrix::kGateUp, h2);
  torch::Tensor act;
  if (c.activation == "silu") {
    act = swiglu(gate_up);
  } else {
    auto gu = split_last(gate_up, {inter, inter});
    act = at::gelu(gu[0], "tanh") * gu[1];
  }
  auto mlp = hooks.project(li, Matrix::kDown, act);
  if (c.sandwich_norms) mlp = rms_norm(mlp, hooks.norm(li, Norm::kMlpOut));
  return x + mlp;
}

KVCache Decoder::new_cache(int64_t batch, int64_t capacity) const {
  KVCache cache;
  cache.capacity = capacity;
  auto opts = torch::TensorOptions().dtype(dtype_).device(device_);
  for (size_t i = 0; i < layers_.size(); ++i) {
    cache.k.push_back(at::empty({batch, config_.num_key_value_heads, capacity, config_.head_dim}, opts));
    cache.v.push_back(at::empty({batch, config_.num_key_value_heads, capacity, config_.head_dim}, opts));
  }
  return cache;
}

torch::Tensor Decoder::forward(const torch::Tensor& ids, const torch::Tensor& position_ids,
                               const torch::Tensor& key_valid, KVCache* cache, bool last_only) const {
  const int64_t s = ids.size(1);
  const int64_t past = cache ? cache->length : 0;
  if (cache && past + s > cache->capacity) throw InvalidArgument("KV cache capacity exceeded");
  auto x = embed_tokens(ids, embed_);
  LayerInputs in;
  rope(position_ids, in);
  // One mask per distinct window (full attention and sliding windows). Without padding, full
  // attention needs no mask: the kernel's causal mode for a prefill (it skips the masked blocks),
  // nothing for a one-token step that sees every cached key. Eager attention always gets a mask.
  const bool no_padding = key_valid.all().item<bool>() && !eager_attention();
  const bool unmasked = no_padding && ((past == 0 && s > 1) || s == 1);
  std::map<int64_t, torch::Tensor> masks;
  for (const auto& L : layers_) {
    const int64_t window = L.window > 0 && L.window < past + s ? L.window : 0;
    if (window == 0 && unmasked) {
      in.masks.emplace_back();
      continue;
    }
    auto it = masks.find(window);
    if (it == masks.end()) it = masks.emplace(window, attention_mask_for(key_valid, past, s, window, dtype_)).first;
    in.masks.push_back(it->second);
  }
  auto hooks = base_hooks();
  for (size_t li = 0; li < layers_.size(); ++li) x = layer_forward(static_cast<int>(li), x, in, cache, *hooks);
  if (cache) cache->length = past + s;
  if (last_only) x = x.narrow(1, s - 1, 1);
  return head_logits(rms_norm(x, norm_), lm_head_);
}

torch::Tensor Decoder::logits(const torch::Tensor& input_ids,
                              const std::optional<torch::Tensor>& attention_mask) const {
  if (input_ids.dim() != 2) throw InvalidArgument("input_ids must be 2-D [batch, seq]");
  if (input_ids.size(1) == 0) throw InvalidArgument("input_ids has no tokens");
  auto ids = input_ids.to(device_, torch::kInt64);
  if (ids.numel() > 0) {
    auto lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
    if (lo < 0 || hi >= config_.vocab_size)
      throw InvalidArgument("input_ids hold token id " + std::to_string(lo < 0 ? lo : hi) +
                            " outside the vocabulary [0, " + std::to_string(config_.vocab_size) + ")");
  }
  if (ids.size(1) > config_.max_position_embeddings)
    throw InvalidArgument("input of " + std::to_string(ids.size(1)) + " tokens exceeds max_position_embeddings (" +
                          std::to_string(config_.max_position_embeddings) + ")");
  torch::Tensor valid;
  if (attention_mask) {
    if (attention_mask->sizes() != input_ids.sizes())
      throw InvalidArgument("attention_mask shape " + c10::str(attention_mask->sizes()) + " differs from input_ids " +
                            c10::str(input_ids.sizes()));
    valid = attention_mask->to(device_).ne(0);
  } else {
    valid = at::ones(ids.sizes(), torch::TensorOptions().dtype(torch::kBool).device(device_));
  }
  auto pos = valid.to(torch::kInt64).cumsum(-1) - 1;
  pos = pos.masked_fill(pos < 0, 0).masked_fill(valid.logical_not(), 0);
  return forward(ids, pos, valid, nullptr, false);
}

Decoder Decoder::with_layers(std::vector<Layer> layers) const {
  if (layers.size() != layers_.size())
    throw InvalidArgument("with_layers: " + std::to_string(layers.size()) + " layers for a model of " +
                          std::to_string(layers_.size()));
  auto same = [&](const torch::Tensor& a, const torch::Tensor& b, size_t li, const std::string& what) {
    if (a.defined() != b.defined() ||
        (a.defined() && (a.sizes() != b.sizes() || a.scalar_type() != dtype_ || a.device() != device_)))
      throw InvalidArgument("with_layers: layer " + std::to_string(li) + " " + what +
                            " differs in shape, dtype or device from the model's");
  };
  for (size_t li = 0; li < layers.size(); ++li) {
    auto& a = layers[li];
    const auto& b = layers_[li];
    for (int k = 0; k < kNumMatrices; ++k) {
      const auto &ma = a.m[static_cast<size_t>(k)], &mb = b.m[static_cast<size_t>(k)];
      const std::string what = "matrix " + std::to_string(k);
      if (!ma.quantized() && !ma.w.defined())
        throw InvalidArgument("with_layers: layer " + std::to_string(li) + " " + what + " has no weight");
      if (ma.rows() != mb.rows() || ma.cols() != mb.cols())
        throw InvalidArgument("with_layers: layer " + std::to_string(li) + " " + what +
                              " differs in shape from the model's");
      if (!ma.quantized()) {
        if (ma.w.scalar_type() != dtype_ || ma.w.device() != device_)
          throw InvalidArgument("with_layers: layer " + std::to_string(li) + " " + what +
                                " differs in dtype or device from the model's");
      }
      same(ma.b, mb.b, li, what + " bias");
    }
    for (int k = 0; k < kNumNorms; ++k)
      same(a.norms[static_cast<size_t>(k)], b.norms[static_cast<size_t>(k)], li, "norm " + std::to_string(k));
    a.window = b.window;
    for (auto& lm : a.m) lm.pack = FrozenPack();  // packs of other weights (the caller copied our layers)
  }
  Decoder out = *this;
  out.layers_ = std::move(layers);
  return out;
}

Decoder Decoder::with_head(torch::Tensor embed, torch::Tensor final_norm, torch::Tensor lm_head) const {
  Decoder out = *this;
  auto check = [&](const torch::Tensor& t, const torch::Tensor& like, const char* what) {
    if (t.defined() && (t.sizes() != like.sizes() || t.scalar_type() != dtype_ || t.device() != device_))
      throw InvalidArgument(std::string("with_head: ") + what + " differs in shape, dtype or device from the model's");
  };
  check(embed, embed_, "embed_tokens");
  check(final_norm, norm_, "norm");
  check(lm_head, lm_head_, "lm_head");
  if (lm_head.defined()) out.lm_head_pack_ = FrozenPack();
  const bool tied = lm_head_.is_same(embed_);
  if (embed.defined()) out.embed_ = embed;
  if (final_norm.defined()) out.norm_ = final_norm;
  if (lm_head.defined()) {
    out.lm_head_ = lm_head;
  } else if (tied && embed.defined()) {
    out.lm_head_ = lm_head_;  // an untied copy of the base's: only embed_tokens was trained
  }
  return out;
}

}  // namespace airtune::nn
