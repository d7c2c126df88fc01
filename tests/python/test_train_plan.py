"""airtune.train.plan: the memory plan against the measured peak of our trainer on the CPU, the
largest batch per GPU, step time and cost, and the errors before a run that cannot fit."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import airtune  # noqa: E402
from airtune.cost import OneTimeCosts  # noqa: E402
from airtune.train import DEVICES, LoraConfig, ModelConfig, PlanError, TrainPlan, plan  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import plan_models  # noqa: E402

PKG = str(Path(airtune.__file__).resolve().parents[1])

MISTRAL_7B = dict(
    model_type="mistral",
    vocab_size=32000,
    hidden_size=4096,
    intermediate_size=14336,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=8,
)
LLAMA_70B = dict(
    model_type="llama",
    vocab_size=32000,
    hidden_size=8192,
    intermediate_size=28672,
    num_hidden_layers=80,
    num_attention_heads=64,
    num_key_value_heads=8,
)
LLAMA_405B = dict(
    model_type="llama",
    vocab_size=128256,
    hidden_size=16384,
    intermediate_size=53248,
    num_hidden_layers=126,
    num_attention_heads=128,
    num_key_value_heads=8,
)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("plan_models")
    return {name: plan_models.build(root, name) for name in plan_models.PLAN_MODELS}


def test_predicted_peak_within_15_percent_of_measured(models):
    """Three families (Llama, Qwen2 with biases and q/v only, Gemma with tied embeddings and MQA),
    with and without gradient checkpointing, one NF4 base, one padded case (attention mask, k/v
    repeated for grouped-query heads), one vocabulary large for the model (the fused loss's chunks),
    two bfloat16 bases: each measured in its own child process."""

    def one(case):
        name, quant, ckpt, padded, dtype = case
        r = plan_models.measure(models[name], name, quant, ckpt, pythonpath=PKG, padded=padded, dtype=dtype)
        return case, r

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(one, plan_models.CASES))
    rows = []
    for case, r in results:
        name, quant, ckpt, padded, dtype = case
        p = plan_models.predict(models[name], case)
        measured = r["measured_bytes"]
        err = (p.total_bytes - measured) / measured
        rows.append((name, quant, ckpt, padded, dtype, p.total_bytes, measured, err))
        # the weights term alone against what loading the model added, and the load's own peak: the
        # checkpoint is streamed tensor by tensor, so loading never holds the dense file beside the model
        assert abs(p.terms["weights"] - r["loaded_bytes"]) / r["loaded_bytes"] <= 0.15, (case, r)
        if dtype == "float32":  # (a bf16 load also holds one float32 tensor of the file while it casts it)
            assert r["load_peak_bytes"] <= 1.15 * p.terms["weights"], (case, r)
        if quant or dtype != "float32":
            dense_file = (models[name] / "model.safetensors").stat().st_size
            assert r["load_peak_bytes"] < 0.8 * dense_file, (case, r, dense_file)
    table = "\n".join(
        f"{n} {q} ckpt={c} padded={pd} {dt}: predicted {a / 2**20:.1f} MiB, measured {b / 2**20:.1f} MiB ({e:+.1%})"
        for n, q, c, pd, dt, a, b, e in rows
    )
    assert all(abs(e) <= 0.15 for *_, e in rows), table
    # checkpointing and NF4 lower both the prediction and the measurement
    by = {(n, q, c, dt): (a, b) for n, q, c, pd, dt, a, b, _ in rows if not pd}
    for name in {n for n, _, c, *_ in plan_models.CASES if c}:
        assert by[(name, None, True, "float32")][0] < by[(name, None, False, "float32")][0]
        assert by[(name, None, True, "float32")][1] < by[(name, None, False, "float32")][1]
    assert by[("llama-7M", "nf4", False, "float32")][1] < by[("llama-7M", None, False, "float32")][1]
    # and so does a bfloat16 base
    assert by[("llama-7M", None, False, "bfloat16")][1] < by[("llama-7M", None, False, "float32")][1]


def test_plan_reads_only_the_config(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(MISTRAL_7B))
    (tmp_path / "model.safetensors").write_bytes(b"not a checkpoint")  # never opened
    p = plan(tmp_path, LoraConfig(max_length=1024, batch_size=1), "H100")
    assert isinstance(p, TrainPlan)
    assert 7.2e9 < p.num_parameters < 7.3e9  # Mistral 7B: 7.24B
    assert p.dtype == "bfloat16" and p.fits
    # bf16 weights: 2 bytes per parameter
    assert p.terms["weights"] == pytest.approx(2 * p.num_parameters, rel=1e-6)
    # AdamW: two float32 moments per trainable weight; gradients one
    assert p.terms["optimizer"] == 2 * p.terms["gradients"] == 8 * p.num_trainable
    text = str(p)
    for word in (
        "weights",
        "adapters",
        "optimizer",
        "gradients",
        "activations",
        "logits",
        "workspace",
        "total",
        "fits: yes",
        "largest batch",
        "tokens/s",
    ):
        assert word in text


def test_quantization_and_checkpointing_shrink_their_terms():
    m = ModelConfig.from_dict(MISTRAL_7B, "mistral-7b")
    dense = plan(m, LoraConfig(batch_size=1), "H200")
    nf4 = plan(m, LoraConfig(batch_size=1, quantization="nf4"), "H200")
    nf4_dq = plan(m, LoraConfig(batch_size=1, quantization="nf4", double_quant=True), "H200")
    int8 = plan(m, LoraConfig(batch_size=1, quantization="int8"), "H200")
    ckpt = plan(m, LoraConfig(batch_size=1, gradient_checkpointing=True), "H200")
    embed = 2 * 32000 * 4096 * 2  # embed_tokens and lm_head stay bf16
    proj = dense.terms["weights"] - embed
    # NF4: 4 bits per weight + a float32 absmax per 64; double quant: 8 bits per 64 (+ fp32 per 256 blocks)
    assert nf4.terms["weights"] - embed == pytest.approx(proj / 2 * (0.5 + 4 / 64), rel=0.01)
    assert nf4_dq.terms["weights"] < nf4.terms["weights"] < int8.terms["weights"] < dense.terms["weights"]
    assert ckpt.terms["activations"] < dense.terms["activations"] / 10
    assert nf4.terms["activations"] == dense.terms["activations"]


def test_largest_batch_is_monotone_in_memory():
    m = ModelConfig.from_dict(MISTRAL_7B, "mistral-7b")
    cfg = LoraConfig(max_length=1024, batch_size=1, quantization="nf4", gradient_checkpointing=True)
    sizes = [16, 24, 40, 48, 80, 141, 192]
    found = [plan(m, cfg, gb).largest_batch for gb in sizes]
    assert all(a <= b for a, b in zip(found, found[1:])), found
    assert found[0] >= 1 and found[-1] > found[0]
    # the largest batch fits and one more does not
    p = plan(m, cfg, "L4")
    assert plan(m, replace(cfg, batch_size=p.largest_batch), "L4").fits
    assert not plan(m, replace(cfg, batch_size=p.largest_batch + 1), "L4").fits
    assert p.largest_batch == plan(m, cfg, 24).largest_batch == plan(m, cfg, "24GB").largest_batch


def test_step_time_and_one_time_cost():
    m = ModelConfig.from_dict(MISTRAL_7B, "mistral-7b")
    cfg = LoraConfig(max_length=1024, batch_size=2, quantization="nf4", gradient_checkpointing=True)
    p = plan(m, cfg, "L4", mfu=0.4)
    # ~ (4 + 2 with checkpointing) x params x tokens for the frozen base: within 2x of that rule
    rule = 6 * m.num_parameters * 2 * 1024
    assert rule / 2 < p.step_flops < rule * 2
    assert p.step_seconds == pytest.approx(p.step_flops / (121e12 * 0.4))
    assert p.tokens_per_second == pytest.approx(2 * 1024 / p.step_seconds)
    assert plan(m, cfg, "L4", mfu=0.2).step_seconds == pytest.approx(2 * p.step_seconds)
    hours = p.hours(10e6, epochs=3)
    assert hours == pytest.approx(3 * 10e6 / p.tokens_per_second / 3600)
    cost = p.to_one_time_costs(10e6, epochs=3)
    assert isinstance(cost, OneTimeCosts)
    assert cost.training_usd == pytest.approx(hours * 0.705)  # the l4-7b row of the price table
    assert "l4-7b" in " ".join(cost.assumptions)
    with pytest.raises(PlanError, match="no row for H200"):
        plan(m, cfg, "H200").to_one_time_costs(1e6)
    assert plan(m, cfg, "H200").to_one_time_costs(1e6, option="h100-7b").training_usd > 0
    with pytest.raises(PlanError, match="no FLOP rate"):
        plan(m, cfg, 48).hours(1e6)


def test_too_large_for_every_gpu_is_a_clear_error():
    with pytest.raises(PlanError) as info:
        plan(ModelConfig.from_dict(LLAMA_70B, "llama-70b"), LoraConfig(), "L4")
    msg = str(info.value)
    assert "69.0B-parameter" in msg and "H200" in msg and "141 GB" in msg
    with pytest.raises(PlanError, match=r"405\.9B-parameter.*H200"):
        plan(ModelConfig.from_dict(LLAMA_405B, "llama-405b"), LoraConfig(quantization="nf4"), "H200")
    # a 7B bf16 run at batch 4 x 4096 does not fit an L4 but fits larger GPUs: they are named
    with pytest.raises(PlanError, match=r"L4 has 24 GB.*Fits: .*H100"):
        plan(ModelConfig.from_dict(MISTRAL_7B, "mistral-7b"), LoraConfig(max_length=4096, batch_size=1), "L4")


def test_unknown_device_lists_the_known_ones():
    with pytest.raises(PlanError) as info:
        plan(ModelConfig.from_dict(MISTRAL_7B), None, "V100")
    assert "V100" in str(info.value)
    for name in DEVICES:
        assert name in str(info.value)
    with pytest.raises(PlanError, match="positive"):
        plan(ModelConfig.from_dict(MISTRAL_7B), None, -3)
    with pytest.raises(PlanError, match="model_type 'gpt2'"):
        ModelConfig.from_dict({**MISTRAL_7B, "model_type": "gpt2"})
    with pytest.raises(PlanError, match="hidden_size"):
        ModelConfig.from_dict({**MISTRAL_7B, "hidden_size": "big"})


def test_cli_plan_prints_and_exits_without_training(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(MISTRAL_7B))
    (tmp_path / "model.safetensors").write_bytes(b"")  # an empty checkpoint: never read
    env = {"PYTHONPATH": PKG, "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "airtune.cli",
            "train",
            "--base",
            str(tmp_path),
            "--plan",
            "--device",
            "A100",
            "--quantization",
            "nf4",
            "--max-length",
            "2048",
            "--batch-size",
            "2",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "TrainPlan" in out.stdout and "A100-40GB" in out.stdout and "nf4" in out.stdout
    assert "batch 2 x seq 2048" in out.stdout
    assert not (tmp_path / "adapter_model.safetensors").exists()
    bad = subprocess.run(
        [sys.executable, "-m", "airtune.cli", "train", "--base", str(tmp_path), "--plan", "--device", "TPU"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode != 0 and "unknown device 'TPU'" in bad.stderr
