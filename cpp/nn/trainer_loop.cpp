#include "nn/trainer_loop.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <random>

#include "core/errors.h"
#include "core/sha256.h"
#include "io/train_checkpoint.h"
#include "io/whole_file.h"
#include "nn/safetensors.h"

namespace airtune::nn {

namespace {

using Clock = std::chrono::steady_clock;

// Fisher-Yates with our own draws so the order does not depend on the standard library.
void shuffle(std::vector<int64_t>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(rng() % i);
    std::swap(v[i - 1], v[j]);
  }
}

// Batches (lists of example indices) of one epoch.
std::vector<std::vector<int64_t>> epoch_plan(const std::vector<TrainExample>& data, const TrainOptions& o,
                                             int64_t epoch) {
  std::mt19937_64 rng(o.seed * 1000003ULL + static_cast<uint64_t>(epoch) * 7919ULL + 17ULL);
  std::vector<int64_t> idx(data.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
  shuffle(idx, rng);
  const int64_t bs = o.batch_size;
  if (o.group_by_length) {
    const size_t mega = static_cast<size_t>(bs * 64);
    for (size_t start = 0; start < idx.size(); start += mega) {
      const size_t end = std::min(idx.size(), start + mega);
      std::stable_sort(idx.begin() + static_cast<std::ptrdiff_t>(start), idx.begin() + static_cast<std::ptrdiff_t>(end),
                       [&](int64_t a, int64_t b) { return data[a].ids.size() > data[b].ids.size(); });
    }
  }
  std::vector<std::vector<int64_t>> batches;
  for (size_t start = 0; start < idx.size(); start += static_cast<size_t>(bs))
    batches.emplace_back(
        idx.begin() + static_cast<std::ptrdiff_t>(start),
        idx.begin() + static_cast<std::ptrdiff_t>(std::min(idx.size(), start + static_cast<size_t>(bs))));
  if (o.group_by_length) {
    std::vector<int64_t> order(batches.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
    shuffle(order, rng);
    std::vector<std::vector<int64_t>> out;
    out.reserve(batches.size());
    for (auto i : order) out.push_back(std::move(batches[static_cast<size_t>(i)]));
    return out;
  }
  return batches;
}

struct Batch {
  torch::Tensor ids, mask, labels;
  int64_t label_tokens = 0, tokens = 0;
};

int64_t label_count(const TrainExample& e) {
  int64_t n = 0;
  for (size_t i = 1; i < e.labels.size(); ++i) n += e.labels[i] != -100;
  return n;
}

// Packs the examples `rows` into rows of at most `width` tokens (first-fit, longest first). The
// mask numbers the sequences of a row 1, 2, ...; the first label of each sequence is -100 (it would
// be predicted from the previous sequence).
Batch make_packed_batch(const std::vector<TrainExample>& data, const std::vector<int64_t>& rows, int64_t pad,
                        int64_t width, torch::Device device) {
  std::vector<int64_t> order(rows);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return data[a].ids.size() > data[b].ids.size(); });
  std::vector<std::vector<int64_t>> bins;
  std::vector<int64_t> used;
  for (auto r : order) {
    const int64_t n = static_cast<int64_t>(data[static_cast<size_t>(r)].ids.size());
    size_t k = 0;
    while (k < bins.size() && used[k] + n > std::max(width, n)) ++k;
    if (k == bins.size()) {
      bins.emplace_back();
      used.push_back(0);
    }
    bins[k].push_back(r);
    used[k] += n;
  }
  const int64_t w = *std::max_element(used.begin(), used.end());
  const int64_t nb = static_cast<int64_t>(bins.size());
  auto ids = at::full({nb, w}, pad, torch::kInt64);
  auto mask = at::zeros({nb, w}, torch::kInt64);
  auto labels = at::full({nb, w}, -100, torch::kInt64);
  auto pi = ids.accessor<int64_t, 2>();
  auto pm = mask.accessor<int64_t, 2>();
  auto pl = labels.accessor<int64_t, 2>();
  Batch out;
  for (int64_t i = 0; i < nb; ++i) {
    int64_t at_col = 0, segment = 0;
    for (auto r : bins[static_cast<size_t>(i)]) {
      const auto& e = data[static_cast<size_t>(r)];
      ++segment;
      for (size_t j = 0; j < e.ids.size(); ++j, ++at_col) {
        pi[i][at_col] = e.ids[j];
        pm[i][at_col] = segment;
        pl[i][at_col] = j == 0 ? -100 : e.labels[j];
      }
      out.label_tokens += label_count(e);
      out.tokens += static_cast<int64_t>(e.ids.size());
    }
  }
  out.ids = ids.to(device);
  out.mask = mask.to(device);
  out.labels = labels.to(device);
  return out;
}

Batch make_batch(const std::vector<TrainExample>& data, const std::vector<int64_t>& rows, int64_t pad,
                 torch::Device device) {
  size_t width = 0;
  for (auto r : rows) width = std::max(width, data[static_cast<size_t>(r)].ids.size());
  const int64_t b = static_cast<int64_t>(rows.size()), w = static_cast<int64_t>(width);
  auto ids = at::full({b, w}, pad, torch::kInt64);
  auto mask = at::zeros({b, w}, torch::kInt64);
  auto labels = at::full({b, w}, -100, torch::kInt64);
  auto pi = ids.accessor<int64_t, 2>();
  auto pm = mask.accessor<int64_t, 2>();
  auto pl = labels.accessor<int64_t, 2>();
  Batch out;
  for (int64_t i = 0; i < b; ++i) {
    const auto& e = data[static_cast<size_t>(rows[static_cast<size_t>(i)])];
    for (size_t j = 0; j < e.ids.size(); ++j) {
      pi[i][static_cast<int64_t>(j)] = e.ids[j];
      pm[i][static_cast<int64_t>(j)] = 1;
      pl[i][static_cast<int64_t>(j)] = e.labels[j];
    }
    out.label_tokens += label_count(e);
    out.tokens += static_cast<int64_t>(e.ids.size());
  }
  out.ids = ids.to(device);
  out.mask = mask.to(device);
  out.labels = labels.to(device);
  return out;
}

void validate(const std::vector<TrainExample>& data, const char* what, int64_t vocab) {
  for (size_t i = 0; i < data.size(); ++i) {
    const auto& e = data[i];
    if (e.ids.size() != e.labels.size())
      throw InvalidArgument(std::string(what) + " example " + std::to_string(i) + ": ids and labels differ in length");
    if (e.ids.size() < 2)
      throw InvalidArgument(std::string(what) + " example " + std::to_string(i) + " has fewer than 2 tokens");
    for (auto t : e.ids)
      if (t < 0 || t >= vocab)
        throw InvalidArgument(std::string(what) + " example " + std::to_string(i) + " holds token id " +
                              std::to_string(t) + " outside the vocabulary");
    if (label_count(e) == 0)
      throw InvalidArgument(std::string(what) + " example " + std::to_string(i) + " has no labelled token");
  }
}

std::string fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

torch::optim::AdamWOptions& group_options(torch::optim::AdamW& opt) {
  return static_cast<torch::optim::AdamWOptions&>(opt.param_groups()[0].options());
}

struct LoopState {
  int64_t step = 0;
  int64_t best_step = 0;  // 0: no evaluation yet
  double best_metric = 0.0;
  int64_t bad_evals = 0;
  std::vector<StepInfo> history;
  std::vector<EvalOutcome> evals;
  std::vector<std::pair<std::string, torch::Tensor>> best_state;  // CPU copies at the best evaluation
};

// A copy of the trainable tensors on the CPU (the best adapter): always a copy, never a view of the
// live parameters (which later steps change in place).
std::vector<std::pair<std::string, torch::Tensor>> snapshot(const LoraModel& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& [name, t] : model.named_parameters())
    out.emplace_back(name, t.detach().to(torch::kCPU, torch::kFloat32, /*non_blocking=*/false, /*copy=*/true));
  return out;
}

// Every pattern or name list as one string for the fingerprint.
template <typename V>
std::string patterns_spec(const std::vector<std::pair<std::string, V>>& p) {
  std::string s;
  for (const auto& [k, v] : p) s += (s.empty() ? "" : ",") + k + "=" + fmt(static_cast<double>(v));
  return s;
}

// SHA-256 of the examples (length, ids, labels of each, in order): a changed row, order or split
// changes the digest.
std::string data_sha256(const std::vector<TrainExample>& data) {
  core::Sha256 h;
  for (const auto& e : data) {
    const uint64_t n = e.ids.size();
    h.update(&n, sizeof n);
    h.update(e.ids.data(), e.ids.size() * sizeof(int64_t));
    h.update(e.labels.data(), e.labels.size() * sizeof(int64_t));
  }
  return h.hex();
}

// How the adapters were chosen, as the user wrote it (PEFT's three forms).
std::string target_spec(const LoraOptions& l) {
  if (l.all_linear) return "all-linear";
  if (!l.target_regex.empty()) return "regex:" + l.target_regex;
  std::string s;
  for (const auto& t : l.target_modules) s += (s.empty() ? "" : ",") + t;
  return s;
}

// Every setting that changes the trained adapter (save_every, the folders and the device do not).
std::map<std::string, std::string> fingerprint(const LoraModel& model, const TrainOptions& o,
                                               const std::vector<TrainExample>& train,
                                               const std::vector<TrainExample>& eval) {
  const auto& l = model.options();
  const auto& c = model.base().config();
  auto i = [](int64_t v) { return std::to_string(v); };
  auto b = [](bool v) { return std::string(v ? "true" : "false"); };
  return {
      {"adam_beta1", fmt(o.beta1)},
      {"adam_beta2", fmt(o.beta2)},
      {"adam_epsilon", fmt(o.eps)},
      {"base_model", c.model_type + " vocab=" + i(c.vocab_size) + " hidden=" + i(c.hidden_size) +
                         " intermediate=" + i(c.intermediate_size) + " layers=" + i(c.num_hidden_layers) + " heads=" +
                         i(c.num_attention_heads) + "/" + i(c.num_key_value_heads) + " head_dim=" + i(c.head_dim)},
      {"batch_size", i(o.batch_size)},
      {"dtype", std::string(c10::toString(model.base().dtype()))},
      {"early_stopping_patience", i(o.early_stopping_patience)},
      {"early_stopping_threshold", fmt(o.early_stopping_threshold)},
      {"epochs", i(o.epochs)},
      {"eval_batch_size", i(o.eval_batch_size)},
      {"eval_data_sha256", data_sha256(eval)},
      {"eval_steps", i(o.eval_every)},
      {"gradient_accumulation_steps", i(o.grad_accum)},
      {"gradient_checkpointing", b(o.gradient_checkpointing)},
      {"group_by_length", b(o.group_by_length)},
      {"learning_rate", fmt(o.learning_rate)},
      {"lora_alpha", fmt(l.alpha)},
      {"lora_dropout", fmt(l.dropout)},
      {"lr_scheduler", o.schedule},
      {"load_best_model_at_end", b(o.load_best_at_end)},
      {"max_grad_norm", fmt(o.max_grad_norm)},
      {"max_steps", i(o.max_steps)},
      {"metric_for_best_model", o.best_metric},
      {"greater_is_better", b(o.greater_is_better)},
      {"alpha_pattern", patterns_spec(l.alpha_pattern)},
      {"rank_pattern", patterns_spec(l.rank_pattern)},
      {"use_dora", b(l.use_dora)},
      {"modules_to_save",
       [&] {
         std::string m;
         for (const auto& t : l.modules_to_save) m += (m.empty() ? "" : ",") + t;
         return m;
       }()},
      {"quantization", model.base().quantization() ? describe(*model.base().quantization()) : "none"},
      {"n_eval", i(static_cast<int64_t>(eval.size()))},
      {"n_train", i(static_cast<int64_t>(train.size()))},
      {"pack_length", i(o.pack_length)},
      {"pad_token_id", i(o.pad_token_id)},
      {"r", i(l.r)},
      {"seed", std::to_string(o.seed)},
      {"target_modules", target_spec(l)},
      {"train_data_sha256", data_sha256(train)},
      {"use_rslora", b(l.use_rslora)},
      {"warmup_steps", i(o.warmup_steps)},
      {"weight_decay", fmt(o.weight_decay)},
  };
}

void save_checkpoint(const std::string& dir, const LoraModel& model, torch::optim::AdamW& opt, const LoopState& st,
                     const TrainOptions& o, const std::map<std::string, std::string>& fp, int64_t total_steps) {
  namespace fs = std::filesystem;
  const std::string tmp = dir + ".tmp";
  fs::remove_all(tmp);
  model.save_adapter(tmp, o.base_model_name_or_path);

  // AdamW state as plain tensors (no pickle): the moments and step count of each parameter.
  std::vector<std::pair<std::string, torch::Tensor>> optimizer;
  for (const auto& [name, p] : model.named_parameters()) {
    auto it = opt.state().find(p.unsafeGetTensorImpl());
    int64_t step = 0;
    torch::Tensor m1, m2;
    if (it != opt.state().end()) {
      const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
      step = s.step();
      m1 = s.exp_avg().detach().to(torch::kCPU).contiguous();
      m2 = s.exp_avg_sq().detach().to(torch::kCPU).contiguous();
    } else {
      m1 = at::zeros(p.sizes(), torch::kFloat32);
      m2 = at::zeros(p.sizes(), torch::kFloat32);
    }
    optimizer.emplace_back(io::optimizer_tensor_name(name, "exp_avg"), m1);
    optimizer.emplace_back(io::optimizer_tensor_name(name, "exp_avg_sq"), m2);
    optimizer.emplace_back(io::optimizer_tensor_name(name, "step"), at::scalar_tensor(step, torch::kInt64));
  }
  save_safetensors((fs::path(tmp) / "optimizer.safetensors").string(), optimizer, {{"format", "airtune.adamw"}});

  const int64_t nh = static_cast<int64_t>(st.history.size());
  auto hist = at::zeros({nh, io::kTrainStepColumns}, torch::kFloat64);
  auto ph = hist.accessor<double, 2>();
  for (int64_t i = 0; i < nh; ++i) {
    const auto& s = st.history[static_cast<size_t>(i)];
    const double row[io::kTrainStepColumns] = {
        double(s.step),   double(s.total_steps), double(s.epoch), s.loss,      s.lr,           s.grad_norm,
        double(s.tokens), double(s.seq_tokens),  s.seconds,       s.eval_loss, s.eval_accuracy};
    for (int k = 0; k < io::kTrainStepColumns; ++k) ph[i][k] = row[k];
  }
  const int64_t ne = static_cast<int64_t>(st.evals.size());
  auto ev = at::zeros({ne, 3}, torch::kFloat64);
  auto pe = ev.accessor<double, 2>();
  for (int64_t i = 0; i < ne; ++i) {
    const auto& e = st.evals[static_cast<size_t>(i)];
    pe[i][0] = static_cast<double>(e.step);
    pe[i][1] = e.loss;
    pe[i][2] = e.metric;
  }
  if (st.best_step > 0)
    save_safetensors((fs::path(tmp) / io::kBestAdapterFile).string(), st.best_state, {{"format", "pt"}});
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  torch::Tensor rng;
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    rng = gen.get_state();
  }
  save_safetensors((fs::path(tmp) / "trainer_state.safetensors").string(),
                   {{"history", hist}, {"evals", ev}, {"cpu_rng_state", rng}}, {{"format", "airtune.trainer_state"}});

  // The manifest last, with the digest of every file as written.
  io::CheckpointManifest m;
  m.step = st.step;
  m.total_steps = total_steps;
  m.best_metric = st.best_metric;
  m.best_step = st.best_step;
  m.bad_evals = st.bad_evals;
  m.n_evals = ne;
  m.fingerprint = fp;
  std::vector<std::string_view> names(io::kCheckpointFiles.begin(), io::kCheckpointFiles.end());
  if (st.best_step > 0) names.push_back(io::kBestAdapterFile);
  for (auto name : names) {
    const auto bytes = io::read_whole_file((fs::path(tmp) / name).string());
    m.files[std::string(name)] = {bytes.size(), core::sha256_hex(bytes.data(), bytes.size())};
  }
  const std::string manifest = io::serialize_checkpoint_manifest(m);
  {
    const auto path = fs::path(tmp) / io::kManifestFile;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(manifest.data(), static_cast<std::streamsize>(manifest.size()));
    out.flush();
    if (!out) throw IoError(path.string() + ": write failed");
  }
  fs::remove_all(dir);
  fs::rename(tmp, dir);
}

// Reads, checks and applies a checkpoint. Nothing of the model, optimizer or RNG changes until every
// file has passed its digest and every value its validation.
void load_checkpoint(const std::string& dir, LoraModel& model, torch::optim::AdamW& opt, LoopState& st,
                     const std::map<std::string, std::string>& fp, int64_t total_steps) {
  namespace fs = std::filesystem;
  const auto manifest_path = (fs::path(dir) / io::kManifestFile).string();
  if (!fs::is_regular_file(manifest_path)) {
    if (fs::exists(fs::path(dir) / "optimizer.pt"))
      throw FormatError("resume_from: " + dir +
                        " was written by an older airtune whose optimizer state (optimizer.pt) is a pickle, which "
                        "airtune does not load; train from the start, or resume from a checkpoint written by this "
                        "version");
    throw IoError("resume_from: " + dir + " is not a checkpoint (no " + std::string(io::kManifestFile) + ")");
  }
  const auto manifest_bytes = io::read_whole_file(manifest_path, io::kMaxManifestBytes);
  const auto m = io::parse_checkpoint_manifest(reinterpret_cast<const uint8_t*>(manifest_bytes.data()),
                                               manifest_bytes.size(), manifest_path);
  io::check_resume(m, fp, total_steps, "resume_from: " + dir);
  auto files = io::read_checkpoint_files(dir, m);
  auto path_of = [&](const char* name) { return (fs::path(dir) / name).string(); };
  auto bytes_of = [&](const char* name) -> core::ByteBuffer& { return files.at(name); };

  const auto& state_bytes = bytes_of("trainer_state.safetensors");
  auto state = io::decode_trainer_state(reinterpret_cast<const uint8_t*>(state_bytes.data()), state_bytes.size(), m,
                                        path_of("trainer_state.safetensors"));
  auto params = model.named_parameters();
  std::vector<io::ParamSpec> specs;
  for (const auto& [name, p] : params) specs.push_back({name, p.sizes().vec()});
  const auto& opt_bytes = bytes_of("optimizer.safetensors");
  const auto steps = io::validate_optimizer_state(reinterpret_cast<const uint8_t*>(opt_bytes.data()), opt_bytes.size(),
                                                  specs, m.step, path_of("optimizer.safetensors"));
  SafetensorsFile optimizer(path_of("optimizer.safetensors"),
                            bytes_in_memory(std::move(files.at("optimizer.safetensors"))));
  SafetensorsFile adapter(path_of("adapter_model.safetensors"),
                          bytes_in_memory(std::move(files.at("adapter_model.safetensors"))));
  std::vector<std::pair<std::string, torch::Tensor>> best_state;
  if (m.best_step > 0) {
    const std::string best(io::kBestAdapterFile);
    best_state = model.read_state(SafetensorsFile(path_of(best.c_str()), bytes_in_memory(std::move(files.at(best)))));
  }
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    const auto expected = gen.get_state().numel();
    if (static_cast<int64_t>(state.cpu_rng_state.size()) != expected)
      throw FormatError(path_of("trainer_state.safetensors") + ": cpu_rng_state holds " +
                        std::to_string(state.cpu_rng_state.size()) + " bytes, torch's CPU generator state has " +
                        std::to_string(expected));
  }

  model.load_adapter(adapter);  // checks every key and shape before it copies anything
  for (size_t i = 0; i < params.size(); ++i) {
    if (steps[i] == 0) continue;
    const auto& [name, p] = params[i];
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    s->step(steps[i]);
    s->exp_avg(optimizer.tensor(io::optimizer_tensor_name(name, "exp_avg")).to(p.device()).clone());
    s->exp_avg_sq(optimizer.tensor(io::optimizer_tensor_name(name, "exp_avg_sq")).to(p.device()).clone());
    opt.state()[p.unsafeGetTensorImpl()] = std::move(s);
  }
  st.step = m.step;
  st.best_metric = m.best_metric;
  st.best_step = m.best_step;
  st.bad_evals = m.bad_evals;
  st.history = std::move(state.history);
  st.evals.clear();
  for (const auto& e : state.evals) {
    const auto& h = st.history[static_cast<size_t>(e.step - 1)];
    st.evals.push_back({e.step, e.loss, h.eval_accuracy, e.metric});
  }
  st.best_state = std::move(best_state);
  auto rng = at::empty({static_cast<int64_t>(state.cpu_rng_state.size())}, torch::kUInt8);
  std::memcpy(rng.data_ptr(), state.cpu_rng_state.data(), state.cpu_rng_state.size());
  std::lock_guard<std::mutex> lock(gen.mutex());
  try {
    gen.set_state(rng);
  } catch (const c10::Error& e) {
    throw FormatError(path_of("trainer_state.safetensors") + ": cpu_rng_state is not a valid generator state (" +
                      e.what_without_backtrace() + ")");
  }
}

}  // namespace

double lr_lambda(const std::string& schedule, int64_t step, int64_t warmup, int64_t total) {
  if (step < warmup) return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup));
  if (schedule == "constant") return 1.0;
  const double progress =
      static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup));
  if (schedule == "linear")
    return std::max(0.0, static_cast<double>(total - step) / static_cast<double>(std::max<int64_t>(1, total - warmup)));
  if (schedule == "cosine") return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
  throw InvalidArgument("lr schedule '" + schedule + "' is not supported: use linear, cosine or constant");
}

const std::vector<std::string>& best_metric_names() {
  static const std::vector<std::string> names = {"eval_loss", "eval_perplexity", "eval_token_accuracy"};
  return names;
}

EvalResult evaluate_loss(LoraModel& model, const std::vector<TrainExample>& data, int64_t batch_size,
                         int64_t pad_token_id) {
  torch::NoGradGuard no_grad;
  model.set_training(false);
  std::vector<int64_t> order(data.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return data[a].ids.size() > data[b].ids.size(); });
  double sum = 0.0;
  int64_t n = 0, correct = 0;
  for (size_t start = 0; start < order.size(); start += static_cast<size_t>(batch_size)) {
    std::vector<int64_t> rows(
        order.begin() + static_cast<std::ptrdiff_t>(start),
        order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), start + static_cast<size_t>(batch_size))));
    auto b = make_batch(data, rows, pad_token_id, model.base().device());
    auto ls = model.loss_sum(b.ids, b.mask, b.labels, true);
    sum += ls.sum.item<double>();
    n += ls.tokens;
    correct += ls.correct;
  }
  EvalResult r;
  r.loss = n > 0 ? sum / static_cast<double>(n) : NAN;
  r.token_accuracy = n > 0 ? static_cast<double>(correct) / static_cast<double>(n) : NAN;
  return r;
}

namespace {

double metric_value(const std::string& name, const EvalResult& r) {
  if (name == "eval_loss") return r.loss;
  if (name == "eval_perplexity") return std::exp(std::min(r.loss, 700.0));
  return r.token_accuracy;
}

// Deletes the oldest checkpoint-N folders of `dir` (N <= step) beyond the newest `limit`.
void rotate_checkpoints(const std::string& dir, int64_t step, int64_t limit) {
  namespace fs = std::filesystem;
  std::vector<std::pair<int64_t, fs::path>> found;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_directory()) continue;
    const std::string name = e.path().filename().string();
    if (name.rfind("checkpoint-", 0) != 0 || name.size() == 11 || name.size() > 30) continue;
    const std::string digits = name.substr(11);
    if (digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const int64_t n = std::stoll(digits);
    if (n <= step) found.emplace_back(n, e.path());
  }
  std::sort(found.begin(), found.end());
  for (size_t i = 0; i + static_cast<size_t>(limit) < found.size(); ++i) fs::remove_all(found[i].second);
}

}  // namespace

TrainOutcome train_lora(LoraModel& model, const std::vector<TrainExample>& train, const std::vector<TrainExample>& eval,
                        const TrainOptions& o, const StepCallback& on_step) {
  if (train.empty()) throw InvalidArgument("no training examples");
  if (o.batch_size <= 0 || o.grad_accum <= 0) throw InvalidArgument("batch_size and grad_accum must be > 0");
  if (o.epochs <= 0 && o.max_steps <= 0) throw InvalidArgument("epochs or max_steps must be > 0");
  // libtorch's AdamW scales its first step by lr / (1 - beta1) as a float32 scalar: past float32's
  // range that throws an overflow error (an internal error to the user), not a diverged loss
  if (!(o.learning_rate >= 0) || !std::isfinite(o.learning_rate) ||
      (o.beta1 < 1 && o.learning_rate / (1 - o.beta1) >= std::numeric_limits<float>::max()))
    throw InvalidArgument(
        "learning_rate must be >= 0 and finite, and learning_rate / (1 - adam_beta1) (AdamW's "
        "first step) within float32's range (3.4e38), got " +
        fmt(o.learning_rate));
  if (o.save_every > 0 && o.checkpoint_dir.empty()) throw InvalidArgument("save_every needs a checkpoint_dir");
  if (o.save_total_limit < 0) throw InvalidArgument("save_total_limit must be >= 0");
  const auto& metrics = best_metric_names();
  if (std::find(metrics.begin(), metrics.end(), o.best_metric) == metrics.end())
    throw InvalidArgument("metric_for_best_model '" + o.best_metric +
                          "' is never computed: an evaluation computes eval_loss, eval_perplexity and "
                          "eval_token_accuracy");
  if (o.load_best_at_end && eval.empty())
    throw InvalidArgument("load_best_model_at_end needs eval data: without it the best-model metric (" + o.best_metric +
                          ") is never computed");
  if (o.early_stopping_patience > 0 && eval.empty())
    throw InvalidArgument("early_stopping_patience needs eval data: without it " + o.best_metric +
                          " is never computed");
  lr_lambda(o.schedule, 0, 0, 1);  // validates the name
  const int64_t vocab = model.base().config().vocab_size;
  validate(train, "train", vocab);
  validate(eval, "eval", vocab);
  const int64_t micro_per_epoch = (static_cast<int64_t>(train.size()) + o.batch_size - 1) / o.batch_size;
  const int64_t total_micro = o.max_steps > 0 ? o.max_steps * o.grad_accum : o.epochs * micro_per_epoch;
  const int64_t total_steps = o.max_steps > 0 ? o.max_steps : (total_micro + o.grad_accum - 1) / o.grad_accum;
  const int64_t warmup = o.warmup_steps;
  const auto device = model.base().device();

  model.set_gradient_checkpointing(o.gradient_checkpointing);
  // the frozen matrices packed for oneDNN while this run lasts (freed on every way out)
  struct Packs {
    LoraModel& m;
    explicit Packs(LoraModel& model) : m(model) { m.pack_frozen(); }
    ~Packs() { m.unpack_frozen(); }
    Packs(const Packs&) = delete;
    Packs& operator=(const Packs&) = delete;
  } packs(model);
  auto params = model.parameters();
  torch::optim::AdamW opt(
      params,
      torch::optim::AdamWOptions(o.learning_rate).betas({o.beta1, o.beta2}).eps(o.eps).weight_decay(o.weight_decay));
  LoopState st;
  std::map<std::string, std::string> fp;
  if (!o.resume_from.empty() || o.save_every > 0) fp = fingerprint(model, o, train, eval);
  if (!o.resume_from.empty()) {
    load_checkpoint(o.resume_from, model, opt, st, fp, total_steps);
  } else {
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(o.seed);
  }

  TrainOutcome out;
  out.total_steps = total_steps;
  out.stop_reason = "completed";
  std::map<int64_t, std::vector<std::vector<int64_t>>> plans;  // epoch -> batches (small cache)
  auto micro_rows = [&](int64_t g) -> const std::vector<int64_t>& {
    const int64_t epoch = g / micro_per_epoch;
    auto it = plans.find(epoch);
    if (it == plans.end()) {
      if (plans.size() > 2) plans.erase(plans.begin());
      it = plans.emplace(epoch, epoch_plan(train, o, epoch)).first;
    }
    return it->second[static_cast<size_t>(g % micro_per_epoch)];
  };
  const auto t_run = Clock::now();
  while (st.step < total_steps) {
    const auto t0 = Clock::now();
    const int64_t g0 = st.step * o.grad_accum;
    const int64_t g1 = std::min(total_micro, g0 + o.grad_accum);
    StepInfo info;
    info.step = st.step + 1;
    info.total_steps = total_steps;
    info.epoch = g0 / micro_per_epoch;
    std::vector<Batch> batches;
    for (int64_t g = g0; g < g1; ++g) {
      batches.push_back(o.pack_length > 0
                            ? make_packed_batch(train, micro_rows(g), o.pad_token_id, o.pack_length, device)
                            : make_batch(train, micro_rows(g), o.pad_token_id, device));
      info.tokens += batches.back().label_tokens;
      info.seq_tokens += batches.back().tokens;
    }
    model.set_training(true);
    opt.zero_grad();
    double loss_sum = 0.0;
    const double denom = static_cast<double>(info.tokens);
    for (auto& b : batches) {
      auto ls = model.loss_sum(b.ids, b.mask, b.labels);
      (ls.sum / denom).backward();
      loss_sum += ls.sum.item<double>();
    }
    batches.clear();
    info.loss = loss_sum / denom;
    if (o.max_grad_norm > 0) {
      info.grad_norm = torch::nn::utils::clip_grad_norm_(params, o.max_grad_norm);
    } else {
      double sq = 0;
      for (auto& p : params)
        if (p.grad().defined()) sq += p.grad().to(torch::kFloat64).pow(2).sum().item<double>();
      info.grad_norm = std::sqrt(sq);
    }
    if (!std::isfinite(info.loss) || !std::isfinite(info.grad_norm)) {
      opt.zero_grad();
      out.stop_reason = "nan_loss";
      out.message = "loss became " + fmt(info.loss) + " (gradient norm " + fmt(info.grad_norm) + ") at step " +
                    std::to_string(info.step) + "; training stopped without applying this step" +
                    (out.last_checkpoint.empty() && o.resume_from.empty()
                         ? std::string("; no checkpoint was written yet")
                         : "; the last good checkpoint is " +
                               (out.last_checkpoint.empty() ? o.resume_from : out.last_checkpoint)) +
                    ". Lower the learning rate or check the data.";
      break;
    }
    info.lr = o.learning_rate * lr_lambda(o.schedule, st.step, warmup, total_steps);
    group_options(opt).lr(info.lr);
    opt.step();
    opt.zero_grad();
    st.step += 1;
    out.train_tokens += info.tokens;
    out.seq_tokens += info.seq_tokens;
    bool stop_early = false;
    if (!eval.empty() && ((o.eval_every > 0 && st.step % o.eval_every == 0) || st.step == total_steps)) {
      const auto r = evaluate_loss(model, eval, o.eval_batch_size, o.pad_token_id);
      info.eval_loss = r.loss;
      info.eval_accuracy = r.token_accuracy;
      const double v = metric_value(o.best_metric, r);
      st.evals.push_back({st.step, r.loss, r.token_accuracy, v});
      // Early stopping as transformers' EarlyStoppingCallback: against the best before this one.
      const bool better = st.best_step == 0 || (o.greater_is_better ? v > st.best_metric : v < st.best_metric);
      if (st.best_step == 0 || (better && std::fabs(v - st.best_metric) > o.early_stopping_threshold)) {
        st.bad_evals = 0;
      } else {
        st.bad_evals += 1;
        if (o.early_stopping_patience > 0 && st.bad_evals >= o.early_stopping_patience) stop_early = true;
      }
      if (better) {
        st.best_metric = v;
        st.best_step = st.step;
        st.best_state = snapshot(model);
      }
    }
    info.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    st.history.push_back(info);
    if (o.save_every > 0 && (st.step % o.save_every == 0 || st.step == total_steps || stop_early)) {
      const std::string dir =
          (std::filesystem::path(o.checkpoint_dir) / ("checkpoint-" + std::to_string(st.step))).string();
      save_checkpoint(dir, model, opt, st, o, fp, total_steps);
      out.last_checkpoint = dir;
      if (o.save_total_limit > 0) rotate_checkpoints(o.checkpoint_dir, st.step, o.save_total_limit);
    }
    bool keep_going = true;
    if (on_step) keep_going = on_step(info);
    if (stop_early) {
      out.stop_reason = "early_stopping";
      break;
    }
    if (!keep_going) {
      out.stop_reason = "callback";
      break;
    }
  }
  model.set_training(false);
  out.train_seconds = std::chrono::duration<double>(Clock::now() - t_run).count();
  out.best_step = st.best_step;
  out.best_metric = st.best_metric;
  if (out.stop_reason != "nan_loss" && st.best_step > 0 && st.best_step != st.step) {
    if (o.load_best_at_end) {
      model.load_state(st.best_state);
      out.best_restored = true;
    } else if (!o.best_dir.empty()) {
      auto current = snapshot(model);
      model.load_state(st.best_state);
      model.save_adapter(o.best_dir, o.base_model_name_or_path);
      model.load_state(current);
      out.best_adapter = o.best_dir;
    }
  }
  out.history = std::move(st.history);
  out.evals = std::move(st.evals);
  out.steps_done = st.step;
  return out;
}

}  // namespace airtune::nn
