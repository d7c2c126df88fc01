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
#include "nn/safetensors.h"

namespace airtune::nn {

namespace {

constexpr const char* kProjNames[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

std::string json_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

bool matches(const LoraOptions& o, const std::string& name) {
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

}  // namespace

std::string lora_module_name(int layer, int proj) {
  const std::string p = "model.layers." + std::to_string(layer) + ".";
  return p + (proj <= 3 ? "self_attn." : "mlp.") + kProjNames[proj];
}

LoraModel::LoraModel(const std::string& base_path, const LoraOptions& options, torch::Dtype dtype, torch::Device device)
    : base_(std::make_shared<Decoder>(base_path, dtype, device)), options_(options) {
  if (options_.r <= 0) throw InvalidArgument("LoRA rank r must be > 0, got " + std::to_string(options_.r));
  if (!(options_.dropout >= 0.0 && options_.dropout < 1.0)) throw InvalidArgument("lora_dropout must be in [0, 1)");
  if (!options_.target_regex.empty()) {
    try {
      std::regex re(options_.target_regex);
    } catch (const std::regex_error& e) {
      throw InvalidArgument("target_modules regex '" + options_.target_regex + "' is invalid: " + e.what());
    }
  }
  const double scaling = options_.use_rslora ? options_.alpha / std::sqrt(static_cast<double>(options_.r))
                                             : options_.alpha / static_cast<double>(options_.r);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(options_.seed);
  const int n_layers = static_cast<int>(base_->layers().size());
  index_.assign(static_cast<size_t>(n_layers), {});
  for (int i = 0; i < n_layers; ++i) {
    for (int p = 0; p < kNumProj; ++p) {
      index_[i][p] = -1;
      const std::string name = lora_module_name(i, p);
      if (!matches(options_, name)) continue;
      auto w = base_weight(i, static_cast<Proj>(p));
      const int64_t out = w.size(0), in = w.size(1);
      LoraAdapter ad;
      ad.module = name;
      ad.scaling = scaling;
      // kaiming_uniform_(a=sqrt(5)) on [r, in]: gain = sqrt(2 / (1 + 5)), bound = gain * sqrt(3 / in).
      const double bound = std::sqrt(2.0 / 6.0) * std::sqrt(3.0 / static_cast<double>(in));
      ad.a = at::empty({options_.r, in}, torch::TensorOptions().dtype(torch::kFloat32)).uniform_(-bound, bound, gen);
      ad.b = at::zeros({out, options_.r}, torch::TensorOptions().dtype(torch::kFloat32));
      ad.a = ad.a.to(device).set_requires_grad(true);
      ad.b = ad.b.to(device).set_requires_grad(true);
      index_[i][p] = static_cast<int>(adapters_.size());
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
    throw InvalidArgument("LoRA " + what +
                          " matches no linear module (candidates: q_proj k_proj v_proj o_proj gate_proj up_proj "
                          "down_proj, e.g. model.layers.0.self_attn.q_proj)");
  }
}

std::vector<torch::Tensor> LoraModel::parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& a : adapters_) {
    out.push_back(a.a);
    out.push_back(a.b);
  }
  return out;
}

int64_t LoraModel::num_trainable() const {
  int64_t n = 0;
  for (const auto& a : adapters_) n += a.a.numel() + a.b.numel();
  return n;
}

torch::Tensor LoraModel::base_weight(int layer, Proj p) const {
  const auto& L = base_->layers()[static_cast<size_t>(layer)];
  const auto& c = base_->config();
  const int64_t qd = c.num_attention_heads * c.head_dim, kvd = c.num_key_value_heads * c.head_dim;
  const int64_t inter = c.intermediate_size;
  switch (p) {
    case kQ:
      return L.qkv_w.narrow(0, 0, qd);
    case kK:
      return L.qkv_w.narrow(0, qd, kvd);
    case kV:
      return L.qkv_w.narrow(0, qd + kvd, kvd);
    case kO:
      return L.o_w;
    case kGate:
      return L.gate_up_w.narrow(0, 0, inter);
    case kUp:
      return L.gate_up_w.narrow(0, inter, inter);
    default:
      return L.down_w;
  }
}

torch::Tensor LoraModel::base_bias(int layer, Proj p) const {
  const auto& L = base_->layers()[static_cast<size_t>(layer)];
  const auto& c = base_->config();
  const int64_t qd = c.num_attention_heads * c.head_dim, kvd = c.num_key_value_heads * c.head_dim;
  const int64_t inter = c.intermediate_size;
  switch (p) {
    case kQ:
      return L.qkv_b.defined() ? L.qkv_b.narrow(0, 0, qd) : torch::Tensor();
    case kK:
      return L.qkv_b.defined() ? L.qkv_b.narrow(0, qd, kvd) : torch::Tensor();
    case kV:
      return L.qkv_b.defined() ? L.qkv_b.narrow(0, qd + kvd, kvd) : torch::Tensor();
    case kO:
      return L.o_b;
    case kGate:
      return L.gate_up_b.defined() ? L.gate_up_b.narrow(0, 0, inter) : torch::Tensor();
    case kUp:
      return L.gate_up_b.defined() ? L.gate_up_b.narrow(0, inter, inter) : torch::Tensor();
    default:
      return L.down_b;
  }
}

torch::Tensor LoraModel::delta(int layer, Proj p, const torch::Tensor& x) const {
  const int idx = index_[static_cast<size_t>(layer)][p];
  if (idx < 0) return {};
  const auto& ad = adapters_[static_cast<size_t>(idx)];
  auto xf = x.to(torch::kFloat32);
  if (options_.dropout > 0.0 && training_) xf = at::dropout(xf, options_.dropout, true);
  // (x A^T)(s B)^T: the scaling is applied to the small [out, r] matrix, not to the [tokens, out] output.
  return at::linear(at::linear(xf, ad.a), ad.b * ad.scaling).to(x.scalar_type());
}

torch::Tensor LoraModel::layer_forward(int i, const torch::Tensor& x_in, const LayerInputs& in) const {
  const auto& base = *base_;
  const auto& c = base.config();
  const auto& L = base.layers()[static_cast<size_t>(i)];
  const int64_t b = x_in.size(0), s = x_in.size(1);
  const int64_t nh = c.num_attention_heads, nkv = c.num_key_value_heads, d = c.head_dim;
  const int64_t qd = nh * d, kvd = nkv * d, inter = c.intermediate_size;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  auto rotate_half = [](const torch::Tensor& t) {
    const int64_t half = t.size(-1) / 2;
    return at::cat({-t.narrow(-1, half, half), t.narrow(-1, 0, half)}, -1);
  };
  auto add = [](torch::Tensor y, const torch::Tensor& dl) { return dl.defined() ? y + dl : y; };
  auto x = x_in;
  auto hn = base.rms_norm(x, L.ln1);
  auto qkv = L.qkv_b.defined() ? at::linear(hn, L.qkv_w, L.qkv_b) : at::linear(hn, L.qkv_w);
  auto q = add(qkv.narrow(-1, 0, qd), delta(i, kQ, hn));
  auto k = add(qkv.narrow(-1, qd, kvd), delta(i, kK, hn));
  auto v = add(qkv.narrow(-1, qd + kvd, kvd), delta(i, kV, hn));
  q = q.view({b, s, nh, d}).transpose(1, 2);
  k = k.view({b, s, nkv, d}).transpose(1, 2);
  v = v.view({b, s, nkv, d}).transpose(1, 2);
  q = q * in.cos + rotate_half(q) * in.sin;
  k = k * in.cos + rotate_half(k) * in.sin;
  const auto& mask = in.masks[static_cast<size_t>(i)];
  torch::Tensor attn;
  if (mask.defined()) {
    if (nkv != nh) {
      k = k.repeat_interleave(nh / nkv, 1);
      v = v.repeat_interleave(nh / nkv, 1);
    }
    attn = at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, scale);
  } else {  // as transformers' sdpa path without a mask: the kernel handles GQA (no k/v copies)
    attn = at::scaled_dot_product_attention(q, k, v, std::nullopt, 0.0, true, scale, nkv != nh);
  }
  attn = attn.transpose(1, 2).reshape({b, s, qd});
  auto o = add(L.o_b.defined() ? at::linear(attn, L.o_w, L.o_b) : at::linear(attn, L.o_w), delta(i, kO, attn));
  x = x + o;
  auto h2 = base.rms_norm(x, L.ln2);
  auto gu = L.gate_up_b.defined() ? at::linear(h2, L.gate_up_w, L.gate_up_b) : at::linear(h2, L.gate_up_w);
  auto gate = add(gu.narrow(-1, 0, inter), delta(i, kGate, h2));
  auto up = add(gu.narrow(-1, inter, inter), delta(i, kUp, h2));
  auto act = at::silu(gate) * up;
  auto mlp =
      add(L.down_b.defined() ? at::linear(act, L.down_w, L.down_b) : at::linear(act, L.down_w), delta(i, kDown, act));
  return x + mlp;
}

std::vector<torch::Tensor> LoraModel::layer_parameters(int i) const {
  std::vector<torch::Tensor> out;
  for (int p = 0; p < kNumProj; ++p) {
    const int idx = index_[static_cast<size_t>(i)][p];
    if (idx < 0) continue;
    out.push_back(adapters_[static_cast<size_t>(idx)].a);
    out.push_back(adapters_[static_cast<size_t>(idx)].b);
  }
  return out;
}

namespace {

// Gradient checkpointing: the forward keeps only the layer input; the backward re-runs the layer
// with grad enabled (same dropout draws: the CPU generator state is saved and replayed) and
// differentiates it with respect to the input and the layer's adapter tensors.
struct CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, at::TensorList params,
                               const LoraModel* model, int64_t layer, const LoraModel::LayerInputs* in) {
    ctx->save_for_backward({x});
    ctx->saved_data["layer"] = layer;
    ctx->saved_data["model"] = reinterpret_cast<int64_t>(model);
    ctx->saved_data["cos"] = in->cos;
    ctx->saved_data["sin"] = in->sin;
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
    LoraModel::LayerInputs in;
    in.cos = ctx->saved_data["cos"].toTensor();
    in.sin = ctx->saved_data["sin"].toTensor();
    in.masks.assign(static_cast<size_t>(layer) + 1, torch::Tensor());
    auto m = ctx->saved_data["mask"];
    if (m.isTensor()) in.masks[static_cast<size_t>(layer)] = m.toTensor();
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

}  // namespace

torch::Tensor LoraModel::hidden(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) const {
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
  auto x = at::embedding(base.embed(), ids);
  LayerInputs in;
  {
    auto [cos, sin] = base.rope(pos);
    in.cos = cos.unsqueeze(1);
    in.sin = sin.unsqueeze(1);
  }
  // Per layer: an additive mask, or none for the kernel's causal mode (no padding, no window).
  const bool no_padding = !packed && valid.all().item<bool>();
  torch::Tensor mask_full;
  std::map<int64_t, torch::Tensor> window_masks;
  const auto& layers = base.layers();
  auto additive = [&](const torch::Tensor& allowed) {
    auto zero = at::zeros({}, torch::TensorOptions().dtype(dtype).device(device));
    auto neg = at::full({},
                        dtype == torch::kFloat16
                            ? -65504.0
                            : (dtype == torch::kBFloat16 ? -3.3895313892515355e38 : -3.4028234663852886e38),
                        torch::TensorOptions().dtype(dtype).device(device));
    return at::where(allowed, zero, neg).unsqueeze(1);
  };
  for (const auto& L : layers) {
    if (packed) {
      if (L.window > 0 && L.window < s) {
        auto it = window_masks.find(L.window);
        if (it == window_masks.end()) {
          auto j = at::arange(s, torch::TensorOptions().dtype(torch::kInt64).device(device));
          auto near = (j.view({s, 1}) - j.view({1, s})) < L.window;
          it = window_masks.emplace(L.window, additive(packed_allowed & near.unsqueeze(0))).first;
        }
        in.masks.push_back(it->second);
      } else {
        if (!mask_full.defined()) mask_full = additive(packed_allowed);
        in.masks.push_back(mask_full);
      }
      continue;
    }
    if (L.window > 0 && L.window < s) {
      auto it = window_masks.find(L.window);
      if (it == window_masks.end())
        it = window_masks.emplace(L.window, attention_mask_for(valid, 0, s, L.window, dtype)).first;
      in.masks.push_back(it->second);
    } else if (no_padding) {
      in.masks.emplace_back();
    } else {
      if (!mask_full.defined()) mask_full = attention_mask_for(valid, 0, s, 0, dtype);
      in.masks.push_back(mask_full);
    }
  }
  const bool checkpoint = checkpointing_ && torch::GradMode::is_enabled();
  for (size_t li = 0; li < layers.size(); ++li) {
    const int i = static_cast<int>(li);
    if (checkpoint) {
      auto params = layer_parameters(i);
      x = CheckpointedLayer::apply(x, at::TensorList(params), this, static_cast<int64_t>(i), &in);
    } else {
      x = layer_forward(i, x, in);
    }
  }
  return base.rms_norm(x, base.final_norm());
}

torch::Tensor LoraModel::logits(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) const {
  return at::linear(hidden(input_ids, attention_mask), base_->lm_head());
}

LossSum LoraModel::loss_sum(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                            const torch::Tensor& labels) const {
  if (labels.sizes() != input_ids.sizes()) throw InvalidArgument("labels must have the shape of input_ids");
  auto h = hidden(input_ids, attention_mask);
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
  auto logits = at::linear(all ? hs : hs.index_select(0, keep), base_->lm_head()).to(torch::kFloat32);
  out.sum = at::cross_entropy_loss(logits, all ? target : target.index_select(0, keep), {}, at::Reduction::Sum);
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> LoraModel::peft_state_dict() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& ad : adapters_) {
    out.emplace_back("base_model.model." + ad.module + ".lora_A.weight", ad.a.detach().to(torch::kCPU).contiguous());
    out.emplace_back("base_model.model." + ad.module + ".lora_B.weight", ad.b.detach().to(torch::kCPU).contiguous());
  }
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
    targets = "\"" + json_escape(options_.target_regex) + "\"";
  } else {
    std::set<std::string> leaves;
    for (const auto& ad : adapters_) leaves.insert(ad.module.substr(ad.module.rfind('.') + 1));
    // Leaf names only when they select exactly the adapted modules (PEFT matches them in every
    // layer); otherwise the full module names.
    size_t selected = 0;
    for (size_t i = 0; i < index_.size(); ++i)
      for (int p = 0; p < kNumProj; ++p) selected += leaves.count(kProjNames[p]);
    if (selected != adapters_.size()) {
      leaves.clear();
      for (const auto& ad : adapters_) leaves.insert(ad.module);
    }
    targets = "[";
    bool first = true;
    for (const auto& l : leaves) {
      targets += std::string(first ? "" : ", ") + "\"" + l + "\"";
      first = false;
    }
    targets += "]";
  }
  char alpha[64], dropout[64];
  std::snprintf(alpha, sizeof alpha, "%.17g", options_.alpha);
  std::snprintf(dropout, sizeof dropout, "%.17g", options_.dropout);
  std::string json = "{\n";
  json += "  \"alpha_pattern\": {},\n";
  json += "  \"base_model_name_or_path\": \"" + json_escape(base_model_name_or_path) + "\",\n";
  json += "  \"bias\": \"none\",\n";
  json += "  \"fan_in_fan_out\": false,\n";
  json += "  \"inference_mode\": true,\n";
  json += "  \"init_lora_weights\": true,\n";
  json += "  \"layers_pattern\": null,\n";
  json += "  \"layers_to_transform\": null,\n";
  json += std::string("  \"lora_alpha\": ") + alpha + ",\n";
  json += std::string("  \"lora_dropout\": ") + dropout + ",\n";
  json += "  \"modules_to_save\": null,\n";
  json += "  \"peft_type\": \"LORA\",\n";
  json += "  \"r\": " + std::to_string(options_.r) + ",\n";
  json += "  \"rank_pattern\": {},\n";
  json += "  \"revision\": null,\n";
  json += "  \"target_modules\": " + targets + ",\n";
  json += "  \"task_type\": \"CAUSAL_LM\"";
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

void LoraModel::load_adapter(const SafetensorsFile& f) {
  const std::string& src = f.path();
  std::set<std::string> expected;
  std::vector<std::pair<torch::Tensor*, torch::Tensor>> copies;
  for (auto& ad : adapters_) {
    for (const char* which : {"lora_A", "lora_B"}) {
      const std::string key = "base_model.model." + ad.module + "." + which + ".weight";
      expected.insert(key);
      if (!f.contains(key)) throw FormatError(src + ": missing adapter key '" + key + "'");
      auto t = f.tensor(key);
      auto& dst = which[5] == 'A' ? ad.a : ad.b;
      if (t.sizes() != dst.sizes())
        throw FormatError(src + ": tensor '" + key + "' has shape " + c10::str(t.sizes()) + ", expected " +
                          c10::str(dst.sizes()));
      if (!at::isfinite(t.to(torch::kFloat32)).all().item<bool>())
        throw FormatError(src + ": tensor '" + key + "' holds a NaN or infinity");
      copies.emplace_back(&dst, std::move(t));
    }
  }
  for (const auto& name : f.names())
    if (!expected.count(name))
      throw FormatError(src + ": unexpected adapter key '" + name + "' (this model's adapters target " +
                        std::to_string(adapters_.size()) + " modules)");
  torch::NoGradGuard no_grad;
  for (auto& [dst, t] : copies) dst->copy_(t.to(torch::kFloat32));
}

void LoraModel::save_merged(const std::string& dir) const {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  torch::NoGradGuard no_grad;
  const auto& base = *base_;
  std::vector<std::pair<std::string, torch::Tensor>> out;
  out.emplace_back("model.embed_tokens.weight", base.embed());
  const auto& layers = base.layers();
  for (size_t li = 0; li < layers.size(); ++li) {
    const int i = static_cast<int>(li);
    const std::string pre = "model.layers." + std::to_string(li) + ".";
    for (int p = 0; p < kNumProj; ++p) {
      auto w = merged_weight(i, static_cast<Proj>(p));
      const std::string name = lora_module_name(i, p);
      out.emplace_back(name + ".weight", w.contiguous());
      auto bias = base_bias(i, static_cast<Proj>(p));
      if (bias.defined()) out.emplace_back(name + ".bias", bias.contiguous());
    }
    out.emplace_back(pre + "input_layernorm.weight", layers[li].ln1);
    out.emplace_back(pre + "post_attention_layernorm.weight", layers[li].ln2);
  }
  out.emplace_back("model.norm.weight", base.final_norm());
  if (!(base.config().tie_word_embeddings && base.lm_head().is_same(base.embed())))
    out.emplace_back("lm_head.weight", base.lm_head());
  save_safetensors((fs::path(dir) / "model.safetensors").string(), out, {{"format", "pt"}});
}

torch::Tensor LoraModel::merged_weight(int layer, Proj p) const {
  auto w = base_weight(layer, p);
  const int idx = index_[static_cast<size_t>(layer)][p];
  if (idx < 0) return w;
  const auto& ad = adapters_[static_cast<size_t>(idx)];
  return (w.to(torch::kFloat32) + at::matmul(ad.b, ad.a) * ad.scaling).to(base_->dtype());
}

std::shared_ptr<Decoder> LoraModel::merged_decoder() const {
  torch::NoGradGuard no_grad;
  std::vector<Decoder::Layer> layers = base_->layers();  // tensor handles: shares the base storage
  for (size_t li = 0; li < layers.size(); ++li) {
    const int i = static_cast<int>(li);
    const auto& ix = index_[li];
    auto w = [&](Proj p) { return merged_weight(i, p).detach(); };
    auto& L = layers[li];
    if (ix[kQ] >= 0 || ix[kK] >= 0 || ix[kV] >= 0) L.qkv_w = at::cat({w(kQ), w(kK), w(kV)}, 0);
    if (ix[kO] >= 0) L.o_w = w(kO).contiguous();
    if (ix[kGate] >= 0 || ix[kUp] >= 0) L.gate_up_w = at::cat({w(kGate), w(kUp)}, 0);
    if (ix[kDown] >= 0) L.down_w = w(kDown).contiguous();
  }
  return std::make_shared<Decoder>(base_->with_layers(std::move(layers)));
}

}  // namespace airtune::nn
