// Training checkpoints without torch: the manifest (what a checkpoint holds, the SHA-256 of each of
// its files, the settings it was trained with), its strict parser, the check that a run may resume
// from it, and the validating decoders of the trainer and optimizer state. The libtorch trainer
// (cpp/nn/trainer_loop.cpp) writes and applies checkpoints with these; the fuzz target
// tests/fuzz/fuzz_nn_checkpoint.cpp exercises them alone (no torch in the sanitizer build).
//
// A checkpoint is a folder (no file is a pickle):
//   adapter_model.safetensors, adapter_config.json   the PEFT adapter, loadable by PEFT as it is
//   optimizer.safetensors   AdamW state of each trainable tensor NAME (the adapter's PEFT names):
//                           NAME.exp_avg, NAME.exp_avg_sq (F32, the tensor's shape), NAME.step (I64 [])
//   trainer_state.safetensors  history F64 [step, 11] (one row per optimizer step, the columns of
//                           TrainStep in order), evals F64 [n_evals, 3] (step, eval loss, the value of
//                           the best-model metric), cpu_rng_state U8 [k]
//   best_adapter.safetensors   the trainable tensors at the best evaluation so far (the adapter's
//                           names and shapes), present exactly when best_step > 0
//   manifest.json           written last, after the other files are complete:
//     {"format": "airtune.lora_checkpoint", "version": 3, "step": S, "total_steps": T,
//      "best_metric": null | VALUE, "best_step": K, "bad_evals": B, "n_evals": E,
//      "fingerprint": {"SETTING": "VALUE", ...},
//      "files": {"FILE": {"bytes": N, "sha256": "64 hex digits"}, ...}}
//   The best-model metric and its direction are settings of the fingerprint
//   (metric_for_best_model, greater_is_better); B counts the evaluations since the last one that
//   improved on the best by more than the early-stopping threshold.
//
// Trust: every file is untrusted. The manifest is parsed strictly (known keys only, each once, typed,
// in range: 1 <= S <= T, 0 <= B <= E <= S, 0 <= K <= S, best_metric finite and set exactly when
// K > 0); every listed file is read once
// into memory and its size and SHA-256 checked before any of it is parsed; the trainer state and the
// optimizer state are then validated value by value against the manifest (finite numbers, integral
// counts, history steps 1..S, evals matching the history), so a crafted or corrupted checkpoint is
// refused with an error naming the folder, the file and the field, and never reaches the trainer.
// Thread safety: all functions are pure.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/byte_buffer.h"

namespace airtune::io {

/// One optimizer step of a training run, as the trainer reports it and a checkpoint stores it.
struct TrainStep {
  int64_t step = 0;  // 1-based optimizer step just done
  int64_t total_steps = 0;
  int64_t epoch = 0;
  double loss = 0.0;            // token-mean loss of the step
  double lr = 0.0;              // learning rate used for the step
  double grad_norm = 0.0;       // before clipping
  int64_t tokens = 0;           // labelled tokens in the step
  int64_t seq_tokens = 0;       // all (unpadded) tokens in the step
  double seconds = 0.0;         // wall time of the step
  double eval_loss = -1.0;      // >= 0 when an evaluation ran after this step
  double eval_accuracy = -1.0;  // token accuracy of that evaluation, in [0, 1] (-1: none)
};
inline constexpr int kTrainStepColumns = 11;

inline constexpr std::string_view kCheckpointFormat = "airtune.lora_checkpoint";
inline constexpr int64_t kCheckpointVersion = 3;
inline constexpr std::string_view kManifestFile = "manifest.json";
/// The files every checkpoint holds besides the manifest.
inline constexpr std::array<std::string_view, 4> kCheckpointFiles = {
    "adapter_config.json", "adapter_model.safetensors", "optimizer.safetensors", "trainer_state.safetensors"};
/// The file of the best adapter, listed exactly when best_step > 0.
inline constexpr std::string_view kBestAdapterFile = "best_adapter.safetensors";
/// Bounds on what the parser accepts (bytes of manifest.json; settings in the fingerprint and the
/// length of each name and value; bytes of the RNG state).
inline constexpr uint64_t kMaxManifestBytes = 1 << 20;
inline constexpr size_t kMaxFingerprintEntries = 256;
inline constexpr size_t kMaxFingerprintText = 4096;
inline constexpr uint64_t kMaxRngStateBytes = 1 << 20;

struct CheckpointFileEntry {
  uint64_t bytes = 0;
  std::string sha256;  // 64 lowercase hex digits
};

struct CheckpointManifest {
  int64_t step = 0;                                  // optimizer steps done (>= 1)
  int64_t total_steps = 0;                           // of the run (>= step)
  double best_metric = 0.0;                          // value of the best evaluation (JSON null when best_step is 0)
  int64_t best_step = 0;                             // step of the best evaluation, 0: none yet
  int64_t bad_evals = 0;                             // evaluations without improvement (early stopping)
  int64_t n_evals = 0;                               // rows of the evals tensor
  std::map<std::string, std::string> fingerprint;    // the settings that decide the result
  std::map<std::string, CheckpointFileEntry> files;  // kCheckpointFiles (+ kBestAdapterFile)
};

/// manifest.json text for `m` (keys in a fixed order; the parser reads it back exactly).
std::string serialize_checkpoint_manifest(const CheckpointManifest& m);

/// Parses and validates manifest.json (`size` bytes at `data`). Throws FormatError naming `source`
/// and the field for anything but a manifest of this version with every field present and in range.
CheckpointManifest parse_checkpoint_manifest(const uint8_t* data, size_t size, std::string_view source);

/// Whether a run may resume from the checkpoint: `run_fingerprint` must hold exactly the
/// checkpoint's settings and `run_total_steps` must equal the manifest's. Throws InvalidArgument
/// naming `source` and the first setting that differs (in name order, total_steps last), with both
/// values.
void check_resume(const CheckpointManifest& m, const std::map<std::string, std::string>& run_fingerprint,
                  int64_t run_total_steps, std::string_view source);

/// Reads every file the manifest lists from the folder `dir` into memory and checks its size and
/// SHA-256 against the manifest before anything parses it. Throws IoError for a missing or
/// unreadable file, FormatError naming the file for a size or digest that differs.
std::map<std::string, core::ByteBuffer> read_checkpoint_files(const std::string& dir, const CheckpointManifest& m);

/// The trainer state of a checkpoint, validated.
struct TrainerState {
  std::vector<TrainStep> history;  // m.step rows, steps 1..m.step
  struct Eval {
    int64_t step = 0;
    double loss = 0.0, metric = 0.0;
  };
  std::vector<Eval> evals;             // m.n_evals rows, steps increasing
  std::vector<uint8_t> cpu_rng_state;  // the bytes torch's CPU generator returned
};

/// Decodes trainer_state.safetensors (`size` bytes at `data`) and validates it against `m`.
/// Throws FormatError naming `source`, the tensor, the row and the column.
TrainerState decode_trainer_state(const uint8_t* data, size_t size, const CheckpointManifest& m,
                                  std::string_view source);

/// One trainable tensor: its name and shape.
struct ParamSpec {
  std::string name;
  std::vector<int64_t> shape;
};

/// Name of an optimizer-state tensor of parameter `param` (`what`: exp_avg, exp_avg_sq or step).
std::string optimizer_tensor_name(std::string_view param, std::string_view what);

/// Validates optimizer.safetensors (`size` bytes at `data`) for `params`: exactly the three tensors
/// of each parameter, F32 moments of its shape (finite; exp_avg_sq >= 0) and an I64 scalar step
/// with 0 <= step <= max_step (0: the parameter has no state yet). Returns the steps in `params`
/// order. Throws FormatError naming `source`, the tensor and the problem.
std::vector<int64_t> validate_optimizer_state(const uint8_t* data, size_t size, const std::vector<ParamSpec>& params,
                                              int64_t max_step, std::string_view source);

}  // namespace airtune::io
