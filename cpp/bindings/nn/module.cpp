// airtune._nn: the libtorch part of airtune. Compiled against torch's own pybind11 so that
// torch.Tensor arguments and results cross the boundary without conversion. Thin: convert, release
// the GIL, call cpp/nn.
#include <pybind11/typing.h>
#include <torch/extension.h>
#include <torch/version.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bindings/error_translation.h"
#include "core/errors.h"
#include "nn/causal_attention.h"
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

// A Python object that is a torch.Tensor: names the values of the {name: tensor} mappings in the
// stubs (py::typing::Dict<py::str, TensorObject> reads dict[str, torch.Tensor]).
class TensorObject : public py::object {
 public:
  using py::object::object;
};

using TensorDict = py::typing::Dict<py::str, TensorObject>;

}  // namespace

namespace pybind11::detail {
template <>
struct handle_type_name<TensorObject> {
  static constexpr auto name = const_name("torch.Tensor");
};
}  // namespace pybind11::detail

namespace {

// Proves the link: a tensor goes in, C++ computes on it, a tensor comes back (same dtype/device).
torch::Tensor roundtrip(const torch::Tensor& x) {
  py::gil_scoped_release release;
  return (x.contiguous() * 2).contiguous();
}

bool cuda_available() { return torch::cuda::is_available(); }

py::typing::Dict<py::str, py::typing::Union<py::str, py::bool_, py::int_>> build_info() {
  py::typing::Dict<py::str, py::typing::Union<py::str, py::bool_, py::int_>> info;
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

TensorDict load_safetensors(const std::string& path, bool mmap) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  {
    py::gil_scoped_release release;
    nn::SafetensorsFile f(path, mmap ? nn::FileAccess::kMap : nn::FileAccess::kRead);
    for (const auto& info : f.header().tensors) tensors.emplace_back(info.name, f.tensor(info.name));
  }
  TensorDict out;
  for (auto& [k, v] : tensors) out[py::str(k)] = v;
  return out;
}

std::map<std::string, std::string> safetensors_metadata(const std::string& path) {
  py::gil_scoped_release release;
  return nn::read_safetensors_header(path).metadata;
}

void save_safetensors(const std::string& path, const TensorDict& tensors,
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

std::optional<nn::QuantOptions> quant_options(const std::string& kind, int64_t block_size, bool double_quant) {
  if (kind.empty() || kind == "none") return std::nullopt;
  nn::QuantOptions q;
  q.kind = nn::parse_quant_kind(kind);
  q.block_size = block_size;
  q.double_quant = double_quant;
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

nn::TrainOutcome run_training(nn::LoraModel& model, const std::vector<std::vector<int64_t>>& train_ids,
                              const std::vector<std::vector<int64_t>>& train_labels,
                              const std::vector<std::vector<int64_t>>& eval_ids,
                              const std::vector<std::vector<int64_t>>& eval_labels, const nn::TrainOptions& o,
                              const py::object& on_step) {
  auto train = to_examples(train_ids, train_labels, "train");
  auto eval = to_examples(eval_ids, eval_labels, "eval");
  nn::StepCallback cb;
  if (!on_step.is_none()) {
    py::function fn = on_step;
    cb = [fn](const nn::StepInfo& s) {
      py::gil_scoped_acquire acquire;
      py::object r = fn(s);
      return r.is_none() ? true : r.cast<bool>();
    };
  }
  nn::TrainOutcome out;
  {
    py::gil_scoped_release release;
    out = nn::train_lora(model, train, eval, o, cb);
  }
  return out;
}

// What LoraModel.memory() returns: bytes the model holds.
struct ModelMemory {
  int64_t dense_weight_bytes = 0;      // frozen dense weights, norms and embeddings (shared ones once)
  int64_t quantized_weight_bytes = 0;  // quantized weights: codes and scales
  int64_t trainable_params = 0;
};

std::optional<torch::Tensor> defined(const torch::Tensor& t) {
  return t.defined() ? std::optional<torch::Tensor>(t) : std::nullopt;
}

// A model's config and a quantized weight as read-only classes (nn/model_config.h, nn/quantized.h).
void bind_model_types(py::module_& m) {
  using C = nn::DecoderConfig;
  py::class_<C>(m, "DecoderConfig", "A decoder's config.json as read (nn/model_config.h).")
      .def_readonly("model_type", &C::model_type)
      .def_readonly("vocab_size", &C::vocab_size)
      .def_readonly("hidden_size", &C::hidden_size)
      .def_readonly("intermediate_size", &C::intermediate_size)
      .def_readonly("num_hidden_layers", &C::num_hidden_layers)
      .def_readonly("num_attention_heads", &C::num_attention_heads)
      .def_readonly("num_key_value_heads", &C::num_key_value_heads)
      .def_readonly("head_dim", &C::head_dim)
      .def_readonly("max_position_embeddings", &C::max_position_embeddings)
      .def_readonly("rms_norm_eps", &C::rms_norm_eps)
      .def_property_readonly("rope_type", [](const C& c) { return c.rope.type; })
      .def_property_readonly("rope_theta", [](const C& c) { return c.rope.theta; })
      .def_readonly("attention_bias", &C::attention_bias)
      .def_readonly("tie_word_embeddings", &C::tie_word_embeddings)
      .def_readonly("activation", &C::activation)
      .def_readonly("rotary_dim", &C::rotary_dim)
      .def_property_readonly("quantization_method", [](const C& c) { return c.quantization.method; })
      .def_readonly("layer_window", &C::layer_window)
      .def_readonly("eos_token_ids", &C::eos_token_ids)
      .def_readonly("bos_token_id", &C::bos_token_id, "-1: none")
      .def_readonly("pad_token_id", &C::pad_token_id, "-1: none");

  using Q = nn::QuantizedTensor;
  py::class_<Q>(m, "QuantizedTensor", "A quantized 2-D weight (nn/quantized.h): codes and scales.")
      .def_property_readonly("kind", [](const Q& q) { return nn::quant_kind_name(q.kind); })
      .def_readonly("rows", &Q::rows)
      .def_readonly("cols", &Q::cols)
      .def_readonly("block_size", &Q::block_size)
      .def_readonly("codes", &Q::codes, "NF4: uint8 [ceil(n / 2)]; int8: int8 [n]")
      .def_property_readonly(
          "absmax", [](const Q& q) { return defined(q.absmax); }, "float32 [blocks]; None when nested")
      .def_property_readonly(
          "nested_codes", [](const Q& q) { return defined(q.nested_codes); }, "uint8 [blocks] (double quantization)")
      .def_property_readonly(
          "nested_absmax", [](const Q& q) { return defined(q.nested_absmax); }, "float32 [ceil(blocks / 256)]")
      .def_readonly("nested_offset", &Q::nested_offset)
      .def_property_readonly("scales", &Q::scales, "the per-block absmax, float32 [blocks] (decoded when nested)");

  using M = ModelMemory;
  py::class_<M>(m, "ModelMemory", "Bytes a LoraModel holds.")
      .def_readonly("dense_weight_bytes", &M::dense_weight_bytes)
      .def_readonly("quantized_weight_bytes", &M::quantized_weight_bytes)
      .def_readonly("trainable_params", &M::trainable_params);
}

// The trainer's options and results as classes (nn/trainer_loop.h): fields keep the C++ names and
// defaults; airtune.train._options builds TrainOptions from a LoraConfig (the one conversion).
void bind_training(py::module_& m) {
  using O = nn::TrainOptions;
  py::class_<O>(m, "TrainOptions",
                "Options of LoraModel.train (nn::TrainOptions); defaults are the C++ ones. Built from a "
                "LoraConfig by airtune.train._options, which validates it.")
      .def(py::init<>())
      .def_readwrite("epochs", &O::epochs)
      .def_readwrite("max_steps", &O::max_steps, "> 0 overrides epochs")
      .def_readwrite("batch_size", &O::batch_size, "sequences per micro-batch")
      .def_readwrite("grad_accum", &O::grad_accum, "micro-batches per optimizer step")
      .def_readwrite("learning_rate", &O::learning_rate)
      .def_readwrite("weight_decay", &O::weight_decay)
      .def_readwrite("beta1", &O::beta1)
      .def_readwrite("beta2", &O::beta2)
      .def_readwrite("eps", &O::eps)
      .def_readwrite("max_grad_norm", &O::max_grad_norm, "<= 0: no clipping")
      .def_readwrite("schedule", &O::schedule, "linear | cosine | constant")
      .def_readwrite("warmup_steps", &O::warmup_steps)
      .def_readwrite("seed", &O::seed)
      .def_readwrite("group_by_length", &O::group_by_length)
      .def_readwrite("gradient_checkpointing", &O::gradient_checkpointing)
      .def_readwrite("pack_length", &O::pack_length, "> 0: pack each micro-batch into rows of this many tokens")
      .def_readwrite("pad_token_id", &O::pad_token_id)
      .def_readwrite("eval_every", &O::eval_every, "0: evaluate only at the end")
      .def_readwrite("eval_batch_size", &O::eval_batch_size)
      .def_readwrite("best_metric", &O::best_metric, "one of best_metric_names()")
      .def_readwrite("greater_is_better", &O::greater_is_better)
      .def_readwrite("load_best_at_end", &O::load_best_at_end)
      .def_readwrite("best_dir", &O::best_dir, "where a best adapter that is not restored is written")
      .def_readwrite("early_stopping_patience", &O::early_stopping_patience, "0: off")
      .def_readwrite("early_stopping_threshold", &O::early_stopping_threshold)
      .def_readwrite("save_every", &O::save_every, "checkpoint every N steps; 0: off")
      .def_readwrite("save_total_limit", &O::save_total_limit, "> 0: keep the newest N checkpoints")
      .def_readwrite("checkpoint_dir", &O::checkpoint_dir)
      .def_readwrite("resume_from", &O::resume_from, "a checkpoint folder of an earlier run")
      .def_readwrite("base_model_name_or_path", &O::base_model_name_or_path);

  using S = nn::StepInfo;
  py::class_<S>(m, "StepInfo", "One optimizer step (io::TrainStep); eval_loss < 0: no evaluation after it.")
      .def_readonly("step", &S::step)
      .def_readonly("total_steps", &S::total_steps)
      .def_readonly("epoch", &S::epoch)
      .def_readonly("loss", &S::loss)
      .def_readonly("lr", &S::lr)
      .def_readonly("grad_norm", &S::grad_norm)
      .def_readonly("tokens", &S::tokens, "labelled tokens")
      .def_readonly("seq_tokens", &S::seq_tokens, "all (unpadded) tokens")
      .def_readonly("seconds", &S::seconds)
      .def_readonly("eval_loss", &S::eval_loss)
      .def_readonly("eval_accuracy", &S::eval_accuracy);

  using E = nn::EvalOutcome;
  py::class_<E>(m, "EvalOutcome")
      .def_readonly("step", &E::step)
      .def_readonly("loss", &E::loss)
      .def_readonly("token_accuracy", &E::token_accuracy)
      .def_readonly("metric", &E::metric, "the best-model metric's value");

  using T = nn::TrainOutcome;
  py::class_<T>(m, "TrainOutcome", "What LoraModel.train returns (nn::TrainOutcome).")
      .def_readonly("history", &T::history)
      .def_readonly("evals", &T::evals)
      .def_readonly("best_step", &T::best_step, "0: no evaluation")
      .def_readonly("best_metric", &T::best_metric, "meaningful when best_step > 0")
      .def_readonly("best_restored", &T::best_restored)
      .def_readonly("best_adapter", &T::best_adapter)
      .def_readonly("steps_done", &T::steps_done)
      .def_readonly("total_steps", &T::total_steps)
      .def_readonly("stop_reason", &T::stop_reason, "completed | early_stopping | callback | nan_loss")
      .def_readonly("message", &T::message)
      .def_readonly("last_checkpoint", &T::last_checkpoint)
      .def_readonly("train_seconds", &T::train_seconds)
      .def_readonly("train_tokens", &T::train_tokens)
      .def_readonly("seq_tokens", &T::seq_tokens);
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

  bind_training(m);
  bind_model_types(m);
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
      .def_property_readonly("config", [](const nn::Decoder& d) { return d.config(); })
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
             return ModelMemory{dense, quant, l.num_trainable()};
           })
      .def_property_readonly("config", [](const nn::LoraModel& l) { return l.base().config(); })
      .def_property_readonly("num_trainable", &nn::LoraModel::num_trainable)
      .def_property_readonly("modules",
                             [](const nn::LoraModel& l) {
                               std::vector<std::string> out;
                               for (const auto& a : l.adapters()) out.push_back(a.module);
                               return out;
                             })
      .def("state_dict",
           [](const nn::LoraModel& l) {
             TensorDict d;
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
        return q;
      },
      py::arg("weight"), py::arg("kind"), py::arg("block_size") = 64, py::arg("double_quant") = false,
      "Quantizes a 2-D weight (nn/quantized.h); returns its codes and scales.");
  m.def(
      "dequantize_weight",
      [](const nn::QuantizedTensor& t, const std::string& dtype, bool reference) {
        t.validate("quantized weight");
        auto dt = parse_dtype(dtype);
        py::gil_scoped_release release;
        return reference ? nn::dequantize_reference(t, dt, 0, t.rows) : nn::dequantize(t, dt);
      },
      py::arg("quantized"), py::arg("dtype") = "float32", py::arg("reference") = false,
      "The dequantized weight of quantize_weight's result (reference=True: the ATen-ops path of non-CPU devices).");
  m.def(
      "quantized_matmul",
      [](const torch::Tensor& x, const nn::QuantizedTensor& q) {
        q.validate("quantized weight");
        auto m = std::make_shared<const nn::QuantizedMatrix>(std::vector<nn::QuantizedTensor>{q});
        py::gil_scoped_release release;
        return nn::quantized_linear(x, m, torch::Tensor());
      },
      py::arg("x"), py::arg("quantized"), "x W^T with W dequantized panel by panel (differentiable in x).");
  m.def("best_metric_names", &nn::best_metric_names);
  m.def(
      "causal_attention",
      [](const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale) {
        if (!nn::causal_attention_applies(q, k, v))
          throw InvalidArgument(
              "causal_attention: needs CPU float32 or bf16 q [b, nh, s, d], k and v [b, nkv, s, d] "
              "(nh a multiple of nkv, d even, at most 256) and a CPU with the kernel");
        py::gil_scoped_release release;
        return nn::causal_attention(q, k, v, scale);
      },
      py::arg("q"), py::arg("k"), py::arg("v"), py::arg("scale"),
      "softmax(scale q k^T, causal) v through the brgemm kernel the decoder uses on the CPU (nn/causal_attention.h); "
      "differentiable in q, k and v.");
  m.def("causal_attention_applies", &nn::causal_attention_applies, py::arg("q"), py::arg("k"), py::arg("v"),
        "Whether the decoder's CPU attention kernel runs on these inputs (else scaled_dot_product_attention).");
  m.def("set_causal_attention_enabled", &nn::set_causal_attention_enabled, py::arg("on"),
        "Switches the decoder's CPU attention kernel off or on (paired benchmarks, tests); returns the previous "
        "setting.");
}
