#include "nn/encoder.h"

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <optional>

#include "core/errors.h"
#include "nn/onednn_linear.h"
#include "nn/safetensors.h"

namespace airtune::nn {

Encoder::Encoder(const std::string& path, torch::Dtype dtype, torch::Device device)
    : config_(EncoderConfig::from_file(path)), dtype_(dtype), device_(device) {
  if (dtype != torch::kFloat32 && dtype != torch::kBFloat16 && dtype != torch::kFloat16)
    throw InvalidArgument("encoder dtype must be float32, bfloat16 or float16");
  namespace fs = std::filesystem;
  fs::path weights_path(path);
  if (!fs::is_directory(weights_path)) weights_path = weights_path.parent_path();
  // each tensor its own bytes (kStream): what the encoder does not keep (q/k/v before they are
  // joined, the dense weights once packed) is freed instead of pinning the whole file
  WeightStore w(weights_path.string(), FileAccess::kStream);
  const std::string prefix = w.contains("bert.embeddings.word_embeddings.weight") ? "bert." : "";
  const auto& c = config_;
  const int64_t h = c.hidden_size, inter = c.intermediate_size;
  auto get = [&](const std::string& name, std::vector<int64_t> shape) {
    auto t = w.get(prefix + name, shape);
    if (!t.is_floating_point())
      throw FormatError(w.source() + ": tensor '" + prefix + name + "' has dtype " +
                        std::string(c10::toString(t.scalar_type())) + "; a floating-point weight is expected");
    return t.to(device, dtype);
  };
  word_ = get("embeddings.word_embeddings.weight", {c.vocab_size, h});
  pos_ = get("embeddings.position_embeddings.weight", {c.max_position_embeddings, h});
  type_ = get("embeddings.token_type_embeddings.weight", {c.type_vocab_size, h});
  emb_ln_w_ = get("embeddings.LayerNorm.weight", {h});
  emb_ln_b_ = get("embeddings.LayerNorm.bias", {h});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    Layer L;
    L.qkv_w = at::cat({get(p + "attention.self.query.weight", {h, h}), get(p + "attention.self.key.weight", {h, h}),
                       get(p + "attention.self.value.weight", {h, h})},
                      0);
    L.qkv_b = at::cat({get(p + "attention.self.query.bias", {h}), get(p + "attention.self.key.bias", {h}),
                       get(p + "attention.self.value.bias", {h})},
                      0);
    L.o_w = get(p + "attention.output.dense.weight", {h, h});
    L.o_b = get(p + "attention.output.dense.bias", {h});
    L.ln1_w = get(p + "attention.output.LayerNorm.weight", {h});
    L.ln1_b = get(p + "attention.output.LayerNorm.bias", {h});
    L.in_w = get(p + "intermediate.dense.weight", {inter, h});
    L.in_b = get(p + "intermediate.dense.bias", {inter});
    L.out_w = get(p + "output.dense.weight", {h, inter});
    L.out_b = get(p + "output.dense.bias", {h});
    L.ln2_w = get(p + "output.LayerNorm.weight", {h});
    L.ln2_b = get(p + "output.LayerNorm.bias", {h});
    layers_.push_back(std::move(L));
  }
  // oneDNN on weights packed once (nn/onednn_linear.h), each GEMM fused with its bias and GELU/ReLU
  // or with the residual add: a pass over the activations saved per fusion
  packed_ = device.is_cpu() && dtype == torch::kFloat32 && onednn_available();
  if (packed_) {
    for (auto& L : layers_) {
      L.qkv_p = onednn_pack(L.qkv_w);
      L.o_p = onednn_pack(L.o_w);
      L.in_p = onednn_pack(L.in_w);
      L.out_p = onednn_pack(L.out_w);
      // the packed path never reads the plain dense weights: one copy of them, not two
      L.qkv_w = L.o_w = L.in_w = L.out_w = torch::Tensor();
    }
  }
}

torch::Tensor Encoder::dense(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& wp,
                             const torch::Tensor& b, bool activation) const {
  const auto& act = config_.hidden_act;
  if (packed_) {
    if (!activation) return onednn_linear(x, wp, b, "none", nullptr);
    if (act == "gelu") return onednn_linear(x, wp, b, "gelu", "none");
    if (act == "relu") return onednn_linear(x, wp, b, "relu", nullptr);
    return onednn_linear(x, wp, b, "gelu", "tanh");
  }
  auto y = at::linear(x, w, b);
  if (!activation) return y;
  if (act == "gelu") return at::gelu(y);
  if (act == "relu") return at::relu(y);
  return at::gelu(y, "tanh");
}

torch::Tensor Encoder::dense_add(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& wp,
                                 const torch::Tensor& b, const torch::Tensor& residual) const {
  return packed_ ? onednn_linear_add(x, residual, wp, b) : at::linear(x, w, b) + residual;
}

torch::Tensor Encoder::hidden_states(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) const {
  const auto& c = config_;
  if (input_ids.dim() != 2) throw InvalidArgument("input_ids must be 2-D [batch, seq]");
  if (attention_mask.sizes() != input_ids.sizes())
    throw InvalidArgument("attention_mask shape " + c10::str(attention_mask.sizes()) + " differs from input_ids " +
                          c10::str(input_ids.sizes()));
  const int64_t b = input_ids.size(0), s = input_ids.size(1), h = c.hidden_size;
  if (s > c.max_position_embeddings)
    throw InvalidArgument("input of " + std::to_string(s) + " tokens exceeds max_position_embeddings (" +
                          std::to_string(c.max_position_embeddings) + ")");
  auto ids = input_ids.to(device_, torch::kInt64);
  if (ids.numel()) {
    auto lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
    if (lo < 0 || hi >= c.vocab_size)
      throw InvalidArgument("input_ids hold token id " + std::to_string(lo < 0 ? lo : hi) +
                            " outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
  }
  const int64_t nh = c.num_attention_heads, d = h / nh;
  auto x = at::embedding(word_, ids) + pos_.narrow(0, 0, s).unsqueeze(0) + type_.narrow(0, 0, 1).unsqueeze(0);
  x = at::layer_norm(x, {h}, emb_ln_w_, emb_ln_b_, c.layer_norm_eps);
  auto valid = attention_mask.to(device_).ne(0).view({b, 1, 1, s});
  auto zero = at::zeros({}, torch::TensorOptions().dtype(dtype_).device(device_));
  auto neg = at::full({},
                      dtype_ == torch::kFloat16
                          ? -65504.0
                          : (dtype_ == torch::kBFloat16 ? -3.3895313892515355e38 : -3.4028234663852886e38),
                      torch::TensorOptions().dtype(dtype_).device(device_));
  // Batches sorted by length are often unpadded: then attention needs no mask at all.
  const bool no_padding = valid.all().item<bool>();
  auto mask = no_padding ? torch::Tensor() : at::where(valid, zero, neg);
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  // The real tokens as rows of one [T, H] matrix through the dense layers (2-D GEMMs, fused
  // epilogues): padding tokens (a fifth of a length-sorted batch of real sentences) cost no GEMM
  // work; only attention sees the padded [B, S] layout.
  x = x.reshape({b * s, h});
  torch::Tensor rows;  // flat indices of the real tokens, when there is padding
  if (!no_padding) {
    rows = valid.view({b * s}).nonzero().squeeze(1);
    x = x.index_select(0, rows);
  }
  auto padded = [&](const torch::Tensor& t) {  // [T, F] -> [B, S, F], zeros at padding
    if (no_padding) return t.view({b, s, t.size(1)});
    return at::zeros({b * s, t.size(1)}, t.options()).index_copy_(0, rows, t).view({b, s, t.size(1)});
  };
  for (const auto& L : layers_) {
    auto qkv = padded(dense(x, L.qkv_w, L.qkv_p, L.qkv_b, false));
    auto q = qkv.narrow(-1, 0, h).view({b, s, nh, d}).transpose(1, 2);
    auto k = qkv.narrow(-1, h, h).view({b, s, nh, d}).transpose(1, 2);
    auto v = qkv.narrow(-1, 2 * h, h).view({b, s, nh, d}).transpose(1, 2);
    auto a = no_padding ? at::scaled_dot_product_attention(q, k, v, std::nullopt, 0.0, false, scale)
                        : at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, scale);
    a = a.transpose(1, 2).reshape({b * s, h});
    if (!no_padding) a = a.index_select(0, rows);
    x = at::layer_norm(dense_add(a, L.o_w, L.o_p, L.o_b, x), {h}, L.ln1_w, L.ln1_b, c.layer_norm_eps);
    auto inter = dense(x, L.in_w, L.in_p, L.in_b, true);
    x = at::layer_norm(dense_add(inter, L.out_w, L.out_p, L.out_b, x), {h}, L.ln2_w, L.ln2_b, c.layer_norm_eps);
  }
  return padded(x);
}

torch::Tensor Encoder::embed(const torch::Tensor& input_ids, const torch::Tensor& attention_mask, Pooling pooling,
                             bool normalize) const {
  torch::NoGradGuard no_grad;
  auto hs = hidden_states(input_ids, attention_mask).to(torch::kFloat32);
  auto m = attention_mask.to(device_).ne(0).unsqueeze(-1).to(torch::kFloat32);  // [B, S, 1]
  torch::Tensor pooled;
  switch (pooling) {
    case Pooling::kCls:
      pooled = hs.select(1, 0);
      break;
    case Pooling::kMax:
      pooled = hs.masked_fill(m.eq(0), -1e9).amax(1);
      break;
    case Pooling::kMean:
    case Pooling::kMeanSqrtLen: {
      auto sum = (hs * m).sum(1);
      auto n = m.sum(1).clamp_min(1e-9);
      pooled = pooling == Pooling::kMean ? sum / n : sum / n.sqrt();
      break;
    }
  }
  if (normalize) pooled = pooled / pooled.norm(2, 1, true).clamp_min(1e-12);
  return pooled.to(torch::kCPU).contiguous();
}

}  // namespace airtune::nn
