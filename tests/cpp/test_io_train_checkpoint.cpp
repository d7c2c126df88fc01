// The torch-free checkpoint reader: manifest parsing and validation, the resume check, file
// digests, and the trainer / optimizer state decoders, on hand-made checkpoints (the crafted cases
// of issue 11: steps out of range, a history longer than the checkpoint, flipped bits).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/sha256.h"
#include "io/safetensors_header.h"
#include "io/train_checkpoint.h"
#include "io/whole_file.h"

namespace fs = std::filesystem;
using namespace airtune::io;
using airtune::FormatError;
using airtune::InvalidArgument;

namespace {

CheckpointManifest sample_manifest() {
  CheckpointManifest m;
  m.step = 4;
  m.total_steps = 7;
  m.best_metric = 1.25;
  m.best_step = 2;
  m.bad_evals = 1;
  m.n_evals = 2;
  m.fingerprint = {{"learning_rate", "0.0050000000000000001"}, {"r", "4"}, {"train_data_sha256", "ab"}};
  for (auto name : kCheckpointFiles) m.files[std::string(name)] = {3, airtune::core::sha256_hex("abc")};
  m.files[std::string(kBestAdapterFile)] = {3, airtune::core::sha256_hex("abc")};
  return m;
}

CheckpointManifest parse(const std::string& text) {
  return parse_checkpoint_manifest(reinterpret_cast<const uint8_t*>(text.data()), text.size(), "ckpt/manifest.json");
}

// The manifest text with `from` replaced by `to` (once; the test fails when `from` is absent).
std::string edited(const std::string& from, const std::string& to) {
  std::string text = serialize_checkpoint_manifest(sample_manifest());
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

void expect_manifest_error(const std::string& text, const std::string& needle) {
  try {
    parse(text);
    FAIL() << "accepted; expected an error mentioning " << needle;
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ckpt/manifest.json"), std::string::npos) << e.what();
  }
}

// Bytes of a safetensors file holding `tensors` (name, dtype, shape, raw little-endian data).
struct RawTensor {
  std::string name;
  SafetensorsDtype dtype;
  std::vector<int64_t> shape;
  std::string data;
};

std::string safetensors_bytes(const std::vector<RawTensor>& tensors) {
  std::vector<SafetensorsEntry> entries;
  for (const auto& t : tensors) entries.push_back({t.name, t.dtype, t.shape});
  auto header = plan_safetensors_layout(entries, {});
  std::string out = serialize_safetensors_header(header);
  for (const auto& info : header.tensors)
    for (const auto& t : tensors)
      if (t.name == info.name) out += t.data;
  return out;
}

template <typename T>
std::string raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// A history consistent with sample_manifest(): 4 steps of a 7-step run, evals after steps 2 and 4.
std::vector<double> sample_history() {
  std::vector<double> h;
  for (int i = 0; i < 4; ++i) {
    const double eval = i == 1 ? 1.25 : (i == 3 ? 1.5 : -1.0);
    const double row[kTrainStepColumns] = {double(i + 1), 7,    double(i / 3),        2.0 - 0.1 * i, 1e-3, 0.5, 10, 20,
                                           0.01,          eval, eval < 0 ? -1.0 : 0.5};
    h.insert(h.end(), row, row + kTrainStepColumns);
  }
  return h;
}

std::string trainer_state(const std::vector<double>& history, int64_t rows, const std::vector<double>& evals,
                          int64_t eval_rows, std::string rng = std::string(16, '\x07')) {
  return safetensors_bytes({{"history", SafetensorsDtype::kF64, {rows, kTrainStepColumns}, raw(history)},
                            {"evals", SafetensorsDtype::kF64, {eval_rows, 3}, raw(evals)},
                            {"cpu_rng_state", SafetensorsDtype::kU8, {int64_t(rng.size())}, rng}});
}

TrainerState decode(const std::string& bytes, const CheckpointManifest& m) {
  return decode_trainer_state(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), m, "ckpt/state");
}

void expect_state_error(const std::string& bytes, const CheckpointManifest& m, const std::string& needle) {
  try {
    decode(bytes, m);
    FAIL() << "accepted; expected an error mentioning " << needle;
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ckpt/state"), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(IoTrainCheckpoint, ManifestRoundTrips) {
  const auto m = sample_manifest();
  const auto back = parse(serialize_checkpoint_manifest(m));
  EXPECT_EQ(back.step, 4);
  EXPECT_EQ(back.total_steps, 7);
  EXPECT_EQ(back.best_metric, 1.25);
  EXPECT_EQ(back.best_step, 2);
  EXPECT_EQ(back.bad_evals, 1);
  EXPECT_EQ(back.n_evals, 2);
  EXPECT_EQ(back.fingerprint, m.fingerprint);
  EXPECT_EQ(back.files.size(), kCheckpointFiles.size() + 1);  // the best adapter too
  auto none = m;
  none.n_evals = 0;
  none.bad_evals = 0;
  none.best_step = 0;
  none.files.erase(std::string(kBestAdapterFile));
  const auto text = serialize_checkpoint_manifest(none);
  EXPECT_NE(text.find("\"best_metric\": null"), std::string::npos) << text;
  EXPECT_EQ(parse(text).best_step, 0);
}

TEST(IoTrainCheckpoint, ManifestFieldsAreValidated) {
  expect_manifest_error(edited("\"step\": 4", "\"step\": -5"), "'step' = -5 is out of range");
  expect_manifest_error(edited("\"step\": 4", "\"step\": 0"), "'step' = 0");
  expect_manifest_error(edited("\"step\": 4", "\"step\": 999999"), "'step' = 999999 is out of range [1, 7]");
  expect_manifest_error(edited("\"step\": 4", "\"step\": 1e9"), "'step' must be an integer");
  expect_manifest_error(edited("\"step\": 4", "\"step\": \"4\""), "'step' must be an integer");
  expect_manifest_error(edited("\"n_evals\": 2", "\"n_evals\": 5"), "'n_evals' = 5");
  expect_manifest_error(edited("\"bad_evals\": 1", "\"bad_evals\": 3"), "'bad_evals' = 3");
  expect_manifest_error(edited("\"total_steps\": 7", "\"total_steps\": 0"), "'total_steps' = 0");
  expect_manifest_error(edited("\"best_metric\": 1.25", "\"best_metric\": null"), "'best_metric' must be null exactly");
  expect_manifest_error(edited("\"best_metric\": 1.25", "\"best_metric\": \"x\""), "'best_metric' must be a finite");
  expect_manifest_error(edited("\"best_step\": 2", "\"best_step\": 5"), "'best_step' = 5");
  expect_manifest_error(edited("\"best_step\": 2", "\"best_step\": 0"), "'best_metric' must be null exactly");
  expect_manifest_error(edited("\"step\": 4", "\"step\": 4, \"n_history\": 1000000000"), "unknown key 'n_history'");
  expect_manifest_error(edited("\"step\": 4", "\"step\": 4, \"step\": 4"), "'step' appears twice");
  expect_manifest_error(edited("\"step\": 4,", ""), "missing key 'step'");
  expect_manifest_error(edited("airtune.lora_checkpoint", "other"), "not an airtune training checkpoint");
  expect_manifest_error(edited("\"version\": 3", "\"version\": 2"), "version 2 is not supported");
  expect_manifest_error(edited("\"r\": \"4\"", "\"r\": 4"), "fingerprint 'r' is not a string");
  expect_manifest_error(edited("\"optimizer.safetensors\"", "\"../optimizer.safetensors\""), "not a checkpoint file");
  expect_manifest_error(edited(airtune::core::sha256_hex("abc"), "00"), "64 lowercase hex digits");
  expect_manifest_error(edited(", \"sha256\"", ", \"size\": 1, \"sha256\""), "and nothing else");
  expect_manifest_error("[1, 2]", "not a JSON object");
  expect_manifest_error("{\"format\": ", "not valid JSON");
  expect_manifest_error(std::string(kMaxManifestBytes + 1, ' '), "more than a manifest may hold");
  auto no_file = sample_manifest();
  no_file.files.erase("optimizer.safetensors");
  expect_manifest_error(serialize_checkpoint_manifest(no_file), "does not list 'optimizer.safetensors'");
  auto no_best = sample_manifest();
  no_best.files.erase(std::string(kBestAdapterFile));
  expect_manifest_error(serialize_checkpoint_manifest(no_best), "does not list 'best_adapter.safetensors'");
  auto stray_best = sample_manifest();
  stray_best.best_step = 0;
  stray_best.n_evals = 0;
  stray_best.bad_evals = 0;
  expect_manifest_error(serialize_checkpoint_manifest(stray_best), "'best_adapter.safetensors', which is not");
  auto no_evals = sample_manifest();
  no_evals.n_evals = 0;
  no_evals.bad_evals = 0;
  expect_manifest_error(serialize_checkpoint_manifest(no_evals), "'best_metric' is set but 'n_evals' is 0");
}

TEST(IoTrainCheckpoint, ResumeNamesTheSettingThatDiffers) {
  const auto m = sample_manifest();
  EXPECT_NO_THROW(check_resume(m, m.fingerprint, 7, "resume_from: ckpt"));
  auto expect_differs = [&](std::map<std::string, std::string> fp, int64_t total, const std::string& needle) {
    try {
      check_resume(m, fp, total, "resume_from: ckpt");
      FAIL() << "resumed; expected " << needle;
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("resume_from: ckpt"), std::string::npos) << e.what();
    }
  };
  auto fp = m.fingerprint;
  fp["learning_rate"] = "0.001";
  expect_differs(fp, 7, "learning_rate = 0.0050000000000000001 but this run has learning_rate = 0.001");
  fp = m.fingerprint;
  fp["train_data_sha256"] = "cd";
  expect_differs(fp, 7, "train_data_sha256 = ab");
  expect_differs(m.fingerprint, 9, "total_steps = 7 but this run has total_steps = 9");
  fp = m.fingerprint;
  fp["lora_alpha"] = "8";
  expect_differs(fp, 7, "lora_alpha = (not recorded)");
  fp = m.fingerprint;
  fp.erase("r");
  expect_differs(fp, 7, "r = 4 but this run has r = (not a setting");
}

TEST(IoTrainCheckpoint, FilesAreCheckedBeforeUse) {
  const auto dir = fs::temp_directory_path() / ("airtune_ckpt_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  CheckpointManifest m = sample_manifest();
  std::vector<std::string_view> names(kCheckpointFiles.begin(), kCheckpointFiles.end());
  names.push_back(kBestAdapterFile);
  for (auto name : names) {
    const std::string body = "contents of " + std::string(name);
    std::ofstream(dir / name, std::ios::binary) << body;
    m.files[std::string(name)] = {body.size(), airtune::core::sha256_hex(body)};
  }
  auto files = read_checkpoint_files(dir.string(), m);
  ASSERT_EQ(files.size(), kCheckpointFiles.size() + 1);
  EXPECT_EQ(std::string(files.at("optimizer.safetensors").data(), files.at("optimizer.safetensors").size()),
            "contents of optimizer.safetensors");

  auto expect_error = [&](const std::string& needle) {
    try {
      read_checkpoint_files(dir.string(), m);
      FAIL() << "accepted; expected " << needle;
    } catch (const airtune::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  std::string flipped = "contents of optimizer.safetensors";
  flipped[3] ^= 0x04;  // one bit
  std::ofstream(dir / "optimizer.safetensors", std::ios::binary) << flipped;
  expect_error("optimizer.safetensors: SHA-256");
  std::ofstream(dir / "optimizer.safetensors", std::ios::binary) << "short";
  expect_error("optimizer.safetensors: 5 bytes but the checkpoint manifest records 33");
  fs::remove(dir / "optimizer.safetensors");
  expect_error("optimizer.safetensors: cannot open");
  fs::remove_all(dir);
}

TEST(IoTrainCheckpoint, TrainerStateDecodesAndValidates) {
  const auto m = sample_manifest();
  const std::vector<double> evals = {2, 1.25, 1.25, 4, 1.5, 1.5};
  const auto s = decode(trainer_state(sample_history(), 4, evals, 2), m);
  ASSERT_EQ(s.history.size(), 4u);
  EXPECT_EQ(s.history[3].step, 4);
  EXPECT_EQ(s.history[3].total_steps, 7);
  EXPECT_DOUBLE_EQ(s.history[2].loss, 1.8);
  EXPECT_EQ(s.history[1].eval_loss, 1.25);
  ASSERT_EQ(s.evals.size(), 2u);
  EXPECT_EQ(s.evals[1].step, 4);
  EXPECT_EQ(s.evals[1].metric, 1.5);
  EXPECT_EQ(s.history[1].eval_accuracy, 0.5);
  EXPECT_EQ(s.cpu_rng_state.size(), 16u);

  // A history of 100 rows where the manifest says 4 steps (the 'n_history = 100' case).
  std::vector<double> long_history = sample_history();
  long_history.resize(100 * kTrainStepColumns, 1.0);
  expect_state_error(trainer_state(long_history, 100, evals, 2), m,
                     "tensor 'history' is F64 [100, 11], expected F64 [4, 11]");
  auto bad = [&](int row, int col, double v) {
    auto h = sample_history();
    h[row * kTrainStepColumns + col] = v;
    return trainer_state(h, 4, evals, 2);
  };
  expect_state_error(bad(2, 0, 7), m, "history row 2 column 'step' = 7: expected 3");
  expect_state_error(bad(1, 3, NAN), m, "column 'loss' = nan");
  expect_state_error(bad(1, 6, 1e300), m, "column 'tokens' = 1.0000000000000001e+300: not a count");
  expect_state_error(bad(1, 6, 2.5), m, "column 'tokens' = 2.5: not a count");
  expect_state_error(bad(0, 1, 8), m, "column 'total_steps' = 8");
  expect_state_error(bad(0, 9, 0.5), m, "column 'eval_accuracy' = -1: not a share in [0, 1]");
  auto three_evals = sample_history();
  three_evals[9] = 0.5;
  three_evals[10] = 0.25;
  expect_state_error(trainer_state(three_evals, 4, evals, 2), m, "records 3 evaluations but 'n_evals' is 2");
  expect_state_error(bad(0, 10, 0.5), m, "column 'eval_accuracy' = 0.5: set without an evaluation");
  expect_state_error(bad(1, 10, 2.0), m, "column 'eval_accuracy' = 2: not a share in [0, 1]");
  expect_state_error(trainer_state(sample_history(), 4, {2, 1.25, 1.25, 4, 1.75, 1.5}, 2), m,
                     "evals row 1: loss 1.75 differs");
  expect_state_error(trainer_state(sample_history(), 4, {4, 1.5, 1.5, 2, 1.25, 1.25}, 2), m,
                     "evals row 1: steps do not increase");
  expect_state_error(trainer_state(sample_history(), 4, {2, 1.25, 1.25, 9, 1.5, 1.5}, 2), m, "step 9 is not a step");
  expect_state_error(trainer_state(sample_history(), 4, {2, 1.25, 1.0, 4, 1.5, 1.5}, 2), m,
                     "metric 1 at the best step differs from 'best_metric' 1.25");
  expect_state_error(trainer_state(sample_history(), 4, {2, 1.25, 1.25, 4, 1.5, NAN}, 2), m, "is not finite");
  expect_state_error(trainer_state(sample_history(), 4, evals, 2, ""), m, "cpu_rng_state");
  auto other_best = m;
  other_best.best_step = 3;
  expect_state_error(trainer_state(sample_history(), 4, evals, 2), other_best, "'best_step' 3 is not the step of an");
  expect_state_error("garbage", m, "too short");
}

TEST(IoTrainCheckpoint, OptimizerStateIsValidated) {
  const std::vector<ParamSpec> params = {{"w.lora_A.weight", {2, 3}}, {"w.lora_B.weight", {3, 2}}};
  auto tensors = [&](float first, int64_t step_b) {
    std::vector<RawTensor> t;
    for (const auto& p : params) {
      std::vector<float> m1(6, 0.5f), m2(6, 0.25f);
      if (p.name == params[0].name) m1[0] = first;
      t.push_back({optimizer_tensor_name(p.name, "exp_avg"), SafetensorsDtype::kF32, p.shape, raw(m1)});
      t.push_back({optimizer_tensor_name(p.name, "exp_avg_sq"), SafetensorsDtype::kF32, p.shape, raw(m2)});
      const std::vector<int64_t> step = {p.name == params[1].name ? step_b : 4};
      t.push_back({optimizer_tensor_name(p.name, "step"), SafetensorsDtype::kI64, {}, raw(step)});
    }
    return t;
  };
  auto validate = [&](const std::string& bytes) {
    return validate_optimizer_state(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), params, 4, "opt");
  };
  EXPECT_EQ(validate(safetensors_bytes(tensors(0.5f, 0))), (std::vector<int64_t>{4, 0}));
  auto expect_error = [&](const std::vector<RawTensor>& t, const std::string& needle) {
    try {
      validate(safetensors_bytes(t));
      FAIL() << "accepted; expected " << needle;
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(tensors(NAN, 4), "'w.lora_A.weight.exp_avg' element 0 = nan is not finite");
  expect_error(tensors(0.5f, 5), "'w.lora_B.weight.step' = 5 is out of range [0, 4]");
  expect_error(tensors(0.5f, -1), "'w.lora_B.weight.step' = -1");
  auto t = tensors(0.5f, 4);
  t.pop_back();
  expect_error(t, "holds 5 tensors, expected 6");
  t = tensors(0.5f, 4);
  t[1].data = raw(std::vector<float>(6, -1.0f));
  expect_error(t, "'w.lora_A.weight.exp_avg_sq' element 0 = -1 is not a finite value >= 0");
  t = tensors(0.5f, 4);
  t[0].shape = {3, 2};
  expect_error(t, "'w.lora_A.weight.exp_avg' is F32 [3, 2], expected F32 [2, 3]");
}

TEST(IoWholeFile, RefusesWhatIsNotARegularFile) {
  const auto dir = fs::temp_directory_path() / ("airtune_wf_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto fifo = (dir / "fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THROW(read_whole_file(fifo), airtune::IoError);  // and does not wait for a writer
  EXPECT_THROW(read_whole_file(dir.string()), airtune::IoError);
  std::ofstream(dir / "f", std::ios::binary) << "12345";
  EXPECT_EQ(read_whole_file((dir / "f").string()).size(), 5u);
  EXPECT_THROW(read_whole_file((dir / "f").string(), 4), airtune::IoError);
  fs::remove_all(dir);
}
