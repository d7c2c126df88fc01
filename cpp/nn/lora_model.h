// LoRA adapters on a frozen decoder (PEFT semantics), with a differentiable forward.
//
// Each targeted linear module `m` (HF name, e.g. "model.layers.0.self_attn.q_proj") gets
//   y = base(x) + (B @ A @ dropout(x).float()) * scaling, cast back to the base output dtype,
// with A [r, in] ~ kaiming_uniform(a = sqrt 5) = U(-1/sqrt(in), 1/sqrt(in)), B [out, r] = 0, both
// float32 and trainable; scaling = alpha / r (alpha / sqrt(r) with rsLoRA). r and alpha are per
// module with PEFT's rank_pattern / alpha_pattern: the first pattern P (in the given order) for
// which the module name matches the regex (.*\.)?(P) in full sets it.
// DoRA (use_dora, PEFT's DoraLinearLayer): a trainable magnitude m [out] (float32, initialised to
// the row norms of W) and
//   y = base(x) + (g - 1) * (base(x) - bias) + g * (B A x) * scaling,  g = m / ||W + scaling B A||_row
// with the norm detached from the graph (DoRA, section 4.3); with dropout active the first term uses
// W dropout(x) instead, as PEFT does.
// modules_to_save (PEFT): full trainable float32 copies of the named modules (embed_tokens, lm_head,
// model.norm, a layer's norms, projections not targeted by LoRA, or containers of those; matched as
// PEFT does: the module name ends with the given string), used in place of the frozen ones and saved
// in the adapter under their own names. In a tied model, lm_head and embed_tokens are copied apart
// (PEFT's default).
//
// The base weights are the Decoder's (frozen, fused q/k/v and gate/up matrices, dense or quantized):
// the base matmul stays fused and each adapter's output is added to its slice, so q_proj / k_proj /
// v_proj / gate_proj / up_proj can be targeted independently (Phi-3's qkv_proj / gate_up_proj are
// single modules).
//
// Targets (PEFT's check_target_module_exists): a list of names, each matching the full module name
// or its suffix after a '.'; or a regex (std::regex ECMAScript, full match on the module name); or
// "all-linear" (every linear layer but lm_head).
//
// Shapes: input_ids, labels [B, S] int64; attention_mask [B, S] (1 = token; for packed rows 1, 2, 3,
// ... numbers the sequences of a row: positions restart and attention stays inside each sequence).
// Labels use -100 for positions without loss and are aligned with input_ids (the model shifts, as
// transformers does).
// Thread safety: forward/loss are not reentrant with set_training/load; use from one thread.
#pragma once

#include <torch/types.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nn/decoder.h"
#include "nn/quantized.h"
#include "nn/safetensors.h"

namespace airtune::nn {

struct LoraOptions {
  int64_t r = 8;
  double alpha = 8.0;
  double dropout = 0.0;
  bool use_rslora = false;
  /// Names matched as PEFT does (exact or ".suffix"); ignored when target_regex is set.
  std::vector<std::string> target_modules = {"q_proj", "v_proj"};
  std::string target_regex;  // non-empty: full-match regex on the module name
  bool all_linear = false;
  /// PEFT's rank_pattern / alpha_pattern, in their order (see the top of this header).
  std::vector<std::pair<std::string, int64_t>> rank_pattern;
  std::vector<std::pair<std::string, double>> alpha_pattern;
  bool use_dora = false;
  /// PEFT's modules_to_save (see the top of this header).
  std::vector<std::string> modules_to_save;
  uint64_t seed = 0;  // initialisation of the A matrices (one generator, modules in layer order)
  /// Quantize the base's projections at load (nullopt: keep them dense, or as a bitsandbytes NF4
  /// checkpoint stores them).
  std::optional<QuantOptions> quantization;
};

/// One adapter: A [r, in], B [out, r] (float32, requires_grad), DoRA magnitude [out] or undefined.
struct LoraAdapter {
  std::string module;  // HF module name
  int layer = 0;
  int slot = 0;  // index into LoraModel::slots()
  torch::Tensor a, b, magnitude;
  int64_t r = 0;
  double alpha = 0.0;
  double scaling = 1.0;
};

/// A trainable full copy of a module (modules_to_save): float32 weight (+ bias), requires_grad.
struct TrainedModule {
  enum class Kind { kEmbed, kLmHead, kFinalNorm, kLayerNorm, kProjection };
  std::string module;  // HF module name
  Kind kind = Kind::kEmbed;
  int layer = -1;
  int slot = -1;              // kProjection
  Norm norm = Norm::kAttnIn;  // kLayerNorm
  torch::Tensor weight, bias;
};

/// A linear module of a layer: its HF path under "model.layers.N." and its rows in a fused matrix.
struct ProjectionSlot {
  std::string name;  // "q_proj", "qkv_proj", ...
  std::string path;  // "self_attn.q_proj", ...
  Matrix matrix = Matrix::kQKV;
  int64_t row0 = 0, rows = 0;
};

struct LossSum {
  torch::Tensor sum;    // scalar float32: sum of token cross-entropies (graph attached)
  int64_t tokens = 0;   // number of positions with a label
  int64_t correct = 0;  // labelled positions whose argmax logit is the label (token accuracy)
};

class LoraModel {
 public:
  /// Loads the base model (frozen) and creates adapters for the targeted modules. Throws
  /// InvalidArgument when no module matches, a modules_to_save entry names no module (or one LoRA
  /// targets, or a quantized one), or options are out of range; FormatError for an unsupported
  /// architecture or checkpoint (from Decoder).
  LoraModel(const std::string& base_path, const LoraOptions& options, torch::Dtype dtype, torch::Device device);
  LoraModel(const LoraModel&) = delete;
  LoraModel& operator=(const LoraModel&) = delete;

  const Decoder& base() const { return *base_; }
  const LoraOptions& options() const { return options_; }
  const std::vector<LoraAdapter>& adapters() const { return adapters_; }
  const std::vector<TrainedModule>& trained_modules() const { return copies_; }
  /// The linear modules of one layer of this architecture, in PEFT / HF order.
  const std::vector<ProjectionSlot>& slots() const { return slots_; }
  /// Trainable tensors in a fixed order: A, B (and the DoRA magnitude) of each adapter in module
  /// order, then weight (and bias) of each trained copy.
  std::vector<torch::Tensor> parameters() const;
  /// The same with their PEFT names (the keys of adapter_model.safetensors).
  std::vector<std::pair<std::string, torch::Tensor>> named_parameters() const;
  int64_t num_trainable() const;

  /// Dropout on (training) or off (evaluation).
  void set_training(bool on) { training_ = on; }
  bool training() const { return training_; }
  /// Gradient checkpointing: when on (and grad mode is enabled) each decoder layer keeps only its
  /// input and is recomputed in the backward pass (a custom autograd function); less activation
  /// memory for about one more forward per step. Same gradients.
  void set_gradient_checkpointing(bool on) { checkpointing_ = on; }
  /// Packs the frozen base for oneDNN (Decoder::pack_frozen; the lm_head too unless it is a trained
  /// copy) for a training run: its forward and input-gradient GEMMs then run at ~2.3x MKL's speed on
  /// AMD CPUs, for two packed copies of the frozen matrices in memory. Returns whether it packed.
  bool pack_frozen();
  /// Frees the packs.
  void unpack_frozen();

  /// One decoder layer with its adapters: [B, S, H] -> [B, S, H].
  torch::Tensor layer_forward(int layer, const torch::Tensor& x, const LayerInputs& in) const;
  /// The trainable tensors of one layer (adapters, then copies), in parameters() order.
  std::vector<torch::Tensor> layer_parameters(int layer) const;

  /// Final hidden states [B, S, H] (model dtype) with the adapters applied. padding_rows_read =
  /// false: the caller reads no row where attention_mask is 0, so a right-padded batch runs
  /// unmasked causal attention (its real rows equal; its padding rows are then not the masked ones).
  torch::Tensor hidden(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                       bool padding_rows_read = true) const;
  /// Logits [B, S, V]; positions follow cumsum(mask) - 1 as Decoder::logits does.
  torch::Tensor logits(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) const;
  /// Sum of next-token cross-entropies (float32 logits) over labelled positions; the lm_head runs
  /// only on positions whose next label is not -100. `accuracy`: also count the correct argmax.
  LossSum loss_sum(const torch::Tensor& input_ids, const torch::Tensor& attention_mask, const torch::Tensor& labels,
                   bool accuracy = false) const;

  /// PEFT state dict: named_parameters() detached, float32, on the CPU.
  std::vector<std::pair<std::string, torch::Tensor>> peft_state_dict() const;
  /// Writes adapter_model.safetensors and adapter_config.json into `dir` (created).
  void save_adapter(const std::string& dir, const std::string& base_model_name_or_path) const;
  /// Copies every trainable tensor from a PEFT adapter_model.safetensors (file or folder). Throws
  /// FormatError naming the first missing or unexpected key, the mis-shaped tensor or one holding a
  /// NaN or infinity; nothing is copied unless every tensor passes.
  void load_adapter(const std::string& path);
  /// The same from a file already open (e.g. a checkpoint's, checked against its manifest).
  void load_adapter(const SafetensorsFile& file);
  /// The trainable tensors a file holds (every named_parameters() key, same shapes, finite; no
  /// other key) as float32 CPU tensors; FormatError naming the file and key otherwise. Changes nothing.
  std::vector<std::pair<std::string, torch::Tensor>> read_state(const SafetensorsFile& file) const;
  /// Copies `tensors` (named_parameters() names and shapes, every one) into the trainable tensors.
  void load_state(const std::vector<std::pair<std::string, torch::Tensor>>& tensors);
  /// Merged weights in the Hugging Face layout (W + B A * scaling computed in float32, cast once;
  /// DoRA: g (W + B A * scaling); trained copies in place of their modules; a quantized base's
  /// projections dequantized), every tensor of the base checkpoint (lm_head omitted when tied and
  /// untouched), written to `<dir>/model.safetensors`.
  void save_merged(const std::string& dir) const;
  /// The same merged weights in memory: a Decoder whose adapted projections are dense merged
  /// matrices, every other tensor shared with the base. A snapshot: later changes to the adapters
  /// do not reach it.
  std::shared_ptr<Decoder> merged_decoder() const;

 private:
  class Hooks : public LayerHooks {
   public:
    explicit Hooks(const LoraModel& m) : m_(m) {}
    torch::Tensor project(int layer, Matrix m, const torch::Tensor& x) const override;
    torch::Tensor norm(int layer, Norm n) const override;

   private:
    const LoraModel& m_;
  };

  torch::Tensor slot_output(int layer, int slot, const torch::Tensor& x, const torch::Tensor& base_out) const;
  // A plain (non-DoRA) adapter's term (B A dropout(xf)) * scaling cast to `dtype`, [tokens, rows of
  // the slot]; xf: the module input in float32 (cast once per fused matrix).
  torch::Tensor lora_delta(const LoraAdapter& ad, const torch::Tensor& xf, torch::ScalarType dtype) const;
  torch::Tensor base_weight(int layer, int slot, torch::Dtype dtype) const;  // [rows, cols]
  torch::Tensor base_bias(int layer, int slot) const;                        // [rows] or undefined
  torch::Tensor merged_weight(int layer, int slot) const;                    // model dtype
  torch::Tensor merged_bias(int layer, int slot) const;
  torch::Tensor embed_weight() const;
  torch::Tensor lm_head_weight() const;
  torch::Tensor final_norm_weight() const;

  std::shared_ptr<Decoder> base_;
  LoraOptions options_;
  std::vector<ProjectionSlot> slots_;
  std::vector<LoraAdapter> adapters_;
  std::vector<TrainedModule> copies_;
  std::vector<std::vector<int>> adapter_at_;  // [layer][slot] -> adapters_ index or -1
  std::vector<std::vector<int>> copy_at_;     // [layer][slot] -> copies_ index or -1
  std::vector<std::array<int, kNumNorms>> norm_copy_at_;
  int embed_copy_ = -1, lm_head_copy_ = -1, final_norm_copy_ = -1;
  Hooks hooks_{*this};
  bool training_ = false;
  bool checkpointing_ = false;
};

/// The HF module name of slot `slot` (LoraModel::slots()) of layer `layer`.
std::string lora_module_name(const std::vector<ProjectionSlot>& slots, int layer, int slot);
/// The linear modules of a layer for a decoder configuration.
std::vector<ProjectionSlot> projection_slots(const DecoderConfig& config);
/// The HF module name of norm n of layer `layer` ("" where the architecture has none).
std::string norm_module_name(const DecoderConfig& config, int layer, Norm n);

}  // namespace airtune::nn
