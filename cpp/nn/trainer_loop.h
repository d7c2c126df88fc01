// LoRA training loop on libtorch: AdamW, linear / cosine / constant schedules with warm-up,
// gradient accumulation normalised by the labelled-token count of the whole optimizer step,
// gradient clipping, length-grouped batches, evaluation every N steps (eval loss and token
// accuracy), the best adapter by a metric (kept in memory on the CPU, in every checkpoint, restored
// at the end on request), early stopping, checkpoints (adapter + optimizer + data position + RNG +
// best adapter, every file checksummed; see io/train_checkpoint.h) with a limit on how many stay,
// exact resumption, NaN detection.
//
// Data: tokenized examples (ids, labels aligned with ids, -100 = no loss). Masks come from the
// caller (built from the structure of each example); padding here is right-padding with
// `pad_token_id` whose labels are always -100, whatever its id (pad == eos is safe).
// The batch order is a pure function of (seed, epoch): shuffled indices, grouped into mega-batches
// of 64 batches sorted by length (when group_by_length), batches shuffled. A resumed run replays
// this plan and skips the micro-batches already done, so it ends with the same adapter (bit for
// bit on the same device). It resumes only when the checkpoint's fingerprint (every setting that
// changes the result: LoRA shape, targets, patterns, DoRA and modules_to_save, optimizer, schedule,
// batching, evaluation, best-model metric and early stopping, base model architecture, dtype and
// quantization, and SHA-256 digests of the train and eval data)
// equals this run's; otherwise it throws InvalidArgument naming the setting.
// Thread safety: one Trainer per thread; work runs on libtorch's intra-op threads.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "io/train_checkpoint.h"
#include "nn/lora_model.h"

namespace airtune::nn {

struct TrainExample {
  std::vector<int64_t> ids;
  std::vector<int64_t> labels;
};

struct TrainOptions {
  int64_t epochs = 1;
  int64_t max_steps = -1;  // > 0 overrides epochs (the plan repeats epochs as needed)
  int64_t batch_size = 4;  // sequences per micro-batch
  int64_t grad_accum = 1;  // micro-batches per optimizer step
  double learning_rate = 2e-4;
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double max_grad_norm = 1.0;       // <= 0: no clipping
  std::string schedule = "linear";  // linear | cosine | constant
  int64_t warmup_steps = 0;
  uint64_t seed = 0;
  bool group_by_length = true;
  bool gradient_checkpointing = false;
  /// > 0: the examples of each micro-batch are packed (first-fit decreasing) into rows of this many
  /// tokens; positions restart and attention stays inside each example. 0: one example per row.
  int64_t pack_length = 0;
  int64_t pad_token_id = 0;
  int64_t eval_every = 0;  // 0: evaluate only at the end (when eval data is given)
  int64_t eval_batch_size = 8;
  /// The metric that picks the best adapter (and drives early stopping): eval_loss,
  /// eval_perplexity or eval_token_accuracy (see best_metric_names()).
  std::string best_metric = "eval_loss";
  bool greater_is_better = false;
  bool load_best_at_end = false;  // end with the best adapter instead of the last one
  /// When the best adapter is not the final one and not restored, it is written here (if non-empty).
  std::string best_dir;
  int64_t early_stopping_patience = 0;  // evaluations without improvement before stopping; 0: off
  double early_stopping_threshold = 0.0;
  int64_t save_every = 0;        // checkpoint every N steps into checkpoint_dir; 0: off
  int64_t save_total_limit = 0;  // > 0: keep only the newest N checkpoints (by step); 0: keep all
  std::string checkpoint_dir;
  std::string resume_from;  // a checkpoint folder written by a previous run
  std::string base_model_name_or_path;
};

/// One optimizer step (step, loss, lr, grad_norm, tokens, ...): the record checkpoints store.
using StepInfo = io::TrainStep;

struct EvalOutcome {
  int64_t step = 0;
  double loss = 0.0, token_accuracy = 0.0, metric = 0.0;  // metric: the best-model metric's value
};

struct TrainOutcome {
  std::vector<StepInfo> history;  // every step, resumed history included
  std::vector<EvalOutcome> evals;
  int64_t best_step = 0;  // step of the best evaluation (0: none)
  double best_metric = 0.0;
  bool best_restored = false;  // the model ends with the best adapter
  std::string best_adapter;    // folder the best adapter was written to ("" when restored, final or none)
  int64_t steps_done = 0;
  int64_t total_steps = 0;
  std::string stop_reason;  // "completed" | "early_stopping" | "callback" | "nan_loss"
  std::string message;      // human-readable detail for nan_loss
  std::string last_checkpoint;
  double train_seconds = 0.0;
  int64_t train_tokens = 0;  // labelled tokens seen in this run
  int64_t seq_tokens = 0;    // all tokens processed in this run
};

/// Callback after every step; return false to stop (stop_reason "callback").
using StepCallback = std::function<bool(const StepInfo&)>;

/// Runs training; mutates `model`'s adapters. Throws InvalidArgument for empty data or bad options.
TrainOutcome train_lora(LoraModel& model, const std::vector<TrainExample>& train, const std::vector<TrainExample>& eval,
                        const TrainOptions& options, const StepCallback& on_step);

/// Token-mean loss and next-token accuracy over `data` (no dropout, no grad).
struct EvalResult {
  double loss = 0.0, token_accuracy = 0.0;
};
EvalResult evaluate_loss(LoraModel& model, const std::vector<TrainExample>& data, int64_t batch_size,
                         int64_t pad_token_id);

/// The metrics an evaluation computes, valid values of TrainOptions::best_metric.
const std::vector<std::string>& best_metric_names();

/// Learning-rate multiplier of step `step` (0-based) as transformers' schedulers.
double lr_lambda(const std::string& schedule, int64_t step, int64_t warmup, int64_t total);

}  // namespace airtune::nn
