// airtune._nn: the libtorch part of airtune. Compiled against torch's own pybind11 so that
// torch.Tensor arguments and results cross the boundary without conversion. Thin: convert, release
// the GIL, call cpp/nn.
#include <torch/extension.h>
#include <torch/version.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bindings/error_translation.h"
#include "core/errors.h"
#include "nn/decoder.h"
#include "nn/device.h"
#include "nn/encoder.h"
#include "nn/lora_model.h"
#include "nn/quantized.h"
#include "nn/safetensors.h"
#include "nn/trainer_loop.h"

namespace py = pybind11;
using namespace airtune;

namespace {

// Proves the link: a tensor goes in, C++ computes on it, a tensor comes back (same dtype/device).
torch::Tensor roundtrip(const torch::Tensor& x) {
  py::gil_scoped_release release;
  return (x.contiguous() * 2).contiguous();
}

bool cuda_available() { return torch::cuda::is_available(); }

py::dict build_info() {
  py::dict info;
  info["torch_compiled"] = AIRTUNE_TORCH_VERSION;
  info["torch_runtime"] = TORCH_VERSION;
  info["cuda_available"] = torch::cuda::is_available();
  info["cuda_devices"] = torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
  return info;
}

torch::Dtype parse_dtype(const std::string& s) {
  if (s == "float32" || s == "fp32") return torch::kFloat32;
  if (s == "bfloat16" || s == "bf16") return torch::kBFloat16;
  if (s == "float16" || s == "fp16") return torch::kFloat16;
  throw InvalidArgument("dtype '" + s + "' is not supported: use float32, bfloat16 or float16");
}

std::string dtype_str(torch::Dtype d) {
  if (d == torch::kFloat32) return "float32";
  if (d == torch::kBFloat16) return "bfloat16";
  return "float16";
}

py::dict load_safetensors(const std::string& path, bool mmap) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  {
    py::gil_scoped_release release;
    nn::SafetensorsFile f(path, mmap ? nn::FileAccess::kMap : nn::FileAccess::kRead);
    for (const auto& info : f.header().tensors) tensors.emplace_back(info.name, f.tensor(info.name));
  }
  py::dict out;
  for (auto& [k, v] : tensors) out[py::str(k)] = v;
  return out;
}

std::map<std::string, std::string> safetensors_metadata(const std::string& path) {
  py::gil_scoped_release release;
  return nn::read_safetensors_header(path).metadata;
}

void save_safetensors(const std::string& path, const py::dict& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<std::pair<std::string, torch::Tensor>> items;
  for (auto kv : tensors) {
    if (!py::isinstance<py::str>(kv.first)) throw InvalidArgument("safetensors: tensor names must be str");
    std::string name = kv.first.cast<std::string>();
    try {
      items.emplace_back(name, kv.second.cast<torch::Tensor>());
    } catch (const py::cast_error&) {
      throw InvalidArgument(path + ": value of '" + name + "' is not a torch.Tensor");
    }
  }
  py::gil_scoped_release release;
  nn::save_safetensors(path, items, metadata);
}

py::dict decoder_config(const nn::DecoderConfig& c) {
  py::dict d;
  d["model_type"] = c.model_type;
  d["vocab_size"] = c.vocab_size;
  d["hidden_size"] = c.hidden_size;
  d["intermediate_size"] = c.intermediate_size;
  d["num_hidden_layers"] = c.num_hidden_layers;
  d["num_attention_heads"] = c.num_attention_heads;
  d["num_key_value_heads"] = c.num_key_value_heads;
  d["head_dim"] = c.head_dim;
  d["max_position_embeddings"] = c.max_position_embeddings;
  d["rms_norm_eps"] = c.rms_norm_eps;
  d["rope_type"] = c.rope.type;
  d["rope_theta"] = c.rope.theta;
  d["attention_bias"] = c.attention_bias;
  d["tie_word_embeddings"] = c.tie_word_embeddings;
  d["activation"] = c.activation;
  d["rotary_dim"] = c.rotary_dim;
  d["quantization_method"] = c.quantization.method;
  d["layer_window"] = c.layer_window;
  d["eos_token_ids"] = c.eos_token_ids;
  d["bos_token_id"] = c.bos_token_id;
  d["pad_token_id"] = c.pad_token_id;
  return d;
}

py::tuple generate(const nn::Decoder& model, const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                   int64_t max_new_tokens, bool do_sample, double temperature, int64_t top_k, double top_p,
                   uint64_t seed, std::vector<int64_t> eos_token_ids, int64_t pad_token_id, const py::object& on_step) {
  nn::GenerateOptions o;
  o.max_new_tokens = max_new_tokens;
  o.do_sample = do_sample;
  o.temperature = temperature;
  o.top_k = top_k;
  o.top_p = top_p;
  o.seed = seed;
  o.eos_token_ids = std::move(eos_token_ids);
  o.pad_token_id = pad_token_id;
  if (!on_step.is_none()) {
    py::function fn = on_step;
    o.on_step = [fn](const std::vector<int64_t>& tokens) {
      py::gil_scoped_acquire acquire;
      return fn(tokens).cast<std::vector<bool>>();
    };
  }
  nn::GenerateOutput out;
  {
    py::gil_scoped_release release;
    out = model.generate(input_ids, attention_mask, o);
  }
  return py::make_tuple(out.tokens, out.lengths, out.finish_reasons);
}

nn::Pooling parse_pooling(const std::string& s) {
  if (s == "cls") return nn::Pooling::kCls;
  if (s == "mean") return nn::Pooling::kMean;
  if (s == "max") return nn::Pooling::kMax;
  if (s == "mean_sqrt_len") return nn::Pooling::kMeanSqrtLen;
  throw InvalidArgument("pooling '" + s + "' is not supported: use cls, mean, max or mean_sqrt_len");
}

std::vector<nn::TrainExample> to_examples(const std::vector<std::vector<int64_t>>& ids,
                                          const std::vector<std::vector<int64_t>>& labels, const char* what) {
  if (ids.size() != labels.size()) throw InvalidArgument(std::string(what) + ": ids and labels differ in count");
  std::vector<nn::TrainExample> out(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    out[i].ids = ids[i];
    out[i].labels = labels[i];
  }
  return out;
}

py::dict step_dict(const nn::StepInfo& s) {
  py::dict d;
  d["step"] = s.step;
  d["total_steps"] = s.total_steps;
  d["epoch"] = s.epoch;
  d["loss"] = s.loss;
  d["lr"] = s.lr;
  d["grad_norm"] = s.grad_norm;
  d["tokens"] = s.tokens;
  d["seq_tokens"] = s.seq_tokens;
  d["seconds"] = s.seconds;
  d["eval_loss"] = s.eval_loss >= 0 ? py::object(py::float_(s.eval_loss)) : py::object(py::none());
  d["eval_token_accuracy"] = s.eval_loss >= 0 ? py::object(py::float_(s.eval_accuracy)) : py::object(py::none());
  return d;
}

std::optional<nn::QuantOptions> quant_options(const std::string& kind, int64_t block_size, bool double_quant) {
  if (kind.empty() || kind == "none") return std::nullopt;
  nn::QuantOptions q;
  q.kind = nn::parse_quant_kind(kind);
  q.block_size = block_size;
  q.double_quant = double_quant;
  return q;
}

py::dict quantized_dict(const nn::QuantizedTensor& q) {
  py::dict d;
  d["kind"] = nn::quant_kind_name(q.kind);
  d["rows"] = q.rows;
  d["cols"] = q.cols;
  d["block_size"] = q.block_size;
  d["codes"] = q.codes;
  d["absmax"] = q.absmax.defined() ? py::object(py::cast(q.absmax)) : py::object(py::none());
  d["nested_codes"] = q.nested_codes.defined() ? py::object(py::cast(q.nested_codes)) : py::object(py::none());
  d["nested_absmax"] = q.nested_absmax.defined() ? py::object(py::cast(q.nested_absmax)) : py::object(py::none());
  d["nested_offset"] = q.nested_offset;
  d["scales"] = q.scales();
  return d;
}

nn::QuantizedTensor quantized_from(const py::dict& d) {
  nn::QuantizedTensor q;
  q.kind = nn::parse_quant_kind(d["kind"].cast<std::string>());
  q.rows = d["rows"].cast<int64_t>();
  q.cols = d["cols"].cast<int64_t>();
  q.block_size = d["block_size"].cast<int64_t>();
  q.codes = d["codes"].cast<torch::Tensor>();
  auto opt = [&](const char* k) {
    return d.contains(k) && !d[k].is_none() ? d[k].cast<torch::Tensor>() : torch::Tensor();
  };
  q.absmax = opt("absmax");
  q.nested_codes = opt("nested_codes");
  q.nested_absmax = opt("nested_absmax");
  q.nested_offset = d.contains("nested_offset") ? d["nested_offset"].cast<float>() : 0.0f;
  q.validate("quantized weight");
  return q;
}

template <typename V>
std::vector<std::pair<std::string, V>> pattern_list(const py::object& o) {
  std::vector<std::pair<std::string, V>> out;
  if (o.is_none()) return out;
  for (auto item : o) {
    auto pair = item.cast<py::tuple>();
    out.emplace_back(pair[0].cast<std::string>(), pair[1].cast<V>());
  }
  return out;
}

py::dict run_training(nn::LoraModel& model, const std::vector<std::vector<int64_t>>& train_ids,
                      const std::vector<std::vector<int64_t>>& train_labels,
                      const std::vector<std::vector<int64_t>>& eval_ids,
                      const std::vector<std::vector<int64_t>>& eval_labels, const py::dict& opts,
                      const py::object& on_step) {
  nn::TrainOptions o;
  auto get = [&](const char* k) { return opts[k]; };
  o.epochs = get("epochs").cast<int64_t>();
  o.max_steps = get("max_steps").cast<int64_t>();
  o.batch_size = get("batch_size").cast<int64_t>();
  o.grad_accum = get("gradient_accumulation_steps").cast<int64_t>();
  o.learning_rate = get("learning_rate").cast<double>();
  o.weight_decay = get("weight_decay").cast<double>();
  o.beta1 = get("adam_beta1").cast<double>();
  o.beta2 = get("adam_beta2").cast<double>();
  o.eps = get("adam_epsilon").cast<double>();
  o.max_grad_norm = get("max_grad_norm").cast<double>();
  o.schedule = get("lr_scheduler").cast<std::string>();
  o.warmup_steps = get("warmup_steps").cast<int64_t>();
  o.seed = get("seed").cast<uint64_t>();
  o.group_by_length = get("group_by_length").cast<bool>();
  o.gradient_checkpointing = opts.contains("gradient_checkpointing") && get("gradient_checkpointing").cast<bool>();
  o.pack_length = opts.contains("pack_length") ? get("pack_length").cast<int64_t>() : 0;
  o.pad_token_id = get("pad_token_id").cast<int64_t>();
  o.eval_every = get("eval_steps").cast<int64_t>();
  o.eval_batch_size = get("eval_batch_size").cast<int64_t>();
  o.early_stopping_patience = get("early_stopping_patience").cast<int64_t>();
  if (opts.contains("metric_for_best_model")) o.best_metric = get("metric_for_best_model").cast<std::string>();
  if (opts.contains("greater_is_better")) o.greater_is_better = get("greater_is_better").cast<bool>();
  if (opts.contains("load_best_model_at_end")) o.load_best_at_end = get("load_best_model_at_end").cast<bool>();
  if (opts.contains("best_dir")) o.best_dir = get("best_dir").cast<std::string>();
  if (opts.contains("save_total_limit")) o.save_total_limit = get("save_total_limit").cast<int64_t>();
  o.early_stopping_threshold = get("early_stopping_threshold").cast<double>();
  o.save_every = get("save_steps").cast<int64_t>();
  o.checkpoint_dir = get("checkpoint_dir").cast<std::string>();
  o.resume_from = get("resume_from").cast<std::string>();
  o.base_model_name_or_path = get("base_model_name_or_path").cast<std::string>();
  auto train = to_examples(train_ids, train_labels, "train");
  auto eval = to_examples(eval_ids, eval_labels, "eval");
  nn::StepCallback cb;
  if (!on_step.is_none()) {
    py::function fn = on_step;
    cb = [fn](const nn::StepInfo& s) {
      py::gil_scoped_acquire acquire;
      py::object r = fn(step_dict(s));
      return r.is_none() ? true : r.cast<bool>();
    };
  }
  nn::TrainOutcome out;
  {
    py::gil_scoped_release release;
    out = nn::train_lora(model, train, eval, o, cb);
  }
  py::dict d;
  py::list hist;
  for (const auto& s : out.history) hist.append(step_dict(s));
  d["history"] = hist;
  py::list evals;
  for (const auto& e : out.evals) {
    py::dict ed;
    ed["step"] = e.step;
    ed["eval_loss"] = e.loss;
    ed["eval_token_accuracy"] = e.token_accuracy;
    ed["metric"] = e.metric;
    evals.append(ed);
  }
  d["evals"] = evals;
  d["best_step"] = out.best_step;
  d["best_metric"] = out.best_step > 0 ? py::object(py::float_(out.best_metric)) : py::object(py::none());
  d["best_restored"] = out.best_restored;
  d["best_adapter"] = out.best_adapter;
  d["steps_done"] = out.steps_done;
  d["total_steps"] = out.total_steps;
  d["stop_reason"] = out.stop_reason;
  d["message"] = out.message;
  d["last_checkpoint"] = out.last_checkpoint;
  d["train_seconds"] = out.train_seconds;
  d["train_tokens"] = out.train_tokens;
  d["seq_tokens"] = out.seq_tokens;
  return d;
}

}  // namespace

PYBIND11_MODULE(_nn, m) {
  m.doc() = "airtune's libtorch module. Use airtune.nn / airtune.train rather than this module.";

  // The same airtune.ParseError class as _core's (imported, not redefined), so callers catch one type.
  static PyObject* parse_error = [] {
    PyObject* core = PyImport_ImportModule("airtune._core");
    PyObject* type = core ? PyObject_GetAttrString(core, "ParseError") : nullptr;
    Py_XDECREF(core);
    if (!type) {
      PyErr_Clear();
      type = PyExc_ValueError;
      Py_INCREF(type);
    }
    return type;  // kept for the interpreter's lifetime
  }();
  py::register_exception_translator(
      [](std::exception_ptr p) { airtune::bindings::translate_airtune_errors(p, parse_error); });

  m.def("roundtrip", &roundtrip, py::arg("x"), "Returns 2 * x computed by libtorch in C++.");
  m.def("cuda_available", &cuda_available, "True when libtorch sees a CUDA device.");
  m.def("build_info", &build_info);
  m.def(
      "resolve_device", [](const std::string& name) { return nn::resolve_device(name).str(); }, py::arg("name"),
      "'auto' -> 'cuda:0' when available else 'cpu'; validates 'cpu', 'cuda', 'cuda:N'.");

  m.def("load_safetensors", &load_safetensors, py::arg("path"), py::arg("mmap") = false,
        "Reads (or maps, mmap=True) a .safetensors file; returns {name: CPU tensor} (zero-copy from that "
        "buffer where aligned).");
  m.def("safetensors_metadata", &safetensors_metadata, py::arg("path"));
  m.def("save_safetensors", &save_safetensors, py::arg("path"), py::arg("tensors"),
        py::arg("metadata") = std::map<std::string, std::string>{});

  py::class_<nn::Decoder, std::shared_ptr<nn::Decoder>>(m, "Decoder")
      .def(py::init([](const std::string& path, const std::string& dtype, const std::string& device, bool mmap,
                       const std::string& quantization, int64_t quant_block_size, bool double_quant) {
             auto dt = parse_dtype(dtype);
             auto dev = nn::resolve_device(device);
             auto q = quant_options(quantization, quant_block_size, double_quant);
             py::gil_scoped_release release;
             return std::make_shared<nn::Decoder>(path, dt, dev, mmap ? nn::FileAccess::kMap : nn::FileAccess::kRead,
                                                  q);
           }),
           py::arg("path"), py::arg("dtype") = "float32", py::arg("device") = "cpu", py::arg("mmap") = false,
           py::arg("quantization") = "", py::arg("quant_block_size") = 64, py::arg("double_quant") = false)
      .def_property_readonly(
          "quantization",
          [](const nn::Decoder& d) { return d.quantization() ? nn::describe(*d.quantization()) : std::string(); })
      .def_property_readonly("config", [](const nn::Decoder& d) { return decoder_config(d.config()); })
      .def_property_readonly("dtype", [](const nn::Decoder& d) { return dtype_str(d.dtype()); })
      .def_property_readonly("device", [](const nn::Decoder& d) { return d.device().str(); })
      .def(
          "logits",
          [](const nn::Decoder& d, const torch::Tensor& ids, const std::optional<torch::Tensor>& mask) {
            py::gil_scoped_release release;
            torch::NoGradGuard no_grad;
            return d.logits(ids, mask);
          },
          py::arg("input_ids"), py::arg("attention_mask") = py::none())
      .def("generate", &generate, py::arg("input_ids"), py::arg("attention_mask"), py::arg("max_new_tokens"),
           py::arg("do_sample"), py::arg("temperature"), py::arg("top_k"), py::arg("top_p"), py::arg("seed"),
           py::arg("eos_token_ids"), py::arg("pad_token_id"), py::arg("on_step") = py::none());

  py::class_<nn::Encoder, std::shared_ptr<nn::Encoder>>(m, "Encoder")
      .def(py::init([](const std::string& path, const std::string& dtype, const std::string& device) {
             auto dt = parse_dtype(dtype);
             auto dev = nn::resolve_device(device);
             py::gil_scoped_release release;
             return std::make_shared<nn::Encoder>(path, dt, dev);
           }),
           py::arg("path"), py::arg("dtype") = "float32", py::arg("device") = "cpu")
      .def_property_readonly("hidden_size", [](const nn::Encoder& e) { return e.config().hidden_size; })
      .def_property_readonly("max_position_embeddings",
                             [](const nn::Encoder& e) { return e.config().max_position_embeddings; })
      .def(
          "embed",
          [](const nn::Encoder& e, const torch::Tensor& ids, const torch::Tensor& mask, const std::string& pooling,
             bool normalize) {
            auto p = parse_pooling(pooling);
            py::gil_scoped_release release;
            return e.embed(ids, mask, p, normalize);
          },
          py::arg("input_ids"), py::arg("attention_mask"), py::arg("pooling") = "mean", py::arg("normalize") = true)
      .def(
          "hidden_states",
          [](const nn::Encoder& e, const torch::Tensor& ids, const torch::Tensor& mask) {
            py::gil_scoped_release release;
            torch::NoGradGuard no_grad;
            return e.hidden_states(ids, mask);
          },
          py::arg("input_ids"), py::arg("attention_mask"));
  py::class_<nn::LoraModel, std::shared_ptr<nn::LoraModel>>(m, "LoraModel")
      .def(py::init([](const std::string& path, int64_t r, double alpha, double dropout, bool use_rslora,
                       std::vector<std::string> targets, const std::string& regex, bool all_linear, uint64_t seed,
                       const std::string& dtype, const std::string& device, const py::object& rank_pattern,
                       const py::object& alpha_pattern, bool use_dora, std::vector<std::string> modules_to_save,
                       const std::string& quantization, int64_t quant_block_size, bool double_quant) {
             nn::LoraOptions o;
             o.r = r;
             o.alpha = alpha;
             o.dropout = dropout;
             o.use_rslora = use_rslora;
             o.target_modules = std::move(targets);
             o.target_regex = regex;
             o.all_linear = all_linear;
             o.seed = seed;
             o.rank_pattern = pattern_list<int64_t>(rank_pattern);
             o.alpha_pattern = pattern_list<double>(alpha_pattern);
             o.use_dora = use_dora;
             o.modules_to_save = std::move(modules_to_save);
             o.quantization = quant_options(quantization, quant_block_size, double_quant);
             auto dt = parse_dtype(dtype);
             auto dev = nn::resolve_device(device);
             py::gil_scoped_release release;
             return std::make_shared<nn::LoraModel>(path, o, dt, dev);
           }),
           py::arg("path"), py::arg("r"), py::arg("alpha"), py::arg("dropout"), py::arg("use_rslora"),
           py::arg("target_modules"), py::arg("target_regex"), py::arg("all_linear"), py::arg("seed"),
           py::arg("dtype") = "float32", py::arg("device") = "cpu", py::arg("rank_pattern") = py::none(),
           py::arg("alpha_pattern") = py::none(), py::arg("use_dora") = false,
           py::arg("modules_to_save") = std::vector<std::string>{}, py::arg("quantization") = "",
           py::arg("quant_block_size") = 64, py::arg("double_quant") = false)
      .def_property_readonly("quantization",
                             [](const nn::LoraModel& l) {
                               const auto& q = l.base().quantization();
                               return q ? nn::describe(*q) : std::string();
                             })
      .def("memory",
           [](const nn::LoraModel& l) {
             // bytes the model holds: frozen weights (dense and quantized), trainable tensors
             int64_t dense = 0, quant = 0;
             std::vector<const torch::Tensor*> seen;
             auto add = [&](const torch::Tensor& t) {
               if (!t.defined()) return;
               for (const auto* s : seen)
                 if (s->is_same(t)) return;
               seen.push_back(&t);
               dense += t.numel() * t.element_size();
             };
             const auto& b = l.base();
             add(b.embed());
             add(b.final_norm());
             add(b.lm_head());
             for (const auto& L : b.layers()) {
               for (const auto& mtx : L.m) {
                 if (mtx.quantized()) {
                   quant += mtx.q->bytes();
                 } else {
                   add(mtx.w);
                 }
                 add(mtx.b);
               }
               for (const auto& n : L.norms) add(n);
             }
             py::dict d;
             d["dense_weight_bytes"] = dense;
             d["quantized_weight_bytes"] = quant;
             d["trainable_params"] = l.num_trainable();
             return d;
           })
      .def_property_readonly("config", [](const nn::LoraModel& l) { return decoder_config(l.base().config()); })
      .def_property_readonly("num_trainable", &nn::LoraModel::num_trainable)
      .def_property_readonly("modules",
                             [](const nn::LoraModel& l) {
                               std::vector<std::string> out;
                               for (const auto& a : l.adapters()) out.push_back(a.module);
                               return out;
                             })
      .def("state_dict",
           [](const nn::LoraModel& l) {
             py::dict d;
             for (auto& [k, v] : l.peft_state_dict()) d[py::str(k)] = v;
             return d;
           })
      .def(
          "logits",
          [](const nn::LoraModel& l, const torch::Tensor& ids, const torch::Tensor& mask) {
            py::gil_scoped_release release;
            torch::NoGradGuard no_grad;
            return l.logits(ids, mask);
          },
          py::arg("input_ids"), py::arg("attention_mask"))
      .def(
          "loss",
          [](nn::LoraModel& l, const torch::Tensor& ids, const torch::Tensor& mask, const torch::Tensor& labels) {
            double sum = 0;
            int64_t tokens = 0;
            {
              py::gil_scoped_release release;
              torch::NoGradGuard no_grad;
              l.set_training(false);
              auto ls = l.loss_sum(ids, mask, labels);
              sum = ls.sum.item<double>();
              tokens = ls.tokens;
            }
            return py::make_tuple(sum, tokens);
          },
          py::arg("input_ids"), py::arg("attention_mask"), py::arg("labels"))
      .def(
          "save_adapter",
          [](const nn::LoraModel& l, const std::string& dir, const std::string& base) {
            py::gil_scoped_release release;
            l.save_adapter(dir, base);
          },
          py::arg("dir"), py::arg("base_model_name_or_path"))
      .def(
          "load_adapter",
          [](nn::LoraModel& l, const std::string& path) {
            py::gil_scoped_release release;
            l.load_adapter(path);
          },
          py::arg("path"))
      .def(
          "save_merged",
          [](const nn::LoraModel& l, const std::string& dir) {
            py::gil_scoped_release release;
            l.save_merged(dir);
          },
          py::arg("dir"))
      .def(
          "merged_decoder",
          [](const nn::LoraModel& l) {
            py::gil_scoped_release release;
            return l.merged_decoder();
          },
          "A Decoder with the adapters merged in memory (the weights save_merged writes); shares the "
          "base's other tensors.")
      .def("train", &run_training, py::arg("train_ids"), py::arg("train_labels"), py::arg("eval_ids"),
           py::arg("eval_labels"), py::arg("options"), py::arg("on_step") = py::none());
  m.def("lr_lambda", &nn::lr_lambda, py::arg("schedule"), py::arg("step"), py::arg("warmup"), py::arg("total"));
  m.def(
      "nf4_levels", [] { return std::vector<float>(nn::nf4_levels().begin(), nn::nf4_levels().end()); },
      "The 16 NF4 levels (bitsandbytes' float32 table).");
  m.def(
      "dynamic_map",
      [] { return std::vector<float>(nn::dynamic_map_levels().begin(), nn::dynamic_map_levels().end()); },
      "The 256 levels of bitsandbytes' signed dynamic map (double quantization).");
  m.def(
      "quantize_weight",
      [](const torch::Tensor& w, const std::string& kind, int64_t block_size, bool double_quant) {
        nn::QuantOptions o;
        o.kind = nn::parse_quant_kind(kind);
        o.block_size = block_size;
        o.double_quant = double_quant;
        nn::QuantizedTensor q;
        {
          py::gil_scoped_release release;
          q = nn::quantize(w, o);
        }
        return quantized_dict(q);
      },
      py::arg("weight"), py::arg("kind"), py::arg("block_size") = 64, py::arg("double_quant") = false,
      "Quantizes a 2-D weight (nn/quantized.h); returns its codes and scales.");
  m.def(
      "dequantize_weight",
      [](const py::dict& q, const std::string& dtype, bool reference) {
        auto t = quantized_from(q);
        auto dt = parse_dtype(dtype);
        py::gil_scoped_release release;
        return reference ? nn::dequantize_reference(t, dt, 0, t.rows) : nn::dequantize(t, dt);
      },
      py::arg("quantized"), py::arg("dtype") = "float32", py::arg("reference") = false,
      "The dequantized weight of quantize_weight's result (reference=True: the ATen-ops path of non-CPU devices).");
  m.def(
      "quantized_matmul",
      [](const torch::Tensor& x, const py::dict& q) {
        auto m = std::make_shared<const nn::QuantizedMatrix>(std::vector<nn::QuantizedTensor>{quantized_from(q)});
        py::gil_scoped_release release;
        return nn::quantized_linear(x, m, torch::Tensor());
      },
      py::arg("x"), py::arg("quantized"), "x W^T with W dequantized panel by panel (differentiable in x).");
  m.def("best_metric_names", &nn::best_metric_names);
}
