#include "nn/lora_model.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/autograd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>

#include "core/errors.h"
#include "io/json_text.h"
#include "nn/linear_cross_entropy.h"
#include "nn/lora_bf16.h"
#include "nn/safetensors.h"

namespace airtune::nn {

namespace {

std::string quoted(const std::string& s) {
  std::string out;
  io::append_json_string(out, s);
  return out;
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

bool matches_target(const LoraOptions& o, const std::string& name) {
  if (o.all_linear) return true;
  if (!o.target_regex.empty()) return std::regex_match(name, std::regex(o.target_regex));
  for (const auto& t : o.target_modules) {
    if (name == t) return true;
    if (name.size() > t.size() + 1 && name.compare(name.size() - t.size(), t.size(), t) == 0 &&
        name[name.size() - t.size() - 1] == '.')
      return true;
  }
  return false;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// PEFT's get_pattern_key: the first pattern P with re.match(r"(.*\.)?(P)$", name).
template <typename V>
const V* pattern_value(const std::vector<std::pair<std::string, V>>& patterns, const std::string& name) {
  for (const auto& [pattern, value] : patterns)
    if (std::regex_match(name, std::regex("(.*\\.)?(" + pattern + ")"))) return &value;
  return nullptr;
}

torch::Tensor trainable(torch::Tensor t) { return t.detach().to(torch::kFloat32).clone().set_requires_grad(true); }

}  // namespace

std::vector<ProjectionSlot> projection_slots(const DecoderConfig& c) {
  const int64_t qd = c.num_attention_heads * c.head_dim, kvd = c.num_key_value_heads * c.head_dim;
  const int64_t inter = c.intermediate_size, h = c.hidden_size;
  if (c.fused_projections)
    return {{"qkv_proj", "self_attn.qkv_proj", Matrix::kQKV, 0, qd + 2 * kvd},
            {"o_proj", "self_attn.o_proj", Matrix::kO, 0, h},
            {"gate_up_proj", "mlp.gate_up_proj", Matrix::kGateUp, 0, 2 * inter},
            {"down_proj", "mlp.down_proj", Matrix::kDown, 0, h}};
  return {{"q_proj", "self_attn.q_proj", Matrix::kQKV, 0, qd},
          {"k_proj", "self_attn.k_proj", Matrix::kQKV, qd, kvd},
          {"v_proj", "self_attn.v_proj", Matrix::kQKV, qd + kvd, kvd},
          {"o_proj", "self_attn.o_proj", Matrix::kO, 0, h},
          {"gate_proj", "mlp.gate_proj", Matrix::kGateUp, 0, inter},
          {"up_proj", "mlp.up_proj", Matrix::kGateUp, inter, inter},
          {"down_proj", "mlp.down_proj", Matrix::kDown, 0, h}};
}

std::string lora_module_name(const std::vector<ProjectionSlot>& slots, int layer, int slot) {
  return "model.layers." + std::to_string(layer) + "." + slots[static_cast<size_t>(slot)].path;
}

std::string norm_module_name(const DecoderConfig& c, int layer, Norm n) {
  const std::string p = "model.layers." + std::to_string(layer) + ".";
  switch (n) {
    case Norm::kAttnIn:
      return p + "input_layernorm";
    case Norm::kAttnOut:
      return c.sandwich_norms ? p + "post_attention_layernorm" : "";
    case Norm::kMlpIn:
      return p + (c.sandwich_norms ? "pre_feedforward_layernorm" : "post_attention_layernorm");
    case Norm::kMlpOut:
      return c.sandwich_norms ? p + "post_feedforward_layernorm" : "";
    case Norm::kQ:
      return c.qk_norm ? p + "self_attn.q_norm" : "";
    case Norm::kK:
      return c.qk_norm ? p + "self_attn.k_norm" : "";
  }
  return "";
}

LoraModel::LoraModel(const std::string& base_path, const LoraOptions& options, torch::Dtype dtype, torch::Device device)
    : options_(options) {
  if (options_.r <= 0) throw InvalidArgument("LoRA rank r must be > 0, got " + std::to_string(options_.r));
  if (!(options_.dropout >= 0.0 && options_.dropout < 1.0)) throw InvalidArgument("lora_dropout must be in [0, 1)");
  auto check_regex = [](const std::string& re, const std::string& what) {
    try {
      std::regex r(re);
    } catch (const std::regex_error& e) {
      throw InvalidArgument(what + " '" + re + "' is not a valid regex: " + e.what());
    }
  };
  if (!options_.target_regex.empty()) check_regex(options_.target_regex, "target_modules regex");
  for (const auto& [p, v] : options_.rank_pattern) {
    check_regex("(.*\\.)?(" + p + ")", "rank_pattern key");
    if (v <= 0) throw InvalidArgument("rank_pattern['" + p + "'] must be > 0, got " + std::to_string(v));
  }
  for (const auto& [p, v] : options_.alpha_pattern) {
    check_regex("(.*\\.)?(" + p + ")", "alpha_pattern key");
    if (!std::isfinite(v)) throw InvalidArgument("alpha_pattern['" + p + "'] must be a finite number");
  }
  // Streamed: the checkpoint is read tensor by tensor (and quantized as it is read), so loading
  // never holds the whole dense file beside the model.
  base_ = std::make_shared<Decoder>(base_path, dtype, device, FileAccess::kStream, options_.quantization);
  const auto& cfg = base_->config();
  slots_ = projection_slots(cfg);
  const int n_layers = static_cast<int>(base_->layers().size());
  const int n_slots = static_cast<int>(slots_.size());
  adapter_at_.assign(static_cast<size_t>(n_layers), std::vector<int>(static_cast<size_t>(n_slots), -1));
  copy_at_.assign(static_cast<size_t>(n_layers), std::vector<int>(static_cast<size_t>(n_slots), -1));
  norm_copy_at_.assign(static_cast<size_t>(n_layers), {});
  for (auto& a : norm_copy_at_) a.fill(-1);

  auto gen = at::make_generator<at::CPUGeneratorImpl>(options_.seed);
  for (int i = 0; i < n_layers; ++i) {
    for (int p = 0; p < n_slots; ++p) {
      const std::string name = lora_module_name(slots_, i, p);
      if (!matches_target(options_, name)) continue;
      const auto& slot = slots_[static_cast<size_t>(p)];
      const int64_t out = slot.rows, in = base_->layers()[static_cast<size_t>(i)].matrix(slot.matrix).cols();
      LoraAdapter ad;
      ad.module = name;
      ad.layer = i;
      ad.slot = p;
      const auto* r = pattern_value(options_.rank_pattern, name);
      const auto* alpha = pattern_value(options_.alpha_pattern, name);
      ad.r = r ? *r : options_.r;
      ad.alpha = alpha ? *alpha : options_.alpha;
      ad.scaling =
          options_.use_rslora ? ad.alpha / std::sqrt(static_cast<double>(ad.r)) : ad.alpha / static_cast<double>(ad.r);
      // kaiming_uniform_(a=sqrt(5)) on [r, in]: gain = sqrt(2 / (1 + 5)), bound = gain * sqrt(3 / in).
      const double bound = std::sqrt(2.0 / 6.0) * std::sqrt(3.0 / static_cast<double>(in));
      ad.a = at::empty({ad.r, in}, torch::TensorOptions().dtype(torch::kFloat32)).uniform_(-bound, bound, gen);
      ad.b = at::zeros({out, ad.r}, torch::TensorOptions().dtype(torch::kFloat32));
      ad.a = ad.a.to(device).set_requires_grad(true);
      ad.b = ad.b.to(device).set_requires_grad(true);
      adapter_at_[static_cast<size_t>(i)][static_cast<size_t>(p)] = static_cast<int>(adapters_.size());
      adapters_.push_back(std::move(ad));
    }
  }
  if (adapters_.empty()) {
    std::string what = options_.all_linear              ? "all-linear"
                       : !options_.target_regex.empty() ? "regex '" + options_.target_regex + "'"
                                                        : "target_modules [";
    if (!options_.all_linear && options_.target_regex.empty()) {
      for (size_t k = 0; k < options_.target_modules.size(); ++k) what += (k ? ", " : "") + options_.target_modules[k];
      what += "]";
    }
    std::string candidates;
    for (const auto& s : slots_) candidates += " " + s.name;
    throw InvalidArgument("LoRA " + what + " matches no linear module (candidates:" + candidates + ", e.g. " +
                          lora_module_name(slots_, 0, 0) + ")");
  }
  if (options_.use_dora) {
    torch::NoGradGuard no_grad;
    for (auto& ad : adapters_) {
      // ||W + s B A|| with B = 0: the row norms of the frozen weight, in float32 (PEFT's init)
      auto w = base_weight(ad.layer, ad.slot, base_->dtype()).to(torch::kFloat32);
      ad.magnitude = at::linalg_vector_norm(w, 2, {1}, false, torch::kFloat32).detach().set_requires_grad(true);
    }
  }

  // modules_to_save: every module whose name ends with an entry (PEFT), containers expanded.
  struct Candidate {
    std::string name;
    TrainedModule::Kind kind;
    int layer = -1, slot = -1;
    Norm norm = Norm::kAttnIn;
  };
  std::vector<Candidate> leaves;
  leaves.push_back({"model.embed_tokens", TrainedModule::Kind::kEmbed});
  for (int i = 0; i < n_layers; ++i) {
    for (int p = 0; p < n_slots; ++p)
      leaves.push_back({lora_module_name(slots_, i, p), TrainedModule::Kind::kProjection, i, p});
    for (int n = 0; n < kNumNorms; ++n) {
      const auto name = norm_module_name(cfg, i, static_cast<Norm>(n));
      if (!name.empty()) leaves.push_back({name, TrainedModule::Kind::kLayerNorm, i, -1, static_cast<Norm>(n)});
    }
  }
  leaves.push_back({"model.norm", TrainedModule::Kind::kFinalNorm});
  leaves.push_back({"lm_head", TrainedModule::Kind::kLmHead});
  std::set<std::string> chosen;
  for (const auto& entry : options_.modules_to_save) {
    if (entry.empty()) throw InvalidArgument("modules_to_save holds an empty name");
    bool found = false;
    for (const auto& leaf : leaves) {
      // the leaf itself, or a container of it ("model.layers.0.mlp", "mlp", ...), ends with the entry
      bool hit = ends_with(leaf.name, entry);
      for (size_t dot = leaf.name.find('.'); !hit && dot != std::string::npos; dot = leaf.name.find('.', dot + 1))
        hit = ends_with(leaf.name.substr(0, dot), entry);
      if (!hit) continue;
      found = true;
      chosen.insert(leaf.name);
    }
    if (!found)
      throw InvalidArgument("modules_to_save entry '" + entry +
                            "' names no module of this model (modules: model.embed_tokens, " +
                            lora_module_name(slots_, 0, 0) + " ..., " + norm_module_name(cfg, 0, Norm::kAttnIn) +
                            " ..., model.norm, lm_head; a name matches every module ending with it, as in PEFT)");
  }
  for (const auto& leaf : leaves) {
    if (!chosen.count(leaf.name)) continue;
    TrainedModule t;
    t.module = leaf.name;
    t.kind = leaf.kind;
    t.layer = leaf.layer;
    t.slot = leaf.slot;
    t.norm = leaf.norm;
    switch (leaf.kind) {
      case TrainedModule::Kind::kEmbed:
        t.weight = trainable(base_->embed());
        embed_copy_ = static_cast<int>(copies_.size());
        break;
      case TrainedModule::Kind::kLmHead:
        t.weight = trainable(base_->lm_head());
        lm_head_copy_ = static_cast<int>(copies_.size());
        break;
      case TrainedModule::Kind::kFinalNorm:
        t.weight = trainable(base_->final_norm());
        final_norm_copy_ = static_cast<int>(copies_.size());
        break;
      case TrainedModule::Kind::kLayerNorm:
        t.weight = trainable(base_->layers()[static_cast<size_t>(leaf.layer)].norm(leaf.norm));
        norm_copy_at_[static_cast<size_t>(leaf.layer)][static_cast<size_t>(leaf.norm)] =
            static_cast<int>(copies_.size());
        break;
      case TrainedModule::Kind::kProjection: {
        if (adapter_at_[static_cast<size_t>(leaf.layer)][static_cast<size_t>(leaf.slot)] >= 0)
          throw InvalidArgument("modules_to_save selects " + leaf.name +
                                ", which LoRA also targets: a module is either adapted or copied");
        const auto& slot = slots_[static_cast<size_t>(leaf.slot)];
        if (base_->layers()[static_cast<size_t>(leaf.layer)].matrix(slot.matrix).quantized())
          throw InvalidArgument("modules_to_save selects " + leaf.name +
                                ", which the quantized base holds in 4/8 bits: a trainable copy needs an unquantized "
                                "module (quantize the others or train it with LoRA)");
        t.weight = trainable(base_weight(leaf.layer, leaf.slot, base_->dtype()));
        auto bias = base_bias(leaf.layer, leaf.slot);
        if (bias.defined()) t.bias = trainable(bias);
        copy_at_[static_cast<size_t>(leaf.layer)][static_cast<size_t>(leaf.slot)] = static_cast<int>(copies_.size());
        break;
      }
    }
    copies_.push_back(std::move(t));
  }
}

std::vector<torch::Tensor> LoraModel::parameters() const {
  std::vector<torch::Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> LoraModel::named_parameters() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& ad : adapters_) {
    out.emplace_back("base_model.model." + ad.module + ".lora_A.weight", ad.a);
    out.emplace_back("base_model.model." + ad.module + ".lora_B.weight", ad.b);
    if (ad.magnitude.defined())
      out.emplace_back("base_model.model." + ad.module + ".lora_magnitude_vector", ad.magnitude);
  }
  for (const auto& c : copies_) {
    out.emplace_back("base_model.model." + c.module + ".weight", c.weight);
    if (c.bias.defined()) out.emplace_back("base_model.model." + c.module + ".bias", c.bias);
  }
  return out;
}

int64_t LoraModel::num_trainable() const {
  int64_t n = 0;
  for (const auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

torch::Tensor LoraModel::base_weight(int layer, int slot, torch::Dtype dtype) const {
  const auto& s = slots_[static_cast<size_t>(slot)];
  const auto& m = base_->layers()[static_cast<size_t>(layer)].matrix(s.matrix);
  if (m.quantized()) return m.q->dequantize(dtype, s.row0, s.row0 + s.rows);
  auto w = m.w.narrow(0, s.row0, s.rows);
  return w.scalar_type() == dtype ? w : w.to(dtype);
}

torch::Tensor LoraModel::base_bias(int layer, int slot) const {
  const auto& s = slots_[static_cast<size_t>(slot)];
  const auto& m = base_->layers()[static_cast<size_t>(layer)].matrix(s.matrix);
  return m.b.defined() ? m.b.narrow(0, s.row0, s.rows) : torch::Tensor();
}

torch::Tensor LoraModel::lora_delta(const LoraAdapter& ad, const torch::Tensor& xf, torch::ScalarType dtype) const {
  const auto in = options_.dropout > 0.0 && training_ ? at::dropout(xf, options_.dropout, true) : xf;
  // (x A^T)(s B)^T: the scaling is applied to the small [out, r] matrix, not to the [tokens, out] output.
  return at::linear(at::linear(in, ad.a), ad.b * ad.scaling).to(dtype);
}

// Output of one module: its slice of the fused base output (or its trained copy) plus its adapter.
torch::Tensor LoraModel::slot_output(int layer, int slot, const torch::Tensor& x, const torch::Tensor& base_out) const {
  const int ci = copy_at_[static_cast<size_t>(layer)][static_cast<size_t>(slot)];
  if (ci >= 0) {
    const auto& c = copies_[static_cast<size_t>(ci)];
    const auto dt = x.scalar_type();
    return c.bias.defined() ? at::linear(x, c.weight.to(dt), c.bias.to(dt)) : at::linear(x, c.weight.to(dt));
  }
  const int idx = adapter_at_[static_cast<size_t>(layer)][static_cast<size_t>(slot)];
  if (idx < 0) return base_out;
  const auto& ad = adapters_[static_cast<size_t>(idx)];
  if (!ad.magnitude.defined()) return base_out + lora_delta(ad, x.to(torch::kFloat32), x.scalar_type());
  auto xf = x.to(torch::kFloat32);
  const bool drop = options_.dropout > 0.0 && training_;
  if (drop) xf = at::dropout(xf, options_.dropout, true);
  // DoRA, as PEFT: the weight norm is a constant of the graph.
  torch::Tensor g;
  auto w = base_weight(layer, slot, base_->dtype()).to(torch::kFloat32);
  {
    torch::NoGradGuard no_grad;
    auto norm = at::linalg_vector_norm(w + at::matmul(ad.b, ad.a) * ad.scaling, 2, {1}, false, torch::kFloat32);
    g = norm;
  }
  g = ad.magnitude / g;
  auto lora = at::linear(at::linear(xf, ad.a), ad.b);
  torch::Tensor plain;  // base(x) without its bias
  if (drop) {
    plain = at::linear(xf, w);
  } else {
    auto bias = base_bias(layer, slot);
    plain = bias.defined() ? base_out - bias : base_out;
  }
  return (base_out + ((g - 1) * plain + g * lora * ad.scaling)).to(x.scalar_type());
}

torch::Tensor LoraModel::Hooks::project(int layer, Matrix m, const torch::Tensor& x) const {
  const auto& M = m_;
  std::vector<int> slots;
  bool touched = false;
  for (int p = 0; p < static_cast<int>(M.slots_.size()); ++p) {
    if (M.slots_[static_cast<size_t>(p)].matrix != m) continue;
    slots.push_back(p);
    touched = touched || M.adapter_at_[static_cast<size_t>(layer)][static_cast<size_t>(p)] >= 0 ||
              M.copy_at_[static_cast<size_t>(layer)][static_cast<size_t>(p)] >= 0;
  }
  // the base matmul on rows: its output is then no view (autograd forbids in-place writes to a view
  // made inside a custom Function), so the fused sum below can add into it
  const auto x2 = x.reshape({-1, x.size(-1)});
  const auto base2 = M.base_->base_project(layer, m, x2);
  auto sizes = x.sizes().vec();
  sizes.back() = base2.size(-1);
  if (!touched) return base2.view(sizes);
  // plain: every module of the matrix has an adapter without DoRA and no trained copy
  bool plain = true;
  for (int p : slots) {
    const int idx = M.adapter_at_[static_cast<size_t>(layer)][static_cast<size_t>(p)];
    plain = plain && idx >= 0 && M.copy_at_[static_cast<size_t>(layer)][static_cast<size_t>(p)] < 0 &&
            !M.adapters_[static_cast<size_t>(idx)].magnitude.defined();
  }
  const bool dropping = M.options_.dropout > 0.0 && M.training_;
  auto adapter_of = [&](int p) -> const LoraAdapter& {
    return M.adapters_[static_cast<size_t>(M.adapter_at_[static_cast<size_t>(layer)][static_cast<size_t>(p)])];
  };
  if (plain && !dropping && x.scalar_type() == torch::kBFloat16) {
    // bf16 on the CPU: the adapters' terms added into the base output in one pass (nn/lora_bf16.h)
    std::vector<LoraTerm> terms;
    for (int p : slots) {
      const auto& ad = adapter_of(p);
      terms.push_back({ad.a, ad.b, ad.scaling, M.slots_[static_cast<size_t>(p)].row0});
    }
    if (lora_bf16_applies(base2, terms)) return lora_add_bf16_(base2, x2.to(torch::kFloat32), terms).view(sizes);
  }
  if (slots.size() == 1) return M.slot_output(layer, slots.front(), x, base2.view(sizes));
  // Every module of the fused matrix has a plain adapter (the all-linear case): the adapters' terms
  // side by side, added to the fused base output once. Same values as per-slice sums, but the
  // backward passes the gradient to the base matmul whole, where slices of it would each
  // materialise a zero-filled full-width gradient and add them up.
  if (plain && !dropping && x.scalar_type() == torch::kFloat32) {
    // float32 without dropout (one input for every adapter): all the adapters of the matrix in two
    // GEMMs, x [A_1; A_2; ...]^T, then its product with the block-diagonal [s_1 B_1, s_2 B_2, ...]
    // accumulated into the base output in place (addmm_): no per-slot delta, no cat, no separate
    // add and no second [tokens, out] buffer (the frozen matmul's backward does not read its output)
    std::vector<torch::Tensor> as, bs;
    for (int p : slots) {
      const auto& ad = adapter_of(p);
      as.push_back(ad.a);
      bs.push_back(ad.b * ad.scaling);
    }
    const auto xa = at::linear(x2, at::cat(as, 0));
    const auto bd = at::block_diag(bs).t();
    if (base2.is_view()) return at::addmm(base2, xa, bd).view(sizes);  // a view of a tensor: out of place
    base2.addmm_(xa, bd);
    return base2.view(sizes);
  }
  const auto base = base2.view(sizes);
  if (plain) {
    std::vector<torch::Tensor> deltas;
    const auto xf = x.to(torch::kFloat32);  // once for all the slots (a copy in bf16 / fp16)
    for (int p : slots) deltas.push_back(M.lora_delta(adapter_of(p), xf, x.scalar_type()));
    return base + at::cat(deltas, -1);
  }
  std::vector<torch::Tensor> pieces;
  for (int p : slots) {
    const auto& s = M.slots_[static_cast<size_t>(p)];
    pieces.push_back(M.slot_output(layer, p, x, base.narrow(-1, s.row0, s.rows)));
  }
  return at::cat(pieces, -1);
}

torch::Tensor LoraModel::Hooks::norm(int layer, Norm n) const {
  const int ci = m_.norm_copy_at_[static_cast<size_t>(layer)][static_cast<size_t>(n)];
  const auto& base = m_.base_->layers()[static_cast<size_t>(layer)].norm(n);
  if (ci < 0) return base;
  return m_.copies_[static_cast<size_t>(ci)].weight.to(base.scalar_type());
}

torch::Tensor LoraModel::embed_weight() const {
  return embed_copy_ >= 0 ? copies_[static_cast<size_t>(embed_copy_)].weight.to(base_->dtype()) : base_->embed();
}
torch::Tensor LoraModel::lm_head_weight() const {
  return lm_head_copy_ >= 0 ? copies_[static_cast<size_t>(lm_head_copy_)].weight.to(base_->dtype()) : base_->lm_head();
}
torch::Tensor LoraModel::final_norm_weight() const {
  return final_norm_copy_ >= 0 ? copies_[static_cast<size_t>(final_norm_copy_)].weight.to(base_->dtype())
                               : base_->final_norm();
}

bool LoraModel::pack_frozen() { return base_->pack_frozen(lm_head_copy_ < 0); }

void LoraModel::unpack_frozen() { base_->unpack_frozen(); }

torch::Tensor LoraModel::layer_forward(int i, const torch::Tensor& x, const LayerInputs& in) const {
  return base_->layer_forward(i, x, in, nullptr, hooks_);
}

std::vector<torch::Tensor> LoraModel::layer_parameters(int i) const {
  std::vector<torch::Tensor> out;
  for (const auto& ad : adapters_) {
    if (ad.layer != i) continue;
    out.push_back(ad.a);
    out.push_back(ad.b);
    if (ad.magnitude.defined()) out.push_back(ad.magnitude);
  }
  for (const auto& c : copies_) {
    if (c.layer != i) continue;
    out.push_back(c.weight);
    if (c.bias.defined()) out.push_back(c.bias);
  }
  return out;
}

namespace {

// Gradient checkpointing: the forward keeps only the layer input; the backward re-runs the layer
// with grad enabled (same dropout draws: the CPU generator state is saved and replayed) and
// differentiates it with respect to the input and the layer's trainable tensors.
struct CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, at::TensorList params,
                               const LoraModel* model, int64_t layer, const LayerInputs* in) {
    ctx->save_for_backward({x});
    ctx->saved_data["layer"] = layer;
    ctx->saved_data["model"] = reinterpret_cast<int64_t>(model);
    ctx->saved_data["cos"] = in->cos;
    ctx->saved_data["sin"] = in->sin;
    ctx->saved_data["cos_local"] = in->cos_local;
    ctx->saved_data["sin_local"] = in->sin_local;
    ctx->saved_data["mask"] = in->masks[static_cast<size_t>(layer)];
    ctx->saved_data["n_params"] = static_cast<int64_t>(params.size());
    const bool replay = model->training() && model->options().dropout > 0.0;
    ctx->saved_data["replay"] = replay;
    if (replay) {
      at::Generator gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      ctx->saved_data["rng"] = gen.get_state();
    }
    return model->layer_forward(static_cast<int>(layer), x, *in);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto* model = reinterpret_cast<const LoraModel*>(ctx->saved_data["model"].toInt());
    const int layer = static_cast<int>(ctx->saved_data["layer"].toInt());
    LayerInputs in;
    auto tensor = [&](const char* key) {
      auto v = ctx->saved_data[key];
      return v.isTensor() ? v.toTensor() : torch::Tensor();
    };
    in.cos = tensor("cos");
    in.sin = tensor("sin");
    in.cos_local = tensor("cos_local");
    in.sin_local = tensor("sin_local");
    in.masks.assign(static_cast<size_t>(layer) + 1, torch::Tensor());
    in.masks[static_cast<size_t>(layer)] = tensor("mask");
    auto x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    torch::Tensor rng_now;
    const bool replay = ctx->saved_data["replay"].toBool();
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    if (replay) {
      std::lock_guard<std::mutex> lock(gen.mutex());
      rng_now = gen.get_state();
      gen.set_state(ctx->saved_data["rng"].toTensor());
    }
    torch::Tensor y;
    {
      torch::AutoGradMode enable(true);
      y = model->layer_forward(layer, x, in);
    }
    if (replay) {
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(rng_now);
    }
    auto params = model->layer_parameters(layer);
    std::vector<torch::Tensor> inputs = {x};
    inputs.insert(inputs.end(), params.begin(), params.end());
    auto grads = torch::autograd::grad({y}, inputs, {grad_out[0]}, false, false, true);
    torch::autograd::variable_list out = grads;
    out.emplace_back();  // model
    out.emplace_back();  // layer
    out.emplace_back();  // inputs
    return out;
  }
};

// Whether every row is valid on a prefix and padding after it (make_batch's right padding).
bool right_padded(const torch::Tensor& valid) {
  const auto j = at::arange(valid.size(1), torch::TensorOptions().dtype(torch::kInt64).device(valid.device()));
  return at::equal(valid, j.unsqueeze(0) < valid.sum(1, true));
}

}  // namespace

torch::Tensor LoraModel::hidden(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                bool padding_rows_read) const {
  const auto& base = *base_;
  const auto device = base.device();
  const auto dtype = base.dtype();
  if (input_ids.dim() != 2 || attention_mask.sizes() != input_ids.sizes())
    throw InvalidArgument("input_ids and attention_mask must both be [batch, seq]");
  auto ids = input_ids.to(device, torch::kInt64);
  auto seg = attention_mask.to(device, torch::kInt64);
  auto valid = seg.ne(0);
  const int64_t s = ids.size(1), b = ids.size(0);
  // Packed rows: attention_mask holds 1, 2, 3, ... per sequence (0 = padding). Positions restart at
  // each sequence and attention stays inside it (block-causal mask).
  const bool packed = seg.numel() > 0 && seg.max().item<int64_t>() > 1;
  torch::Tensor pos, packed_allowed;
  if (packed) {
    auto j = at::arange(s, torch::TensorOptions().dtype(torch::kInt64).device(device)).expand({b, s});
    auto prev = at::cat({at::full({b, 1}, -1, seg.options()), seg.narrow(1, 0, s - 1)}, 1);
    auto starts = std::get<0>(at::cummax(at::where(seg.ne(prev), j, at::zeros_like(j)), 1));
    pos = (j - starts).masked_fill(valid.logical_not(), 0);
    auto q = j.unsqueeze(2), k = j.unsqueeze(1);
    packed_allowed = (k <= q) & seg.unsqueeze(2).eq(seg.unsqueeze(1)) & valid.unsqueeze(1);  // [B, S, S]
  } else {
    pos = valid.to(torch::kInt64).cumsum(-1) - 1;
    pos = pos.masked_fill(pos < 0, 0).masked_fill(valid.logical_not(), 0);
  }
  auto x = base.embed_tokens(ids, embed_weight());
  LayerInputs in;
  base.rope(pos, in);
  // Per layer: an additive mask, or none for the kernel's causal mode (no padding, no window,
  // no eager attention). Right padding needs none either when no padding row is read (loss_sum):
  // every key a real row sees causally is valid, so real rows get the masked values; only
  // padding rows change (they also see padding keys), and no real row depends on them.
  const bool no_padding =
      !packed && !base.eager_attention() && (valid.all().item<bool>() || (!padding_rows_read && right_padded(valid)));
  std::map<int64_t, torch::Tensor> masks;  // window (0: full) -> mask
  auto additive = [&](const torch::Tensor& allowed) {
    auto zero = at::zeros({}, torch::TensorOptions().dtype(dtype).device(device));
    auto neg = at::full({},
                        dtype == torch::kFloat16
                            ? -65504.0
                            : (dtype == torch::kBFloat16 ? -3.3895313892515355e38 : -3.4028234663852886e38),
                        torch::TensorOptions().dtype(dtype).device(device));
    return at::where(allowed, zero, neg).unsqueeze(1);
  };
  for (const auto& L : base.layers()) {
    const int64_t window = L.window > 0 && L.window < s ? L.window : 0;
    if (window == 0 && no_padding) {
      in.masks.emplace_back();
      continue;
    }
    auto it = masks.find(window);
    if (it == masks.end()) {
      torch::Tensor mask;
      if (packed) {
        auto allowed = packed_allowed;
        if (window > 0) {
          auto j = at::arange(s, torch::TensorOptions().dtype(torch::kInt64).device(device));
          allowed = allowed & ((j.view({s, 1}) - j.view({1, s})) < window).unsqueeze(0);
        }
        mask = additive(allowed);
      } else {
        mask = attention_mask_for(valid, 0, s, window, dtype);
      }
      it = masks.emplace(window, mask).first;
    }
    in.masks.push_back(it->second);
  }
  const bool checkpoint = checkpointing_ && torch::GradMode::is_enabled();
  for (size_t li = 0; li < base.layers().size(); ++li) {
    const int i = static_cast<int>(li);
    if (checkpoint) {
      auto params = layer_parameters(i);
      x = CheckpointedLayer::apply(x, at::TensorList(params), this, static_cast<int64_t>(i), &in);
    } else {
      x = layer_forward(i, x, in);
    }
  }
  return base.rms_norm(x, final_norm_weight());
}

torch::Tensor LoraModel::logits(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) const {
  return base_->head_logits(hidden(input_ids, attention_mask), lm_head_weight());
}

LossSum LoraModel::loss_sum(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                            const torch::Tensor& labels, bool accuracy) const {
  if (labels.sizes() != input_ids.sizes()) throw InvalidArgument("labels must have the shape of input_ids");
  auto h = hidden(input_ids, attention_mask, false);
  const int64_t s = h.size(1);
  auto target = labels.to(h.device(), torch::kInt64).narrow(1, 1, s - 1).reshape({-1});
  auto hs = h.narrow(1, 0, s - 1).reshape({-1, h.size(2)});
  auto keep = target.ne(-100).nonzero().view({-1});
  LossSum out;
  out.tokens = keep.numel();
  if (out.tokens == 0) {
    out.sum = (h.sum() * 0).to(torch::kFloat32);
    return out;
  }
  const bool all = out.tokens == target.numel();  // no gather (and no scatter in the backward)
  auto hl = all ? hs : hs.index_select(0, keep);
  auto t = all ? target : target.index_select(0, keep);
  if (base_->config().final_softcap <= 0) {
    // the lm_head and the loss fused in chunks: the [tokens, vocab] logits never exist
    const auto w = lm_head_weight();
    // the lm_head's packs exist only while a trainer holds them and only for the base's own lm_head
    // (pack_frozen); undefined packs are ignored
    out.sum = linear_cross_entropy_sum(hl, w, t, cross_entropy_chunk_rows(w.size(0)), accuracy ? &out.correct : nullptr,
                                       &base_->lm_head_pack());
    return out;
  }
  auto logits = base_->head_logits(hl, lm_head_weight()).to(torch::kFloat32);
  out.sum = at::cross_entropy_loss(logits, t, {}, at::Reduction::Sum);
  if (accuracy) {
    torch::NoGradGuard no_grad;
    out.correct = logits.argmax(-1).eq(t).sum().item<int64_t>();
  }
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> LoraModel::peft_state_dict() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& [name, t] : named_parameters())
    out.emplace_back(name, t.detach().to(torch::kCPU, torch::kFloat32).contiguous());
  return out;
}

void LoraModel::save_adapter(const std::string& dir, const std::string& base_model_name_or_path) const {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  save_safetensors((fs::path(dir) / "adapter_model.safetensors").string(), peft_state_dict(), {{"format", "pt"}});
  // target_modules: the leaf names of the adapted modules (PEFT matches them as suffixes); a regex
  // is saved as the string PEFT full-matches.
  std::string targets;
  if (!options_.target_regex.empty()) {
    targets = quoted(options_.target_regex);
  } else {
    std::set<std::string> leaves;
    for (const auto& ad : adapters_) leaves.insert(ad.module.substr(ad.module.rfind('.') + 1));
    // Leaf names only when they select exactly the adapted modules (PEFT matches them in every
    // layer); otherwise the full module names.
    size_t selected = 0;
    for (size_t i = 0; i < adapter_at_.size(); ++i)
      for (const auto& s : slots_) selected += leaves.count(s.name);
    if (selected != adapters_.size()) {
      leaves.clear();
      for (const auto& ad : adapters_) leaves.insert(ad.module);
    }
    targets = "[";
    bool first = true;
    for (const auto& l : leaves) {
      targets += std::string(first ? "" : ", ") + quoted(l);
      first = false;
    }
    targets += "]";
  }
  auto pattern_json = [](const auto& patterns) {
    std::string s = "{";
    for (size_t k = 0; k < patterns.size(); ++k)
      s += (k ? ", " : "") + quoted(patterns[k].first) + ": " + number(static_cast<double>(patterns[k].second));
    return s + "}";
  };
  std::string mts = "null";
  if (!options_.modules_to_save.empty()) {
    mts = "[";
    for (size_t k = 0; k < options_.modules_to_save.size(); ++k)
      mts += (k ? ", " : "") + quoted(options_.modules_to_save[k]);
    mts += "]";
  }
  std::string json = "{\n";
  json += "  \"alpha_pattern\": " + pattern_json(options_.alpha_pattern) + ",\n";
  json += "  \"base_model_name_or_path\": " + quoted(base_model_name_or_path) + ",\n";
  json += "  \"bias\": \"none\",\n";
  json += "  \"fan_in_fan_out\": false,\n";
  json += "  \"inference_mode\": true,\n";
  json += "  \"init_lora_weights\": true,\n";
  json += "  \"layers_pattern\": null,\n";
  json += "  \"layers_to_transform\": null,\n";
  json += "  \"lora_alpha\": " + number(options_.alpha) + ",\n";
  json += "  \"lora_dropout\": " + number(options_.dropout) + ",\n";
  json += "  \"modules_to_save\": " + mts + ",\n";
  json += "  \"peft_type\": \"LORA\",\n";
  json += "  \"r\": " + std::to_string(options_.r) + ",\n";
  json += "  \"rank_pattern\": " + pattern_json(options_.rank_pattern) + ",\n";
  json += "  \"revision\": null,\n";
  json += "  \"target_modules\": " + targets + ",\n";
  json += "  \"task_type\": \"CAUSAL_LM\"";
  if (options_.use_dora) json += ",\n  \"use_dora\": true";
  if (options_.use_rslora) json += ",\n  \"use_rslora\": true";
  json += "\n}\n";
  const auto path = fs::path(dir) / "adapter_config.json";
  std::ofstream f(path, std::ios::binary);
  if (!f) throw IoError("cannot write " + path.string());
  f << json;
  if (!f) throw IoError("cannot write " + path.string());
}

void LoraModel::load_adapter(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path p(path);
  if (fs::is_directory(p)) p /= "adapter_model.safetensors";
  load_adapter(SafetensorsFile(p.string()));
}

void LoraModel::load_adapter(const SafetensorsFile& f) { load_state(read_state(f)); }

std::vector<std::pair<std::string, torch::Tensor>> LoraModel::read_state(const SafetensorsFile& f) const {
  const std::string& src = f.path();
  std::set<std::string> expected;
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& [key, dst] : named_parameters()) {
    expected.insert(key);
    if (!f.contains(key)) throw FormatError(src + ": missing adapter key '" + key + "'");
    auto t = f.tensor(key);
    if (t.sizes() != dst.sizes())
      throw FormatError(src + ": tensor '" + key + "' has shape " + c10::str(t.sizes()) + ", expected " +
                        c10::str(dst.sizes()));
    if (!t.is_floating_point()) throw FormatError(src + ": tensor '" + key + "' is not floating-point");
    t = t.to(torch::kFloat32);
    if (!at::isfinite(t).all().item<bool>()) throw FormatError(src + ": tensor '" + key + "' holds a NaN or infinity");
    tensors.emplace_back(key, std::move(t));
  }
  for (const auto& name : f.names())
    if (!expected.count(name))
      throw FormatError(src + ": unexpected adapter key '" + name + "' (this model trains " +
                        std::to_string(expected.size()) + " tensors: " + std::to_string(adapters_.size()) +
                        " adapters, " + std::to_string(copies_.size()) + " module copies)");
  return tensors;
}

void LoraModel::load_state(const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  auto params = named_parameters();
  if (tensors.size() != params.size())
    throw InvalidArgument("load_state: " + std::to_string(tensors.size()) + " tensors for " +
                          std::to_string(params.size()) + " trainable tensors");
  std::map<std::string, const torch::Tensor*> by_name;
  for (const auto& [k, t] : tensors) by_name[k] = &t;
  for (const auto& [k, p] : params) {
    auto it = by_name.find(k);
    if (it == by_name.end()) throw InvalidArgument("load_state: no tensor for '" + k + "'");
    if (it->second->sizes() != p.sizes()) throw InvalidArgument("load_state: '" + k + "' has another shape");
  }
  torch::NoGradGuard no_grad;
  for (auto& [k, p] : params) {
    auto dst = p;
    dst.copy_(by_name[k]->to(torch::kFloat32));
  }
}

torch::Tensor LoraModel::merged_weight(int layer, int slot) const {
  const int ci = copy_at_[static_cast<size_t>(layer)][static_cast<size_t>(slot)];
  if (ci >= 0) return copies_[static_cast<size_t>(ci)].weight.detach().to(base_->dtype());
  const int idx = adapter_at_[static_cast<size_t>(layer)][static_cast<size_t>(slot)];
  auto w = base_weight(layer, slot, base_->dtype());
  if (idx < 0) return w;
  const auto& ad = adapters_[static_cast<size_t>(idx)];
  auto merged = w.to(torch::kFloat32) + at::matmul(ad.b, ad.a) * ad.scaling;
  if (ad.magnitude.defined()) {
    auto norm = at::linalg_vector_norm(merged, 2, {1}, true, torch::kFloat32);
    merged = (ad.magnitude.unsqueeze(1) / norm) * merged;
  }
  return merged.to(base_->dtype());
}

torch::Tensor LoraModel::merged_bias(int layer, int slot) const {
  const int ci = copy_at_[static_cast<size_t>(layer)][static_cast<size_t>(slot)];
  if (ci >= 0 && copies_[static_cast<size_t>(ci)].bias.defined())
    return copies_[static_cast<size_t>(ci)].bias.detach().to(base_->dtype());
  return base_bias(layer, slot);
}

void LoraModel::save_merged(const std::string& dir) const {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  torch::NoGradGuard no_grad;
  const auto& base = *base_;
  const auto& cfg = base.config();
  std::vector<std::pair<std::string, torch::Tensor>> out;
  out.emplace_back("model.embed_tokens.weight", embed_weight().detach());
  const auto& layers = base.layers();
  for (size_t li = 0; li < layers.size(); ++li) {
    const int i = static_cast<int>(li);
    for (int p = 0; p < static_cast<int>(slots_.size()); ++p) {
      const std::string name = lora_module_name(slots_, i, p);
      out.emplace_back(name + ".weight", merged_weight(i, p).contiguous());
      auto bias = merged_bias(i, p);
      if (bias.defined()) out.emplace_back(name + ".bias", bias.contiguous());
    }
    for (int n = 0; n < kNumNorms; ++n) {
      const auto name = norm_module_name(cfg, i, static_cast<Norm>(n));
      if (name.empty()) continue;
      out.emplace_back(name + ".weight", hooks_.norm(i, static_cast<Norm>(n)).detach());
    }
  }
  out.emplace_back("model.norm.weight", final_norm_weight().detach());
  const bool untouched_tie =
      cfg.tie_word_embeddings && base.lm_head().is_same(base.embed()) && embed_copy_ < 0 && lm_head_copy_ < 0;
  if (!untouched_tie) out.emplace_back("lm_head.weight", lm_head_weight().detach());
  save_safetensors((fs::path(dir) / "model.safetensors").string(), out, {{"format", "pt"}});
}

std::shared_ptr<Decoder> LoraModel::merged_decoder() const {
  torch::NoGradGuard no_grad;
  std::vector<Decoder::Layer> layers = base_->layers();  // tensor handles: shares the base storage
  for (size_t li = 0; li < layers.size(); ++li) {
    const int i = static_cast<int>(li);
    auto& L = layers[li];
    for (int m = 0; m < kNumMatrices; ++m) {
      std::vector<int> slots;
      bool touched = false;
      for (int p = 0; p < static_cast<int>(slots_.size()); ++p) {
        if (static_cast<int>(slots_[static_cast<size_t>(p)].matrix) != m) continue;
        slots.push_back(p);
        touched = touched || adapter_at_[li][static_cast<size_t>(p)] >= 0 || copy_at_[li][static_cast<size_t>(p)] >= 0;
      }
      if (!touched) continue;
      std::vector<torch::Tensor> w, b;
      for (int p : slots) {
        w.push_back(merged_weight(i, p));
        auto bias = merged_bias(i, p);
        if (bias.defined()) b.push_back(bias);
      }
      auto& lm = L.m[static_cast<size_t>(m)];
      lm.q.reset();
      lm.w = w.size() == 1 ? w.front().contiguous() : at::cat(w, 0);
      if (!b.empty()) lm.b = b.size() == 1 ? b.front().contiguous() : at::cat(b, 0);
    }
    for (int n = 0; n < kNumNorms; ++n)
      if (norm_copy_at_[li][static_cast<size_t>(n)] >= 0)
        L.norms[static_cast<size_t>(n)] = hooks_.norm(i, static_cast<Norm>(n)).detach().clone();
  }
  auto dec = base_->with_layers(std::move(layers));
  auto copy = [&](int idx) {
    return idx >= 0 ? copies_[static_cast<size_t>(idx)].weight.detach().to(base_->dtype()).clone() : torch::Tensor();
  };
  return std::make_shared<Decoder>(dec.with_head(copy(embed_copy_), copy(final_norm_copy_), copy(lm_head_copy_)));
}

}  // namespace airtune::nn
