"""The CUDA code paths against the CPU ones (decoder logits and generation, the LoRA trainer in bf16,
exact kNN through torch). Marked ``cuda``: skipped where torch sees no CUDA device; run on a GPU
machine by ``scripts/gpu_check.sh`` (``pytest -m cuda``)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("airtune._nn")

import airtune.nn as ann  # noqa: E402
from airtune import dedup  # noqa: E402
from airtune.train import LoraConfig, train_lora  # noqa: E402
from tiny_models import VOCAB, tiny_causal_lm, write_tokenizer  # noqa: E402

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA device"),
]


def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, VOCAB, (3, 19), generator=g)
    mask = torch.ones_like(ids)
    mask[1, :5] = 0  # left padding
    mask[2, :11] = 0
    return ids, mask


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cuda-base")
    tiny_causal_lm(folder, "llama", 0, weight_scale=0.1, norm_scale=0.1)
    write_tokenizer(folder)
    return folder


def test_decoder_logits_on_cuda_equal_cpu(base):
    ids, mask = _batch()
    cpu = ann.load_model(base, dtype="float32", device="cpu").logits(ids, mask)
    gpu = ann.load_model(base, dtype="float32", device="cuda").logits(ids, mask).float().cpu()
    real = mask.bool()
    assert cpu[real].abs().max() > 0.1
    assert (gpu - cpu)[real].abs().max().item() < 1e-3  # TF32 off: fp32 kernels differ by rounding only
    bf16 = ann.load_model(base, dtype="bfloat16", device="cuda").logits(ids, mask).float().cpu()
    assert (bf16 - cpu)[real].abs().max().item() < 0.1 * cpu[real].abs().max().item()


def test_greedy_generation_on_cuda_equals_cpu(base):
    ids, mask = _batch(2)
    rows = [ids[i][mask[i].bool()].tolist() for i in range(ids.shape[0])]
    cpu = ann.load_model(base, dtype="float32", device="cpu").generate(rows, max_new_tokens=12)
    gpu = ann.load_model(base, dtype="float32", device="cuda").generate(rows, max_new_tokens=12)
    assert gpu.token_ids == cpu.token_ids
    assert gpu.finish_reasons == cpu.finish_reasons


def test_lora_bf16_on_cuda_tracks_fp32_cpu(base, tmp_path):
    rows = [
        {"prompt": f"hello world {i}", "completion": "the quick brown fox " * (1 + i % 3)} for i in range(8)
    ]
    common = dict(
        r=4, lora_alpha=8, target_modules="all-linear", learning_rate=3e-3, max_steps=12, batch_size=4
    )
    cpu = train_lora(
        base,
        rows,
        config=LoraConfig(dtype="float32", device="cpu", **common),
        output_dir=tmp_path / "cpu",
        show_progress=False,
    )
    gpu = train_lora(
        base,
        rows,
        config=LoraConfig(dtype="bfloat16", device="cuda", **common),
        output_dir=tmp_path / "gpu",
        show_progress=False,
    )
    assert len(gpu.train_loss) == len(cpu.train_loss) == 12
    assert all(np.isfinite(gpu.train_loss))
    assert gpu.train_loss[-1] < gpu.train_loss[0] - 0.05  # it learns in bf16 on the GPU
    # bf16 rounding only: the same curve within a few hundredths
    assert max(abs(a - b) for a, b in zip(gpu.train_loss, cpu.train_loss)) < 0.05 * max(cpu.train_loss)
    assert (tmp_path / "gpu" / "adapter_model.safetensors").is_file()


def test_semantic_duplicates_on_cuda_equal_cpu():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 64)).astype(np.float32)
    x[1::7] = x[0::7][: len(x[1::7])] + 0.05 * rng.standard_normal((len(x[1::7]), 64)).astype(np.float32)
    x[2000:2040] = x[5]  # exact copies cut a candidate list inside a tie
    gpu = dedup.semantic_duplicates(x, 0.95, k=8, index="flat", device="cuda")
    cpu = dedup.semantic_duplicates(x, 0.95, k=8, index="flat", device="cpu")
    assert gpu.device == "cuda"
    np.testing.assert_array_equal(gpu.knn_ids, cpu.knn_ids)
    np.testing.assert_array_equal(gpu.knn_sim, cpu.knn_sim)  # exact rescoring on the CPU: same bits
    np.testing.assert_array_equal(gpu.pairs_a, cpu.pairs_a)
    np.testing.assert_array_equal(gpu.pairs_b, cpu.pairs_b)
