#include "nn/decoder.h"

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "core/errors.h"
#include "nn/safetensors.h"

namespace airtune::nn {

namespace {

torch::Tensor load(const WeightStore& w, const std::string& name, std::vector<int64_t> shape, torch::Dtype dtype,
                   torch::Device device) {
  auto t = w.get(name, shape);
  if (!t.is_floating_point())
    throw FormatError(w.source() + ": tensor '" + name + "' has dtype " + std::string(c10::toString(t.scalar_type())) +
                      "; a floating-point weight is expected");
  return t.to(device, dtype);
}

torch::Tensor rotate_half(const torch::Tensor& x) {
  int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

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

Decoder::Decoder(const std::string& path, torch::Dtype dtype, torch::Device device, FileAccess access)
    : config_(DecoderConfig::from_file(path)), dtype_(dtype), device_(device) {
  if (dtype != torch::kFloat32 && dtype != torch::kBFloat16 && dtype != torch::kFloat16)
    throw InvalidArgument("decoder dtype must be float32, bfloat16 or float16");
  namespace fs = std::filesystem;
  fs::path weights_path(path);
  if (!fs::is_directory(weights_path)) weights_path = weights_path.parent_path();
  WeightStore w(weights_path.string(), access);
  const auto& c = config_;
  const int64_t h = c.hidden_size, d = c.head_dim, nh = c.num_attention_heads, nkv = c.num_key_value_heads;
  const int64_t inter = c.intermediate_size;
  embed_ = load(w, "model.embed_tokens.weight", {c.vocab_size, h}, dtype, device);
  norm_ = load(w, "model.norm.weight", {h}, dtype, device);
  if (w.contains("lm_head.weight")) {
    lm_head_ = load(w, "lm_head.weight", {c.vocab_size, h}, dtype, device);
  } else if (c.tie_word_embeddings) {
    lm_head_ = embed_;
  } else {
    throw FormatError(w.source() + ": missing tensor 'lm_head.weight' (and tie_word_embeddings is false)");
  }
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    Layer L;
    auto q = load(w, p + "self_attn.q_proj.weight", {nh * d, h}, dtype, device);
    auto k = load(w, p + "self_attn.k_proj.weight", {nkv * d, h}, dtype, device);
    auto v = load(w, p + "self_attn.v_proj.weight", {nkv * d, h}, dtype, device);
    L.qkv_w = at::cat({q, k, v}, 0);
    if (c.attention_bias) {
      L.qkv_b = at::cat({load(w, p + "self_attn.q_proj.bias", {nh * d}, dtype, device),
                         load(w, p + "self_attn.k_proj.bias", {nkv * d}, dtype, device),
                         load(w, p + "self_attn.v_proj.bias", {nkv * d}, dtype, device)},
                        0);
    }
    L.o_w = load(w, p + "self_attn.o_proj.weight", {h, nh * d}, dtype, device);
    if (c.o_proj_bias) L.o_b = load(w, p + "self_attn.o_proj.bias", {h}, dtype, device);
    L.gate_up_w = at::cat({load(w, p + "mlp.gate_proj.weight", {inter, h}, dtype, device),
                           load(w, p + "mlp.up_proj.weight", {inter, h}, dtype, device)},
                          0);
    L.down_w = load(w, p + "mlp.down_proj.weight", {h, inter}, dtype, device);
    if (c.mlp_bias) {
      L.gate_up_b = at::cat({load(w, p + "mlp.gate_proj.bias", {inter}, dtype, device),
                             load(w, p + "mlp.up_proj.bias", {inter}, dtype, device)},
                            0);
      L.down_b = load(w, p + "mlp.down_proj.bias", {h}, dtype, device);
    }
    L.ln1 = load(w, p + "input_layernorm.weight", {h}, dtype, device);
    L.ln2 = load(w, p + "post_attention_layernorm.weight", {h}, dtype, device);
    L.window = c.layer_window[static_cast<size_t>(i)];
    layers_.push_back(std::move(L));
  }

  // inv_freq exactly as transformers' rope init functions (fp32).
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  auto inv = 1.0 / at::pow(c.rope.theta, at::arange(0, d, 2, torch::TensorOptions().dtype(torch::kInt64)).to(f32) /
                                             static_cast<double>(d));
  if (c.rope.type == "linear") {
    inv = inv / c.rope.factor;
  } else if (c.rope.type == "llama3") {
    const double factor = c.rope.factor, low = c.rope.low_freq_factor, high = c.rope.high_freq_factor;
    const double old_len = static_cast<double>(c.rope.original_max_position_embeddings);
    const double low_wavelen = old_len / low, high_wavelen = old_len / high;
    auto wavelen = 2 * M_PI / inv;
    auto llama = at::where(wavelen > low_wavelen, inv / factor, inv);
    auto smooth = (old_len / wavelen - low) / (high - low);
    auto smoothed = (1 - smooth) * llama / factor + smooth * llama;
    auto medium = at::logical_not(wavelen < high_wavelen) * at::logical_not(wavelen > low_wavelen);
    inv = at::where(medium, smoothed, llama);
  }
  inv_freq_ = inv.to(device);
}

torch::Tensor Decoder::rms_norm(const torch::Tensor& x, const torch::Tensor& w) const {
  auto xf = x.to(torch::kFloat32);
  auto var = xf.pow(2).mean(-1, true);
  xf = xf * at::rsqrt(var + config_.rms_norm_eps);
  return w * xf.to(x.scalar_type());
}

std::pair<torch::Tensor, torch::Tensor> Decoder::rope(const torch::Tensor& position_ids) const {
  // [B, S] -> cos/sin [B, S, d] in the model dtype, via fp32 as transformers does.
  const int64_t b = position_ids.size(0);
  auto inv = inv_freq_.view({1, -1, 1}).expand({b, -1, 1});
  auto pos = position_ids.unsqueeze(1).to(torch::kFloat32);
  auto freqs = at::matmul(inv, pos).transpose(1, 2);
  auto emb = at::cat({freqs, freqs}, -1);
  return {emb.cos().to(dtype_), emb.sin().to(dtype_)};
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
  const auto& c = config_;
  const int64_t b = ids.size(0), s = ids.size(1);
  const int64_t past = cache ? cache->length : 0;
  if (cache && past + s > cache->capacity) throw InvalidArgument("KV cache capacity exceeded");
  const int64_t nh = c.num_attention_heads, nkv = c.num_key_value_heads, d = c.head_dim;
  auto x = at::embedding(embed_, ids);
  auto [cos, sin] = rope(position_ids);
  cos = cos.unsqueeze(1);
  sin = sin.unsqueeze(1);
  // One mask per distinct window (full attention and, for Mistral, the sliding window). Without
  // padding, full attention needs no mask: the kernel's causal mode for a prefill (it skips the
  // masked blocks), nothing for a one-token step that sees every cached key.
  torch::Tensor mask_full, mask_window;
  int64_t window_value = 0;
  const bool no_padding = key_valid.all().item<bool>();
  const bool full_causal = no_padding && past == 0 && s > 1;
  const bool full_unmasked = no_padding && s == 1;
  for (const auto& L : layers_) {
    if (L.window == 0 && !mask_full.defined() && !full_causal && !full_unmasked)
      mask_full = attention_mask_for(key_valid, past, s, 0, dtype_);
    if (L.window > 0 && !mask_window.defined()) {
      window_value = L.window;
      mask_window = attention_mask_for(key_valid, past, s, L.window, dtype_);
    }
  }
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  for (size_t li = 0; li < layers_.size(); ++li) {
    const auto& L = layers_[li];
    auto hnorm = rms_norm(x, L.ln1);
    auto qkv = L.qkv_b.defined() ? at::linear(hnorm, L.qkv_w, L.qkv_b) : at::linear(hnorm, L.qkv_w);
    auto q = qkv.narrow(-1, 0, nh * d).view({b, s, nh, d}).transpose(1, 2);
    auto k = qkv.narrow(-1, nh * d, nkv * d).view({b, s, nkv, d}).transpose(1, 2);
    auto v = qkv.narrow(-1, (nh + nkv) * d, nkv * d).view({b, s, nkv, d}).transpose(1, 2);
    q = q * cos + rotate_half(q) * sin;
    k = k * cos + rotate_half(k) * sin;
    if (cache) {
      cache->k[li].narrow(2, past, s).copy_(k);
      cache->v[li].narrow(2, past, s).copy_(v);
      k = cache->k[li].narrow(2, 0, past + s);
      v = cache->v[li].narrow(2, 0, past + s);
    }
    if (nkv != nh) {
      k = k.repeat_interleave(nh / nkv, 1);
      v = v.repeat_interleave(nh / nkv, 1);
    }
    const bool windowed = L.window > 0 && L.window == window_value;
    const auto& mask = windowed ? mask_window : mask_full;
    auto attn = windowed || mask.defined()
                    ? at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, scale)
                    : at::scaled_dot_product_attention(q, k, v, std::nullopt, 0.0, full_causal, scale);
    attn = attn.transpose(1, 2).reshape({b, s, nh * d});
    auto o = L.o_b.defined() ? at::linear(attn, L.o_w, L.o_b) : at::linear(attn, L.o_w);
    x = x + o;
    auto h2 = rms_norm(x, L.ln2);
    auto gu = L.gate_up_b.defined() ? at::linear(h2, L.gate_up_w, L.gate_up_b) : at::linear(h2, L.gate_up_w);
    const int64_t inter = c.intermediate_size;
    auto act = at::silu(gu.narrow(-1, 0, inter)) * gu.narrow(-1, inter, inter);
    auto mlp = L.down_b.defined() ? at::linear(act, L.down_w, L.down_b) : at::linear(act, L.down_w);
    x = x + mlp;
  }
  if (cache) cache->length = past + s;
  if (last_only) x = x.narrow(1, s - 1, 1);
  x = rms_norm(x, norm_);
  return at::linear(x, lm_head_);
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
  auto same = [&](const torch::Tensor& a, const torch::Tensor& b, size_t li, const char* what) {
    if (a.defined() != b.defined() ||
        (a.defined() && (a.sizes() != b.sizes() || a.scalar_type() != dtype_ || a.device() != device_)))
      throw InvalidArgument("with_layers: layer " + std::to_string(li) + " " + what +
                            " differs in shape, dtype or device from the model's");
  };
  for (size_t li = 0; li < layers.size(); ++li) {
    const auto &a = layers[li], &b = layers_[li];
    same(a.qkv_w, b.qkv_w, li, "qkv_w");
    same(a.o_w, b.o_w, li, "o_w");
    same(a.gate_up_w, b.gate_up_w, li, "gate_up_w");
    same(a.down_w, b.down_w, li, "down_w");
    same(a.qkv_b, b.qkv_b, li, "qkv_b");
    same(a.o_b, b.o_b, li, "o_b");
    same(a.gate_up_b, b.gate_up_b, li, "gate_up_b");
    same(a.down_b, b.down_b, li, "down_b");
    same(a.ln1, b.ln1, li, "ln1");
    same(a.ln2, b.ln2, li, "ln2");
    layers[li].window = b.window;
  }
  Decoder out = *this;
  out.layers_ = std::move(layers);
  return out;
}

}  // namespace airtune::nn
