#include "io/train_checkpoint.h"

#include <simdjson.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include "core/errors.h"
#include "core/sha256.h"
#include "io/json_text.h"
#include "io/safetensors_header.h"
#include "io/whole_file.h"

namespace airtune::io {

namespace {

[[noreturn]] void fail(std::string_view source, const std::string& what) {
  throw FormatError(std::string(source) + ": " + what);
}

std::string fmt_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// Largest integer a double holds exactly; counts stored as F64 must be integral and within it.
constexpr double kMaxExactInteger = 9007199254740992.0;  // 2^53

// A JSON value as it appears in the file, cut short for an error message.
std::string shown(simdjson::dom::element v) {
  std::string s = simdjson::minify(v);
  return s.size() > 64 ? s.substr(0, 61) + "..." : s;
}

int64_t get_int(simdjson::dom::element v, std::string_view source, std::string_view key, int64_t lo, int64_t hi) {
  int64_t out = 0;
  if (v.get_int64().get(out)) fail(source, "'" + std::string(key) + "' must be an integer, got " + shown(v));
  if (out < lo || out > hi)
    fail(source, "'" + std::string(key) + "' = " + std::to_string(out) + " is out of range [" + std::to_string(lo) +
                     ", " + std::to_string(hi) + "]");
  return out;
}

const char* const kTopKeys[] = {"format",    "version",   "step",    "total_steps", "best_metric",
                                "best_step", "bad_evals", "n_evals", "fingerprint", "files"};

}  // namespace

std::string serialize_checkpoint_manifest(const CheckpointManifest& m) {
  std::string j = "{\n  \"format\": ";
  append_json_string(j, kCheckpointFormat);
  j += ",\n  \"version\": " + std::to_string(kCheckpointVersion);
  j += ",\n  \"step\": " + std::to_string(m.step);
  j += ",\n  \"total_steps\": " + std::to_string(m.total_steps);
  j += ",\n  \"best_metric\": " + (m.best_step > 0 ? fmt_double(m.best_metric) : std::string("null"));
  j += ",\n  \"best_step\": " + std::to_string(m.best_step);
  j += ",\n  \"bad_evals\": " + std::to_string(m.bad_evals);
  j += ",\n  \"n_evals\": " + std::to_string(m.n_evals);
  j += ",\n  \"fingerprint\": {";
  bool first = true;
  for (const auto& [k, v] : m.fingerprint) {
    j += first ? "\n    " : ",\n    ";
    first = false;
    append_json_string(j, k);
    j += ": ";
    append_json_string(j, v);
  }
  j += "\n  },\n  \"files\": {";
  first = true;
  for (const auto& [name, f] : m.files) {
    j += first ? "\n    " : ",\n    ";
    first = false;
    append_json_string(j, name);
    j += ": {\"bytes\": " + std::to_string(f.bytes) + ", \"sha256\": ";
    append_json_string(j, f.sha256);
    j += "}";
  }
  j += "\n  }\n}\n";
  return j;
}

CheckpointManifest parse_checkpoint_manifest(const uint8_t* data, size_t size, std::string_view source) {
  if (size > kMaxManifestBytes)
    fail(source,
         std::to_string(size) + " bytes, more than a manifest may hold (" + std::to_string(kMaxManifestBytes) + ")");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::padded_string json(reinterpret_cast<const char*>(data), size);
  if (auto err = parser.parse(json).get(root))
    fail(source, std::string("not valid JSON: ") + simdjson::error_message(err));
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) fail(source, "not a JSON object");

  std::map<std::string_view, simdjson::dom::element> fields;
  for (auto field : obj) {
    bool known = false;
    for (const char* k : kTopKeys) known = known || field.key == k;
    if (!known) fail(source, "unknown key '" + std::string(field.key) + "'");
    if (!fields.emplace(field.key, field.value).second)
      fail(source, "key '" + std::string(field.key) + "' appears twice");
  }
  for (const char* k : kTopKeys)
    if (!fields.count(k)) fail(source, "missing key '" + std::string(k) + "'");

  std::string_view format;
  if (fields["format"].get_string().get(format) || format != kCheckpointFormat)
    fail(source, "'format' is not \"" + std::string(kCheckpointFormat) + "\": not an airtune training checkpoint");
  int64_t version = 0;
  if (fields["version"].get_int64().get(version) || version != kCheckpointVersion)
    fail(source, "checkpoint version " + shown(fields["version"]) + " is not supported (this airtune reads version " +
                     std::to_string(kCheckpointVersion) + ")");

  constexpr int64_t kMax = static_cast<int64_t>(kMaxExactInteger);
  CheckpointManifest m;
  m.total_steps = get_int(fields["total_steps"], source, "total_steps", 1, kMax);
  m.step = get_int(fields["step"], source, "step", 1, m.total_steps);
  m.n_evals = get_int(fields["n_evals"], source, "n_evals", 0, m.step);
  m.bad_evals = get_int(fields["bad_evals"], source, "bad_evals", 0, m.n_evals);
  m.best_step = get_int(fields["best_step"], source, "best_step", 0, m.step);
  auto best = fields["best_metric"];
  if (best.is_null() != (m.best_step == 0))
    fail(source, "'best_metric' must be null exactly when 'best_step' is 0 (got " + shown(best) + " at step " +
                     std::to_string(m.best_step) + ")");
  if (m.best_step > 0) {
    double v = 0;
    if (best.get_double().get(v) || !std::isfinite(v))
      fail(source, "'best_metric' must be a finite number, got " + shown(best));
    if (m.n_evals == 0) fail(source, "'best_metric' is set but 'n_evals' is 0");
    m.best_metric = v;
  }

  simdjson::dom::object fp;
  if (fields["fingerprint"].get_object().get(fp)) fail(source, "'fingerprint' is not an object of strings");
  for (auto kv : fp) {
    std::string_view value;
    if (kv.value.get_string().get(value)) fail(source, "fingerprint '" + std::string(kv.key) + "' is not a string");
    if (kv.key.empty() || kv.key.size() > kMaxFingerprintText || value.size() > kMaxFingerprintText)
      fail(source, "fingerprint entry '" + std::string(kv.key.substr(0, 64)) + "' is empty or too long");
    if (!m.fingerprint.emplace(std::string(kv.key), std::string(value)).second)
      fail(source, "fingerprint '" + std::string(kv.key) + "' appears twice");
    if (m.fingerprint.size() > kMaxFingerprintEntries)
      fail(source, "'fingerprint' holds more than " + std::to_string(kMaxFingerprintEntries) + " settings");
  }

  simdjson::dom::object files;
  if (fields["files"].get_object().get(files)) fail(source, "'files' is not an object");
  for (auto kv : files) {
    bool known = kv.key == kBestAdapterFile && m.best_step > 0;
    for (auto name : kCheckpointFiles) known = known || kv.key == name;
    if (!known) fail(source, "'files' lists '" + std::string(kv.key) + "', which is not a checkpoint file");
    simdjson::dom::object entry;
    if (kv.value.get_object().get(entry)) fail(source, "files['" + std::string(kv.key) + "'] is not an object");
    CheckpointFileEntry e;
    size_t n_keys = 0;
    bool have_bytes = false, have_sha = false;
    for (auto f : entry) {
      ++n_keys;
      if (f.key == "bytes") {
        have_bytes = !f.value.get_uint64().get(e.bytes);
      } else if (f.key == "sha256") {
        std::string_view hex;
        have_sha = !f.value.get_string().get(hex) && core::is_sha256_hex(hex);
        e.sha256 = std::string(hex);
      }
    }
    if (!have_bytes || !have_sha || n_keys != 2)
      fail(source, "files['" + std::string(kv.key) +
                       "'] must be {\"bytes\": <size>, \"sha256\": <64 lowercase hex digits>} and nothing else");
    if (!m.files.emplace(std::string(kv.key), std::move(e)).second)
      fail(source, "'files' lists '" + std::string(kv.key) + "' twice");
  }
  for (auto name : kCheckpointFiles)
    if (!m.files.count(std::string(name))) fail(source, "'files' does not list '" + std::string(name) + "'");
  if (m.best_step > 0 && !m.files.count(std::string(kBestAdapterFile)))
    fail(source, "'files' does not list '" + std::string(kBestAdapterFile) + "' although 'best_step' is " +
                     std::to_string(m.best_step));
  return m;
}

void check_resume(const CheckpointManifest& m, const std::map<std::string, std::string>& run_fingerprint,
                  int64_t run_total_steps, std::string_view source) {
  auto differs = [&](const std::string& key, const std::string& theirs, const std::string& ours) {
    return InvalidArgument(std::string(source) + ": the checkpoint was written with " + key + " = " + theirs +
                           " but this run has " + key + " = " + ours +
                           " (a run resumes only with the same data, model and training settings)");
  };
  for (const auto& [k, v] : run_fingerprint) {
    auto it = m.fingerprint.find(k);
    if (it == m.fingerprint.end()) throw differs(k, "(not recorded)", v);
    if (it->second != v) throw differs(k, it->second, v);
  }
  for (const auto& [k, v] : m.fingerprint)
    if (!run_fingerprint.count(k)) throw differs(k, v, "(not a setting of this airtune)");
  // Last: the step count follows from the settings above, which name the cause better.
  if (m.total_steps != run_total_steps)
    throw differs("total_steps", std::to_string(m.total_steps), std::to_string(run_total_steps));
}

std::map<std::string, core::ByteBuffer> read_checkpoint_files(const std::string& dir, const CheckpointManifest& m) {
  std::map<std::string, core::ByteBuffer> out;
  for (const auto& [name, entry] : m.files) {
    const std::string path = (std::filesystem::path(dir) / name).string();
    const uint64_t size = regular_file_size(path);
    if (size != entry.bytes)
      throw FormatError(path + ": " + std::to_string(size) + " bytes but the checkpoint manifest records " +
                        std::to_string(entry.bytes) + ": the file is truncated or was changed");
    auto bytes = read_whole_file(path, entry.bytes);
    const std::string digest = core::sha256_hex(bytes.data(), bytes.size());
    if (digest != entry.sha256)
      throw FormatError(path + ": SHA-256 " + digest + " differs from the " + entry.sha256 +
                        " the checkpoint manifest records: the file is corrupt or was changed");
    out.emplace(name, std::move(bytes));
  }
  return out;
}

namespace {

const SafetensorsTensorInfo& expect_tensor(const SafetensorsHeader& h, std::string_view source, const std::string& name,
                                           SafetensorsDtype dtype, const std::vector<int64_t>& shape) {
  const int64_t i = h.find(name);
  if (i < 0) fail(source, "missing tensor '" + name + "'");
  const auto& t = h.tensors[static_cast<size_t>(i)];
  if (t.dtype != dtype || t.shape != shape) {
    std::string want = std::string(dtype_name(dtype)) + " [", got = std::string(dtype_name(t.dtype)) + " [";
    for (size_t k = 0; k < shape.size(); ++k) want += (k ? ", " : "") + std::to_string(shape[k]);
    for (size_t k = 0; k < t.shape.size(); ++k) got += (k ? ", " : "") + std::to_string(t.shape[k]);
    fail(source, "tensor '" + name + "' is " + got + "], expected " + want + "]");
  }
  return t;
}

// Little-endian values of a validated tensor (memcpy: the buffer has no alignment guarantee).
template <typename T>
T value_at(const uint8_t* buffer, const SafetensorsTensorInfo& t, size_t i) {
  T v;
  std::memcpy(&v, buffer + t.begin + i * sizeof(T), sizeof(T));
  return v;
}

void exact_tensor_set(const SafetensorsHeader& h, size_t expected, std::string_view source) {
  if (h.tensors.size() != expected)
    fail(source, "holds " + std::to_string(h.tensors.size()) + " tensors, expected " + std::to_string(expected));
}

}  // namespace

TrainerState decode_trainer_state(const uint8_t* data, size_t size, const CheckpointManifest& m,
                                  std::string_view source) {
  const auto h = parse_safetensors_header(data, size, size, source);
  exact_tensor_set(h, 3, source);
  const uint8_t* buf = data + h.data_start;
  const auto& hist = expect_tensor(h, source, "history", SafetensorsDtype::kF64, {m.step, kTrainStepColumns});
  const auto& ev = expect_tensor(h, source, "evals", SafetensorsDtype::kF64, {m.n_evals, 3});
  const int64_t rng_i = h.find("cpu_rng_state");
  if (rng_i < 0) fail(source, "missing tensor 'cpu_rng_state'");
  const auto& rng = h.tensors[static_cast<size_t>(rng_i)];
  if (rng.dtype != SafetensorsDtype::kU8 || rng.shape.size() != 1 || rng.byte_size() == 0 ||
      rng.byte_size() > kMaxRngStateBytes)
    fail(source, "tensor 'cpu_rng_state' must be U8 [k] with 1 <= k <= " + std::to_string(kMaxRngStateBytes));

  static constexpr const char* kColumns[kTrainStepColumns] = {"step",    "total_steps", "epoch",        "loss",
                                                              "lr",      "grad_norm",   "tokens",       "seq_tokens",
                                                              "seconds", "eval_loss",   "eval_accuracy"};
  TrainerState out;
  out.history.reserve(static_cast<size_t>(m.step));
  int64_t evals_in_history = 0;
  for (int64_t i = 0; i < m.step; ++i) {
    double row[kTrainStepColumns];
    for (int c = 0; c < kTrainStepColumns; ++c)
      row[c] = value_at<double>(buf, hist, static_cast<size_t>(i * kTrainStepColumns + c));
    auto bad = [&](int c, const std::string& why) {
      fail(source,
           "history row " + std::to_string(i) + " column '" + kColumns[c] + "' = " + fmt_double(row[c]) + ": " + why);
    };
    auto count = [&](int c) {
      if (!(std::isfinite(row[c]) && row[c] >= 0 && row[c] <= kMaxExactInteger && row[c] == std::floor(row[c])))
        bad(c, "not a count");
      return static_cast<int64_t>(row[c]);
    };
    auto nonneg = [&](int c) {
      if (!(std::isfinite(row[c]) && row[c] >= 0)) bad(c, "not a finite value >= 0");
      return row[c];
    };
    TrainStep s;
    s.step = count(0);
    if (s.step != i + 1) bad(0, "expected " + std::to_string(i + 1));
    s.total_steps = count(1);
    if (s.total_steps != m.total_steps) bad(1, "the manifest says " + std::to_string(m.total_steps));
    s.epoch = count(2);
    if (!out.history.empty() && s.epoch < out.history.back().epoch) bad(2, "epochs go backwards");
    s.loss = nonneg(3);
    s.lr = nonneg(4);
    s.grad_norm = nonneg(5);
    s.tokens = count(6);
    s.seq_tokens = count(7);
    if (s.seq_tokens < s.tokens) bad(7, "fewer than the labelled tokens");
    s.seconds = nonneg(8);
    s.eval_loss = row[9];
    s.eval_accuracy = row[10];
    if (s.eval_loss != -1.0) {
      nonneg(9);
      if (!(s.eval_accuracy >= 0 && s.eval_accuracy <= 1)) bad(10, "not a share in [0, 1]");
      ++evals_in_history;
    } else if (s.eval_accuracy != -1.0) {
      bad(10, "set without an evaluation");
    }
    out.history.push_back(s);
  }
  if (evals_in_history != m.n_evals)
    fail(source, "the history records " + std::to_string(evals_in_history) + " evaluations but 'n_evals' is " +
                     std::to_string(m.n_evals));
  bool best_seen = m.best_step == 0;
  for (int64_t i = 0; i < m.n_evals; ++i) {
    const double step = value_at<double>(buf, ev, static_cast<size_t>(3 * i));
    const double loss = value_at<double>(buf, ev, static_cast<size_t>(3 * i + 1));
    const double metric = value_at<double>(buf, ev, static_cast<size_t>(3 * i + 2));
    const std::string where = "evals row " + std::to_string(i);
    if (!(std::isfinite(step) && step >= 1 && step <= static_cast<double>(m.step) && step == std::floor(step)))
      fail(source, where + ": step " + fmt_double(step) + " is not a step of this checkpoint");
    const auto s = static_cast<int64_t>(step);
    if (!out.evals.empty() && s <= out.evals.back().step) fail(source, where + ": steps do not increase");
    if (std::memcmp(&loss, &out.history[static_cast<size_t>(s - 1)].eval_loss, sizeof loss) != 0)
      fail(source,
           where + ": loss " + fmt_double(loss) + " differs from the history's eval_loss at step " + std::to_string(s));
    if (!std::isfinite(metric)) fail(source, where + ": metric " + fmt_double(metric) + " is not finite");
    if (s == m.best_step) {
      if (std::memcmp(&metric, &m.best_metric, sizeof metric) != 0)
        fail(source, where + ": metric " + fmt_double(metric) + " at the best step differs from 'best_metric' " +
                         fmt_double(m.best_metric));
      best_seen = true;
    }
    out.evals.push_back({s, loss, metric});
  }
  if (!best_seen) fail(source, "'best_step' " + std::to_string(m.best_step) + " is not the step of an evaluation");
  out.cpu_rng_state.assign(buf + rng.begin, buf + rng.end);
  return out;
}

std::string optimizer_tensor_name(std::string_view param, std::string_view what) {
  return std::string(param) + "." + std::string(what);
}

std::vector<int64_t> validate_optimizer_state(const uint8_t* data, size_t size, const std::vector<ParamSpec>& params,
                                              int64_t max_step, std::string_view source) {
  const auto h = parse_safetensors_header(data, size, size, source);
  exact_tensor_set(h, 3 * params.size(), source);
  const uint8_t* buf = data + h.data_start;
  std::vector<int64_t> steps;
  steps.reserve(params.size());
  for (const auto& p : params) {
    const auto& st = expect_tensor(h, source, optimizer_tensor_name(p.name, "step"), SafetensorsDtype::kI64, {});
    const int64_t step = value_at<int64_t>(buf, st, 0);
    if (step < 0 || step > max_step)
      fail(source, "tensor '" + st.name + "' = " + std::to_string(step) + " is out of range [0, " +
                       std::to_string(max_step) + "]");
    for (const char* what : {"exp_avg", "exp_avg_sq"}) {
      const auto& t = expect_tensor(h, source, optimizer_tensor_name(p.name, what), SafetensorsDtype::kF32, p.shape);
      const bool square = what[7] == '_';
      const size_t n = static_cast<size_t>(t.byte_size() / 4);
      for (size_t i = 0; i < n; ++i) {
        const float v = value_at<float>(buf, t, i);
        if (!std::isfinite(v) || (square && v < 0))
          fail(source, "tensor '" + t.name + "' element " + std::to_string(i) + " = " + fmt_double(v) +
                           (square ? " is not a finite value >= 0" : " is not finite"));
      }
    }
    steps.push_back(step);
  }
  return steps;
}

}  // namespace airtune::io
