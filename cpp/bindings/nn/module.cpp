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
  return d;
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
  d["eval_loss"] = out.eval_loss;
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
      .def(py::init([](const std::string& path, const std::string& dtype, const std::string& device, bool mmap) {
             auto dt = parse_dtype(dtype);
             auto dev = nn::resolve_device(device);
             py::gil_scoped_release release;
             return std::make_shared<nn::Decoder>(path, dt, dev, mmap ? nn::FileAccess::kMap : nn::FileAccess::kRead);
           }),
           py::arg("path"), py::arg("dtype") = "float32", py::arg("device") = "cpu", py::arg("mmap") = false)
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
                       const std::string& dtype, const std::string& device) {
             nn::LoraOptions o;
             o.r = r;
             o.alpha = alpha;
             o.dropout = dropout;
             o.use_rslora = use_rslora;
             o.target_modules = std::move(targets);
             o.target_regex = regex;
             o.all_linear = all_linear;
             o.seed = seed;
             auto dt = parse_dtype(dtype);
             auto dev = nn::resolve_device(device);
             py::gil_scoped_release release;
             return std::make_shared<nn::LoraModel>(path, o, dt, dev);
           }),
           py::arg("path"), py::arg("r"), py::arg("alpha"), py::arg("dropout"), py::arg("use_rslora"),
           py::arg("target_modules"), py::arg("target_regex"), py::arg("all_linear"), py::arg("seed"),
           py::arg("dtype") = "float32", py::arg("device") = "cpu")
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
}
