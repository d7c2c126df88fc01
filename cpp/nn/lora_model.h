// LoRA adapters on a frozen Llama-family decoder (PEFT semantics), with a differentiable forward.
//
// Each targeted linear module `m` (HF name, e.g. "model.layers.0.self_attn.q_proj") gets
//   y = base(x) + (B @ A @ dropout(x).float()) * scaling, cast back to the base output dtype,
// with A [r, in] ~ kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B [out, r] = 0, both
// float32 and trainable; scaling = alpha / r (alpha / sqrt(r) with rsLoRA). The base weights are the
// Decoder's (frozen, fused q/k/v and gate/up matrices): the base matmul stays fused and each
// adapter's output is added to its slice, so q_proj / k_proj / v_proj / gate_proj / up_proj can be
// targeted independently.
//
// Targets (PEFT's check_target_module_exists): a list of names, each matching the full module name
// or its suffix after a '.'; or a regex (std::regex ECMAScript, full match on the module name); or
// "all-linear" (every linear layer but lm_head). Candidates: q_proj k_proj v_proj o_proj gate_proj
// up_proj down_proj of every layer.
//
// Shapes: input_ids, labels [B, S] int64; attention_mask [B, S] (1 = token; for packed rows 1, 2, 3,
// ... numbers the sequences of a row: positions restart and attention stays inside each sequence). Labels use -100 for
// positions without loss and are aligned with input_ids (the model shifts, as transformers does).
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
  uint64_t seed = 0;  // initialisation of the A matrices (one generator, modules in layer order)
};

/// One adapter: A [r, in], B [out, r] (float32, requires_grad).
struct LoraAdapter {
  std::string module;  // HF module name
  torch::Tensor a, b;
  double scaling = 1.0;
};

struct LossSum {
  torch::Tensor sum;   // scalar float32: sum of token cross-entropies (graph attached)
  int64_t tokens = 0;  // number of positions with a label
};

class LoraModel {
 public:
  /// Loads the base model (frozen) and creates adapters for the targeted modules. Throws
  /// InvalidArgument when no module matches or options are out of range; FormatError for an
  /// unsupported architecture (from DecoderConfig).
  LoraModel(const std::string& base_path, const LoraOptions& options, torch::Dtype dtype, torch::Device device);

  const Decoder& base() const { return *base_; }
  const LoraOptions& options() const { return options_; }
  const std::vector<LoraAdapter>& adapters() const { return adapters_; }
  /// Trainable tensors in a fixed order (A then B of each adapter, in module order).
  std::vector<torch::Tensor> parameters() const;
  int64_t num_trainable() const;

  /// Dropout on (training) or off (evaluation).
  void set_training(bool on) { training_ = on; }
  bool training() const { return training_; }
  /// Gradient checkpointing: when on (and grad mode is enabled) each decoder layer keeps only its
  /// input and is recomputed in the backward pass (a custom autograd function); less activation
  /// memory for about one more forward per step. Same gradients.
  void set_gradient_checkpointing(bool on) { checkpointing_ = on; }

  /// Per-forward inputs shared by the layers: cos/sin [B, 1, S, d]; masks[i] additive or undefined
  /// (the kernel's causal mode).
  struct LayerInputs {
    torch::Tensor cos, sin;
    std::vector<torch::Tensor> masks;
  };
  /// One decoder layer with its adapters: [B, S, H] -> [B, S, H].
  torch::Tensor layer_forward(int layer, const torch::Tensor& x, const LayerInputs& in) const;
  /// The adapter tensors of one layer (A, B of each adapted projection, in projection order).
  std::vector<torch::Tensor> layer_parameters(int layer) const;

  /// Final hidden states [B, S, H] (model dtype) with the adapters applied.
  torch::Tensor hidden(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) const;
  /// Logits [B, S, V]; positions follow cumsum(mask) - 1 as Decoder::logits does.
  torch::Tensor logits(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) const;
  /// Sum of next-token cross-entropies (float32 logits) over labelled positions; the lm_head runs
  /// only on positions whose next label is not -100.
  LossSum loss_sum(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                   const torch::Tensor& labels) const;

  /// PEFT state dict: {"base_model.model.<module>.lora_A.weight": A, ... lora_B ...} (float32, CPU).
  std::vector<std::pair<std::string, torch::Tensor>> peft_state_dict() const;
  /// Writes adapter_model.safetensors and adapter_config.json into `dir` (created).
  void save_adapter(const std::string& dir, const std::string& base_model_name_or_path) const;
  /// Copies A/B from a PEFT adapter_model.safetensors (file or folder). Throws FormatError naming
  /// the first missing or unexpected key, the mis-shaped tensor or one holding a NaN or infinity;
  /// nothing is copied unless every tensor passes.
  void load_adapter(const std::string& path);
  /// The same from a file already open (e.g. a checkpoint's, checked against its manifest).
  void load_adapter(const SafetensorsFile& file);
  /// Merged weights in the Hugging Face layout (W + B A * scaling computed in float32, cast once),
  /// every tensor of the base checkpoint (lm_head omitted when tied), written to
  /// `<dir>/model.safetensors`.
  void save_merged(const std::string& dir) const;
  /// The same merged weights in memory: a Decoder whose adapted projections are W + B A * scaling
  /// (the values save_merged writes), every other tensor shared with the base. Generation with the
  /// adapters at the cost of one copy of the adapted (fused) matrices, no file written. A snapshot:
  /// later changes to the adapters do not reach it.
  std::shared_ptr<Decoder> merged_decoder() const;

 private:
  // Index into adapters_ or -1, per layer and projection (q k v o gate up down).
  enum Proj { kQ = 0, kK, kV, kO, kGate, kUp, kDown, kNumProj };
  torch::Tensor delta(int layer, Proj p, const torch::Tensor& x) const;  // adapter output or undefined
  torch::Tensor base_weight(int layer, Proj p) const;                    // [out, in] view
  torch::Tensor base_bias(int layer, Proj p) const;                      // [out] or undefined
  torch::Tensor merged_weight(int layer, Proj p) const;                  // W (+ B A s), model dtype

  std::shared_ptr<Decoder> base_;
  LoraOptions options_;
  std::vector<LoraAdapter> adapters_;
  std::vector<std::array<int, kNumProj>> index_;
  bool training_ = false;
  bool checkpointing_ = false;
};

/// Projection names in PEFT / HF order and their module paths.
std::string lora_module_name(int layer, int proj);

}  // namespace airtune::nn
