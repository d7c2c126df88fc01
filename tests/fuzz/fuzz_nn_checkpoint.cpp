// Fuzz target: the torch-free checkpoint reader (io/train_checkpoint.h). Input: a 4-byte
// little-endian length L, then L bytes of manifest.json, then the bytes of a trainer state (also
// read as an optimizer state). Every stage must either accept or throw airtune::Error; what it
// accepts must satisfy the invariants the trainer relies on, and a manifest must survive
// serialise -> parse unchanged. Never a crash, a hang or an out-of-bounds read.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/errors.h"
#include "io/train_checkpoint.h"

namespace {

using namespace airtune::io;

void check_state(const TrainerState& s, const CheckpointManifest& m) {
  if (static_cast<int64_t>(s.history.size()) != m.step) std::abort();
  if (static_cast<int64_t>(s.evals.size()) != m.n_evals) std::abort();
  for (size_t i = 0; i < s.history.size(); ++i) {
    const auto& h = s.history[i];
    if (h.step != static_cast<int64_t>(i) + 1 || h.total_steps != m.total_steps) std::abort();
    if (!std::isfinite(h.loss) || h.tokens < 0 || h.seq_tokens < h.tokens) std::abort();
  }
  for (size_t i = 0; i < s.evals.size(); ++i) {
    if (s.evals[i].step < 1 || s.evals[i].step > m.step) std::abort();
    if (i > 0 && s.evals[i].step <= s.evals[i - 1].step) std::abort();
    if (!std::isfinite(s.evals[i].metric)) std::abort();
    if (s.evals[i].step == m.best_step && s.evals[i].metric != m.best_metric) std::abort();
  }
  if (s.cpu_rng_state.empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  uint32_t len = 0;
  std::memcpy(&len, data, 4);
  const size_t manifest_len = std::min<size_t>(len, size - 4);
  const uint8_t* manifest = data + 4;
  const uint8_t* rest = manifest + manifest_len;
  const size_t rest_len = size - 4 - manifest_len;
  CheckpointManifest m;
  try {
    m = parse_checkpoint_manifest(manifest, manifest_len, "fuzz/manifest.json");
  } catch (const airtune::Error&) {
    return 0;
  }
  if (m.step < 1 || m.step > m.total_steps || m.n_evals > m.step || m.bad_evals > m.n_evals) std::abort();
  if (m.files.size() != kCheckpointFiles.size() + (m.best_step > 0 ? 1 : 0)) std::abort();
  if (m.best_step > m.step || (m.best_step > 0 && !std::isfinite(m.best_metric))) std::abort();

  const std::string text = serialize_checkpoint_manifest(m);
  const auto again = parse_checkpoint_manifest(reinterpret_cast<const uint8_t*>(text.data()), text.size(), "again");
  if (again.step != m.step || again.total_steps != m.total_steps || again.n_evals != m.n_evals ||
      again.bad_evals != m.bad_evals || again.fingerprint != m.fingerprint || again.files.size() != m.files.size())
    std::abort();
  if (again.best_step != m.best_step) std::abort();
  if (m.best_step > 0 && std::memcmp(&again.best_metric, &m.best_metric, sizeof m.best_metric) != 0) std::abort();

  check_resume(m, m.fingerprint, m.total_steps, "fuzz");  // its own settings always resume
  try {
    auto other = m.fingerprint;
    other["learning_rate"] += "0";
    check_resume(m, other, m.total_steps, "fuzz");
    std::abort();  // a differing setting must be refused
  } catch (const airtune::InvalidArgument&) {
  }

  try {
    check_state(decode_trainer_state(rest, rest_len, m, "fuzz/trainer_state.safetensors"), m);
  } catch (const airtune::Error&) {
  }
  try {
    const std::vector<ParamSpec> params = {{"a", {2, 3}}, {"b", {}}};
    auto steps = validate_optimizer_state(rest, rest_len, params, m.step, "fuzz/optimizer.safetensors");
    if (steps.size() != params.size()) std::abort();
    for (auto s : steps)
      if (s < 0 || s > m.step) std::abort();
  } catch (const airtune::Error&) {
  }
  return 0;
}
