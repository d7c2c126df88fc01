"""The models and the measurement behind the memory plan's validation (tests/python/test_train_plan.py
and benchmarks/train.py --plan-only): a few training steps of our trainer in a fresh child process,
its peak resident memory net of the process's footprint (imports, and the runtime's one-time buffers of a first step).

Measure: the child records VmRSS after its imports and data, loads the model once and drops it (the
loader's code pages and one-time buffers), records VmRSS, loads it again (LoraModel: VmRSS after), runs a warm-up step on the first batch (libtorch's code
pages and the buffers it keeps for a step of these shapes: ~20 MB, the runtime's footprint, not the
plan's), records VmRSS, resets the kernel's peak
counter (``/proc/self/clear_refs`` = 5, so the load's transient, the checkpoint file read whole, is
not counted either), runs the steps and reads VmHWM.
measured = (VmRSS after load - before load) + (VmHWM - VmRSS after warm-up): the weights plus
everything the steps hold at their peak, which is what the plan predicts. glibc's
malloc runs with a fixed mmap threshold of 64 KiB (MALLOC_MMAP_THRESHOLD_) so that freed tensors go
back to the kernel and RSS follows the live bytes (torch's CPU allocator does not cache).

    python tests/python/plan_models.py '{"kind": "llama", ...}'   # prints one JSON line
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# name -> (family, config overrides of tiny_causal_lm, training options): 5-30M parameters, shaped so
# that weights, activations and logits are all visible
PLAN_MODELS: dict[str, dict] = {
    "llama-7M": dict(
        kind="llama",
        model=dict(
            vocab_size=8192,
            hidden_size=256,
            intermediate_size=688,
            num_hidden_layers=4,
            num_attention_heads=4,
            num_key_value_heads=2,
        ),
        seq=256,
        batch=4,
        targets="all-linear",
    ),
    "qwen2-8M": dict(
        kind="qwen2",
        model=dict(
            vocab_size=4096,
            hidden_size=384,
            intermediate_size=1024,
            num_hidden_layers=3,
            num_attention_heads=6,
            num_key_value_heads=2,
        ),
        seq=192,
        batch=4,
        targets=["q_proj", "v_proj"],
    ),
    "gemma-7M": dict(
        kind="gemma",
        model=dict(
            vocab_size=6144,
            hidden_size=256,
            intermediate_size=1024,
            num_hidden_layers=6,
            num_attention_heads=4,
            num_key_value_heads=1,
            head_dim=64,
        ),
        seq=160,
        batch=4,
        targets="all-linear",
    ),
    # a vocabulary large for the model (as real ones are): the loss's logits run in 4 chunks of 262 rows
    "llama-v32k": dict(
        kind="llama",
        model=dict(
            vocab_size=32000,
            hidden_size=128,
            intermediate_size=344,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
        ),
        seq=256,
        batch=4,
        targets="all-linear",
    ),
}
# (model, quantization of the base, gradient checkpointing, padded batches, dtype of the base): one
# fresh child process each (a second run in the same process starts from a heap the first one grew, and measures a few MB
# low)
CASES = [
    ("llama-7M", None, False, False, "float32"),
    ("llama-7M", None, True, False, "float32"),
    ("llama-7M", "nf4", False, False, "float32"),
    ("llama-7M", None, False, True, "float32"),
    ("qwen2-8M", None, False, False, "float32"),
    ("qwen2-8M", None, True, False, "float32"),
    ("gemma-7M", None, False, False, "float32"),
    ("gemma-7M", None, True, False, "float32"),
    ("llama-v32k", None, False, False, "float32"),
    # a bfloat16 base (the GPU default, run on the CPU): per-module float32 copies of LoRA's inputs
    ("llama-7M", None, False, False, "bfloat16"),
    ("qwen2-8M", None, False, False, "bfloat16"),
]


def predict(path: Path, case: tuple) -> object:
    """The plan of a case, as the measurement runs it (on the CPU; padded batches are padded on
    the right, which needs no attention mask)."""
    from airtune.train import plan

    name, quant, ckpt, padded, dtype = case
    cfg = lora_config(name, ckpt, quant)
    return plan(path, cfg, "cpu", dtype=dtype, label_fraction=label_fraction(cfg, padded))


def build(folder: Path, name: str) -> Path:
    from tiny_models import tiny_causal_lm

    spec = PLAN_MODELS[name]
    path = folder / name
    if not (path / "config.json").is_file():
        tiny_causal_lm(
            path,
            spec["kind"],
            weight_scale=0.02,
            norm_scale=0.0,
            max_position_embeddings=1024,
            **spec["model"],
        )
    return path


def lora_config(name: str, ckpt: bool, quant: str | None):
    from airtune.train import LoraConfig

    spec = PLAN_MODELS[name]
    return LoraConfig(
        r=16,
        lora_alpha=32,
        target_modules=spec["targets"],
        max_length=spec["seq"],
        batch_size=spec["batch"],
        gradient_checkpointing=ckpt,
        quantization=quant,
        double_quant=quant is not None,
        group_by_length=False,
    )


def row_lengths(cfg, steps: int, padded: bool) -> list[int]:
    """Rows of max_length tokens; padded: each batch holds one such row and shorter ones (3/4 of it),
    so the batch is padded (on the right, as the trainer pads: no attention mask is needed)."""
    n = steps * cfg.batch_size
    return [
        cfg.max_length if i % cfg.batch_size == 0 or not padded else cfg.max_length * 3 // 4 for i in range(n)
    ]


def label_fraction(cfg, padded: bool) -> float:
    """The share of a padded batch's positions (batch x (width - 1)) that carry a label."""
    lengths = row_lengths(cfg, 1, padded)
    return sum(n - 1 for n in lengths) / (len(lengths) * (cfg.max_length - 1))


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {key} in /proc/self/status")


def _child(args: dict) -> dict:
    import random

    import torch
    from airtune.nn._lib import native

    torch.set_num_threads(int(args.get("threads", 1)))
    cfg = lora_config(args["name"], False, args["quant"])
    spec = PLAN_MODELS[args["name"]]
    rng = random.Random(0)
    steps = int(args.get("steps", 2))
    lengths = row_lengths(cfg, steps, bool(args.get("padded")))
    rows = [[rng.randrange(3, spec["model"]["vocab_size"]) for _ in range(n)] for n in lengths]
    names, regex, all_linear = cfg._targets()

    def load():
        return native().LoraModel(
            args["path"],
            cfg.r,
            cfg.lora_alpha,
            0.0,
            False,
            names,
            regex,
            all_linear,
            0,
            args.get("dtype", "float32"),
            "cpu",
            quantization=cfg._quant_args()[0],
            quant_block_size=cfg._quant_args()[1],
            double_quant=cfg._quant_args()[2],
        )

    del_me = load()  # a first load touches the loader's code and one-time buffers (runtime footprint)
    del del_me
    before = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    model = load()
    loaded, load_peak = _status("VmRSS"), _status("VmHWM")
    from airtune.train import LoraConfig, _options

    def opts(**changes: object) -> object:
        """The trainer's options through airtune.train's one conversion (a typed TrainOptions)."""
        fields: dict = dict(
            max_steps=steps, batch_size=cfg.batch_size, learning_rate=1e-4, lr_scheduler="constant"
        )
        config = LoraConfig(**{**fields, "group_by_length": False, **changes})
        return _options(config, config.max_steps, 0, args["path"], Path(args["path"]), None)

    # warm-up: one step of the first batch (the shapes of the measured steps) touches the code and
    # kernels a step runs: their pages and the runtime's buffers kept for those shapes (oneDNN's
    # for bf16 matmuls on the CPU, ~5 MB here) are the runtime's footprint, not the plan's; then the
    # peak counter is reset
    model.train(rows[: cfg.batch_size], rows[: cfg.batch_size], [], [], opts(max_steps=1), None)
    out = []
    for ckpt in args["ckpts"]:  # each run's peak against the RSS just before it (one run: see CASES)
        now = _status("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")
        model.train(rows, rows, [], [], opts(gradient_checkpointing=bool(ckpt)), None)
        peak = _status("VmHWM")
        out.append(
            {
                "ckpt": bool(ckpt),
                "measured_bytes": (loaded - before) + (peak - now),
                "loaded_bytes": loaded - before,
                "load_peak_bytes": load_peak - before,
            }
        )
    return {"runs": out}


def measure(
    path: Path,
    name: str,
    quant: str | None,
    ckpt: bool,
    steps: int = 2,
    pythonpath: str = "",
    padded: bool = False,
    dtype: str = "float32",
) -> dict:
    """Runs the steps in a fresh child; returns {"ckpt", "measured_bytes", "loaded_bytes",
    "load_peak_bytes"} (the last: the peak while the model loaded, net of the RSS before)."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", OMP_NUM_THREADS="1")
    here = str(Path(__file__).resolve().parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, here, env.get("PYTHONPATH", "")) if p)
    args = dict(path=str(path), name=name, ckpts=[ckpt], quant=quant, steps=steps, padded=padded, dtype=dtype)
    out = subprocess.run(
        [sys.executable, __file__, json.dumps(args)], capture_output=True, text=True, env=env, timeout=300
    )
    if out.returncode != 0:
        raise RuntimeError(f"measurement child failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["runs"][0]


if __name__ == "__main__":
    print(json.dumps(_child(json.loads(sys.argv[1]))))
