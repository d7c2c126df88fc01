// LoRA training loop on libtorch: AdamW, linear / cosine / constant schedules with warm-up,
// gradient accumulation normalised by the labelled-token count of the whole optimizer step,
// gradient clipping, length-grouped batches, evaluation every N steps, early stopping, checkpoints
// (adapter + optimizer + data position + RNG, every file checksummed; see io/train_checkpoint.h)
// and exact resumption, NaN detection.
//
// Data: tokenized examples (ids, labels aligned with ids, -100 = no loss). Masks come from the
// caller (built from the structure of each example); padding here is right-padding with
// `pad_token_id` whose labels are always -100, whatever its id (pad == eos is safe).
// The batch order is a pure function of (seed, epoch): shuffled indices, grouped into mega-batches
// of 64 batches sorted by length (when group_by_length), batches shuffled. A resumed run replays
// this plan and skips the micro-batches already done, so it ends with the same adapter (bit for
// bit on the same device). It resumes only when the checkpoint's fingerprint (every setting that
// changes the result: LoRA shape and targets, optimizer, schedule, batching, evaluation and early
// stopping, base model architecture and dtype, and SHA-256 digests of the train and eval data)
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
  int64_t early_stopping_patience = 0;  // evaluations without improvement before stopping; 0: off
  double early_stopping_threshold = 0.0;
  int64_t save_every = 0;  // checkpoint every N steps into checkpoint_dir; 0: off
  std::string checkpoint_dir;
  std::string resume_from;  // a checkpoint folder written by a previous run
  std::string base_model_name_or_path;
};

/// One optimizer step (step, loss, lr, grad_norm, tokens, ...): the record checkpoints store.
using StepInfo = io::TrainStep;

struct TrainOutcome {
  std::vector<StepInfo> history;                      // every step, resumed history included
  std::vector<std::pair<int64_t, double>> eval_loss;  // (step, loss)
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

/// Token-mean loss over `data` (no dropout, no grad).
double evaluate_loss(LoraModel& model, const std::vector<TrainExample>& data, int64_t batch_size, int64_t pad_token_id);

/// Learning-rate multiplier of step `step` (0-based) as transformers' schedulers.
double lr_lambda(const std::string& schedule, int64_t step, int64_t warmup, int64_t total);

}  // namespace airtune::nn
