// Batched generation for Decoder: prefill, then one token per step from the KV cache.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>

#include "core/errors.h"
#include "nn/decoder.h"

namespace airtune::nn {

torch::Tensor sample_next(const torch::Tensor& logits, const GenerateOptions& o, torch::Generator& gen) {
  auto scores = logits.to(torch::kFloat32);
  if (!o.do_sample) return scores.argmax(-1);
  const float neg_inf = -std::numeric_limits<float>::infinity();
  // Same warpers and order as transformers: temperature, top-k, top-p.
  if (o.temperature != 1.0) scores = scores / o.temperature;
  if (o.top_k > 0) {
    int64_t k = std::min<int64_t>(o.top_k, scores.size(-1));
    auto kth = std::get<0>(at::topk(scores, k)).narrow(-1, k - 1, 1);
    scores = scores.masked_fill(scores < kth, neg_inf);
  }
  if (o.top_p < 1.0) {
    auto [sorted, idx] = at::sort(scores, -1, false);
    auto cum = sorted.softmax(-1).cumsum(-1);
    auto remove = cum <= (1.0 - o.top_p);
    remove.narrow(-1, remove.size(-1) - 1, 1).fill_(false);
    auto to_remove = remove.scatter(1, idx, remove);
    scores = scores.masked_fill(to_remove, neg_inf);
  }
  auto probs = scores.softmax(-1).to(torch::kCPU);
  return at::multinomial(probs, 1, false, gen).squeeze(1).to(logits.device());
}

GenerateOutput Decoder::generate(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                 const GenerateOptions& o) const {
  if (input_ids.dim() != 2 || input_ids.size(1) == 0)
    throw InvalidArgument("input_ids must be a non-empty [batch, seq]");
  if (attention_mask.sizes() != input_ids.sizes())
    throw InvalidArgument("attention_mask shape " + c10::str(attention_mask.sizes()) + " differs from input_ids " +
                          c10::str(input_ids.sizes()));
  if (o.max_new_tokens < 0) throw InvalidArgument("max_new_tokens must be >= 0");
  if (o.do_sample) {
    if (!(o.temperature > 0)) throw InvalidArgument("temperature must be > 0 when sampling");
    if (!(o.top_p > 0 && o.top_p <= 1)) throw InvalidArgument("top_p must be in (0, 1]");
    if (o.top_k < 0) throw InvalidArgument("top_k must be >= 0");
  }
  const int64_t b = input_ids.size(0), s = input_ids.size(1);
  const int64_t ctx = config_.max_position_embeddings;
  auto mask_cpu = attention_mask.to(torch::kCPU).ne(0);
  auto ids_cpu = input_ids.to(torch::kCPU, torch::kInt64).contiguous();
  {
    auto lo = ids_cpu.min().item<int64_t>(), hi = ids_cpu.max().item<int64_t>();
    if (lo < 0 || hi >= config_.vocab_size)
      throw InvalidArgument("input_ids hold token id " + std::to_string(lo < 0 ? lo : hi) +
                            " outside the vocabulary [0, " + std::to_string(config_.vocab_size) + ")");
  }
  auto lens = mask_cpu.sum(1);
  for (int64_t r = 0; r < b; ++r) {
    int64_t n = lens[r].item<int64_t>();
    if (n == 0) throw InvalidArgument("prompt " + std::to_string(r) + " is empty (attention_mask all zero)");
  }
  if (s >= ctx)
    throw InvalidArgument("prompt of " + std::to_string(s) + " tokens (row " +
                          std::to_string(lens.argmax().item<int64_t>()) + ") leaves no room in the model context of " +
                          std::to_string(ctx) + " tokens (max_position_embeddings)");
  const int64_t max_new = std::min(o.max_new_tokens, ctx - s);

  GenerateOutput out;
  out.lengths.assign(static_cast<size_t>(b), 0);
  out.finish_reasons.assign(static_cast<size_t>(b), "length");
  std::vector<std::vector<int64_t>> generated(static_cast<size_t>(b));
  std::vector<bool> done(static_cast<size_t>(b), false);
  if (max_new == 0) {
    out.tokens = at::empty({b, 0}, torch::TensorOptions().dtype(torch::kInt64));
    return out;
  }

  auto ids = ids_cpu.to(device_);
  auto valid = mask_cpu.to(device_);
  auto pos = valid.to(torch::kInt64).cumsum(-1) - 1;
  pos = pos.masked_fill(valid.logical_not(), 0);
  auto next_pos = pos.narrow(1, s - 1, 1) + 1;
  auto cache = new_cache(b, s + max_new);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  auto eos = at::tensor(o.eos_token_ids.empty() ? std::vector<int64_t>{-1} : o.eos_token_ids,
                        torch::TensorOptions().dtype(torch::kInt64));

  torch::NoGradGuard no_grad;
  auto logits = forward(ids, pos, valid, &cache, true).squeeze(1);
  auto key_valid = valid;
  auto ones = at::ones({b, 1}, torch::TensorOptions().dtype(torch::kBool).device(device_));
  for (int64_t step = 0; step < max_new; ++step) {
    auto next = sample_next(logits, o, gen).to(torch::kCPU);
    auto is_eos = at::isin(next, eos);
    auto next_acc = next.accessor<int64_t, 1>();
    auto eos_acc = is_eos.accessor<bool, 1>();
    std::vector<int64_t> step_tokens(static_cast<size_t>(b), -1);
    for (int64_t r = 0; r < b; ++r) {
      if (done[r]) {
        next_acc[r] = o.pad_token_id;
        continue;
      }
      generated[r].push_back(next_acc[r]);
      step_tokens[r] = next_acc[r];
      if (eos_acc[r]) {
        done[r] = true;
        out.finish_reasons[r] = "eos";
      }
    }
    if (o.on_step) {
      auto stop = o.on_step(step_tokens);
      for (int64_t r = 0; r < b && r < static_cast<int64_t>(stop.size()); ++r) {
        if (stop[r] && !done[r]) {
          done[r] = true;
          out.finish_reasons[r] = "stop";
        }
      }
    }
    if (std::all_of(done.begin(), done.end(), [](bool x) { return x; }) || step + 1 == max_new) break;
    key_valid = at::cat({key_valid, ones}, 1);
    logits = forward(next.view({b, 1}).to(device_), next_pos, key_valid, &cache, true).squeeze(1);
    next_pos = next_pos + 1;
  }
  int64_t longest = 0;
  for (int64_t r = 0; r < b; ++r) {
    out.lengths[r] = static_cast<int64_t>(generated[r].size());
    longest = std::max(longest, out.lengths[r]);
  }
  out.tokens = at::full({b, longest}, o.pad_token_id, torch::TensorOptions().dtype(torch::kInt64));
  auto acc = out.tokens.accessor<int64_t, 2>();
  for (int64_t r = 0; r < b; ++r)
    for (int64_t i = 0; i < out.lengths[r]; ++i) acc[r][i] = generated[r][i];
  return out;
}

}  // namespace airtune::nn
