"""LoRA training throughput and peak memory: airtune.train (C++ loop on libtorch) vs PEFT + transformers
in a plain PyTorch loop, on the CPU with the same thread count, model, data and hyperparameters.

Workload: a random Llama config built here with transformers, LoRA r=16 alpha=32 on all linear layers,
AdamW, batches of full-length random token rows, fp32; two label layouts: every token labelled
("all"), and the first half of each row an unlabelled prompt ("prompt", the usual SFT case: airtune
runs the lm_head only on labelled positions, transformers' loss computes every position's logits), and
rows of two lengths ("padded": every second row of a batch 3/4 long, padded on the right with an
attention mask in PEFT, as a real SFT batch is; tokens/s counts the real tokens). Each engine runs
`warmup` steps, then `steps` timed steps; the figure is the median step time over the timed steps,
tokens/s = batch * seq_len / median. Each engine runs in a fresh child process (so peak RSS is its own);
the child reports its step times and VmHWM.

    PYTHONPATH=python python benchmarks/train.py            # default (< 3 min): ~10M params, seq 256
    PYTHONPATH=python python benchmarks/train.py --full     # ~30M params at seq 512, vocab 16k
    PYTHONPATH=python python benchmarks/train.py --config issue --engines airtune,peft --workloads all
        # issue 19's row: ~50M params, vocab 32000 (the logits matter), seq 512
    ... --profile airtune   # one child under torch.profiler: the step's time shares by operator
Both engines start from the same adapter (made once by PEFT with seed 0 and loaded by both) and see
the same batches in the same order (the PEFT loop replays airtune's shuffled plan), so their loss
curves are compared step by step (max abs difference in the table). Peak memory is net of the
import and model footprint: each child resets VmHWM (/proc/self/clear_refs) after the imports, the
model load and the data, and reports its peak minus its RSS at that point.
Writes benchmarks/results/train.json and benchmarks/results/train.md (one table per config; a run
of one config keeps the other configs' tables).

    PYTHONPATH=python python benchmarks/train.py --plan-only  # only the memory plan's rows (below)
Memory plan rows ("plan vs measured peak"): airtune.train.plan's predicted peak of a training step
beside the measured one, for the models and cases of tests/python/plan_models.py (Llama, Qwen2 and
Gemma of 7-9M parameters, with and without gradient checkpointing, one NF4 base, one padded case,
one large-vocabulary model, two bfloat16 bases), each in a fresh child: the model load's RSS increment plus the steps'
peak above the warmed-up RSS (see plan_models.py). ``--plan-only`` measures just these and keeps the
training tables of the last runs; a training run keeps the last plan rows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent))

CONFIGS = {
    "default": dict(
        vocab_size=8192,
        hidden_size=384,
        intermediate_size=1024,
        num_hidden_layers=4,
        num_attention_heads=6,
        num_key_value_heads=2,
        seq=256,
        batch=2,
    ),
    "full": dict(
        vocab_size=16384,
        hidden_size=512,
        intermediate_size=1536,
        num_hidden_layers=8,
        num_attention_heads=8,
        num_key_value_heads=4,
        seq=512,
        batch=2,
    ),
    # issue 19's goal row: a ~50M Llama at seq 512 with a real vocabulary (the [tokens, vocab]
    # logits are the largest tensor of a step)
    "issue": dict(
        vocab_size=32000,
        hidden_size=512,
        intermediate_size=1536,
        num_hidden_layers=6,
        num_attention_heads=8,
        num_key_value_heads=4,
        seq=512,
        batch=2,
    ),
}
R, ALPHA, LR = 16, 32.0, 1e-4
# airtune-nf4: the frozen base in NF4 with double quantization (QLoRA), LoRA fp32 on top;
# peft-bnb4: PEFT over transformers + bitsandbytes' 4-bit NF4 base (where bitsandbytes runs on the CPU).
ENGINES = ("airtune", "peft", "airtune-ckpt", "airtune-nf4", "peft-bnb4")
# on request (--engines): the frozen base in bf16 in both (airtune dtype="bfloat16"; transformers
# torch_dtype=bfloat16, PEFT keeping the adapters in fp32 as it does by default), LoRA, loss and
# AdamW in fp32: bf16 matmuls where the CPU has them (avx512_bf16 / AMX)
BF16_ENGINES = ("airtune-bf16", "peft-bf16")
WORKLOADS = ("all", "prompt")  # --workloads also takes "padded"
WORKLOAD_LABELS = {
    "all": "every token labelled",
    "prompt": "half of each row an unlabelled prompt",
    "padded": "every second row of a batch 3/4 long (padded on the right)",
}


def _row_lengths(cfg: dict, workload: str, n_rows: int) -> list[int]:
    """Row lengths in airtune's batch order: "padded" shortens every second row of each batch."""
    short = cfg["seq"] * 3 // 4
    return [short if workload == "padded" and k % 2 else cfg["seq"] for k in range(n_rows)]


def _build(folder: Path, cfg: dict) -> int:
    import torch
    import transformers

    c = {k: v for k, v in cfg.items() if k not in ("seq", "batch")}
    conf = transformers.LlamaConfig(
        max_position_embeddings=1024, bos_token_id=1, eos_token_id=2, pad_token_id=0, **c
    )
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(conf)
    model.save_pretrained(folder, safe_serialization=True)
    return sum(p.numel() for p in model.parameters())


def _init_adapter(folder: Path) -> Path:
    """The adapter both engines start from (PEFT's init with seed 0: A kaiming-uniform, B = 0)."""
    import peft
    import torch
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32)
    torch.manual_seed(0)
    model = peft.get_peft_model(
        model, peft.LoraConfig(r=R, lora_alpha=ALPHA, target_modules="all-linear", task_type="CAUSAL_LM")
    )
    out = folder / "init_adapter"
    model.save_pretrained(out)
    return out


class _MT64:
    """std::mt19937_64, to replay airtune's batch plan (trainer_loop.cpp epoch_plan) in the PEFT loop."""

    M = (1 << 64) - 1

    def __init__(self, seed: int) -> None:
        self.mt = [seed & self.M]
        for i in range(1, 312):
            prev = self.mt[-1]
            self.mt.append((6364136223846793005 * (prev ^ (prev >> 62)) + i) & self.M)
        self.i = 312

    def __call__(self) -> int:
        if self.i >= 312:
            mt = self.mt
            for k in range(312):
                x = (mt[k] & 0xFFFFFFFF80000000) | (mt[(k + 1) % 312] & 0x7FFFFFFF)
                mt[k] = mt[(k + 156) % 312] ^ (x >> 1) ^ (0xB5026F5AA96619E9 if x & 1 else 0)
            self.i = 0
        y = self.mt[self.i]
        self.i += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        y ^= y >> 43
        return y & self.M


def _airtune_order(n: int, seed: int = 0) -> list[int]:
    """The example order of airtune's first epoch without length grouping (Fisher-Yates on mt19937_64)."""
    rng = _MT64(seed * 1000003 + 17)
    idx = list(range(n))
    for i in range(n, 1, -1):
        j = rng() % i
        idx[i - 1], idx[j] = idx[j], idx[i - 1]
    return idx


def _rss_mb(key: str = "VmRSS:") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> float:
    """gc + malloc_trim, then VmHWM := VmRSS; returns that RSS (MB): the baseline of the work."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    Path("/proc/self/clear_refs").write_text("5")
    return _rss_mb()


_CATEGORIES = (
    (
        "cross-entropy + lm_head softmax",
        ("log_softmax", "nll_loss", "cross_entropy", "logsumexp", "fused_linear_ce"),
    ),
    ("attention (sdpa)", ("attention", "sdpa")),
    (
        "matmul (linear, LoRA, lm_head)",
        ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear"),
    ),
    ("optimizer (AdamW, clipping)", ("adam", "foreach", "lerp", "addcdiv", "addcmul", "norm")),
    ("norms (RMSNorm)", ("rms_norm", "rsqrt", "aten::pow", "aten::mean")),
    ("activation (SwiGLU)", ("silu", "swiglu")),
    ("RoPE", ("rope", "aten::cat", "aten::neg")),
    (
        "copies (to, contiguous, index)",
        ("copy_", "aten::to", "contiguous", "index", "clone", "_to_copy", "narrow"),
    ),
)


def _shares(prof) -> dict:
    """Self CPU time by operator, grouped: the time share of each kind of work in a step."""
    events = [(e.key, e.self_cpu_time_total) for e in prof.key_averages()]
    total = sum(t for _, t in events) or 1.0
    groups: dict[str, float] = {}
    for key, t in events:
        k = key.lower()
        name = next(
            (g for g, pats in _CATEGORIES if any(p in k for p in pats)), "other elementwise / autograd"
        )
        groups[name] = groups.get(name, 0.0) + t
    top = sorted(events, key=lambda e: -e[1])[:15]
    return {
        "groups_pct": {g: round(100 * t / total, 1) for g, t in sorted(groups.items(), key=lambda x: -x[1])},
        "top_ops_pct": {k: round(100 * t / total, 1) for k, t in top},
        "self_cpu_s": round(total / 1e6, 3),
    }


def _data(cfg: dict, n_rows: int) -> list[list[int]]:
    import random

    rng = random.Random(0)
    return [[rng.randrange(3, cfg["vocab_size"]) for _ in range(cfg["seq"])] for _ in range(n_rows)]


def _child(
    engine: str,
    folder: str,
    cfg: dict,
    steps: int,
    warmup: int,
    threads: int,
    prompt: bool,
    profile: bool = False,
    padded: bool = False,
) -> dict:
    import contextlib

    import torch

    torch.set_num_threads(threads)
    init = Path(folder) / "init_adapter"
    n = steps + warmup
    rows = _data(cfg, n * cfg["batch"])
    if padded:  # the k-th row of airtune's order gets the k-th length
        lengths = _row_lengths(cfg, "padded", len(rows))
        for k, i in enumerate(_airtune_order(len(rows))):
            rows[i] = rows[i][: lengths[k]]
    # "prompt" workload: the first half of every row is a prompt without loss (labels -100), as in SFT
    half = cfg["seq"] // 2 if prompt else 0
    labels = [[-100] * half + r[half:] for r in rows]
    if engine.startswith("airtune"):
        from airtune.nn._lib import native

        quant = (
            dict(quantization="nf4", quant_block_size=64, double_quant=True)
            if engine == "airtune-nf4"
            else {}
        )
        dtype = "bfloat16" if engine == "airtune-bf16" else "float32"
        model = native().LoraModel(folder, R, ALPHA, 0.0, False, [], "", True, 0, dtype, "cpu", **quant)
        if init.exists():
            model.load_adapter(str(init))
        from airtune.train import LoraConfig, _options

        # the trainer's options through airtune.train's one conversion (a typed TrainOptions)
        config = LoraConfig(
            r=R,
            lora_alpha=ALPHA,
            max_steps=n,
            batch_size=cfg["batch"],
            learning_rate=LR,
            lr_scheduler="constant",
            group_by_length=False,
            gradient_checkpointing=engine == "airtune-ckpt",
        )
        opts = _options(config, n, 0, folder, Path(folder), None)
        base = _reset_peak()
        # process CPU seconds per step (on a shared machine wall time also counts waiting for a core)
        marks = [time.process_time()]

        def on_step(_info: object) -> bool:
            marks.append(time.process_time())
            return True

        with _profiler(profile) as prof:
            out = model.train(rows, labels, [], [], opts, on_step)
        times = [h.seconds for h in out.history][warmup:]
        cpu_times = [b - a for a, b in zip(marks, marks[1:], strict=False)][warmup:]
        losses = [h.loss for h in out.history]
    else:
        import peft
        import transformers

        if engine == "peft-bnb4":
            qc = transformers.BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=torch.float32,
            )
            model = transformers.AutoModelForCausalLM.from_pretrained(
                folder, quantization_config=qc, device_map="cpu"
            )
        else:
            dtype = torch.bfloat16 if engine == "peft-bf16" else torch.float32
            model = transformers.AutoModelForCausalLM.from_pretrained(folder, torch_dtype=dtype)
        if init.exists():
            model = peft.PeftModel.from_pretrained(model, str(init), is_trainable=True)
        else:
            model = peft.get_peft_model(
                model,
                peft.LoraConfig(r=R, lora_alpha=ALPHA, target_modules="all-linear", task_type="CAUSAL_LM"),
            )
        model.train()
        # the batches of airtune's plan, in its order
        order = _airtune_order(len(rows))
        rows, labels = [rows[i] for i in order], [labels[i] for i in order]
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=LR, weight_decay=0.0)
        times, cpu_times, losses = [], [], []
        base = _reset_peak()
        stack = contextlib.ExitStack()
        prof = stack.enter_context(_profiler(profile))
        for s in range(n):
            chunk, chunk_labels = (
                rows[s * cfg["batch"] : (s + 1) * cfg["batch"]],
                labels[s * cfg["batch"] : (s + 1) * cfg["batch"]],
            )
            w = max(len(r) for r in chunk)
            batch = torch.tensor([r + [0] * (w - len(r)) for r in chunk])
            batch_labels = torch.tensor([r + [-100] * (w - len(r)) for r in chunk_labels])
            mask = torch.tensor([[1] * len(r) + [0] * (w - len(r)) for r in chunk]) if padded else None
            t0, c0 = time.perf_counter(), time.process_time()
            out = model(input_ids=batch, attention_mask=mask, labels=batch_labels)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad()
            losses.append(out.loss.item())
            times.append(time.perf_counter() - t0)
            cpu_times.append(time.process_time() - c0)
        stack.close()
        times, cpu_times = times[warmup:], cpu_times[warmup:]
    peak = _rss_mb("VmHWM:")
    out = {
        "engine": engine,
        "step_times": times,
        "cpu_step_times": cpu_times,
        "losses": losses,
        "peak_rss_mb": round(peak, 1),
        "rss_after_load_mb": round(base, 1),
        "net_peak_mb": round(peak - base, 1),
    }
    if prof is not None:
        out["profile"] = _shares(prof)
    return out


def _profiler(on: bool):
    """torch.profiler over the steps (it sees the aten ops airtune's C++ loop dispatches too)."""
    import contextlib

    if not on:
        return contextlib.nullcontext()
    import torch

    return torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])


def _bnb_version() -> str:
    try:
        import bitsandbytes

        return bitsandbytes.__version__
    except ImportError:
        return "not installed"


def _run_child(args, name: str, engine: str, folder: str, workload: str, profile: bool = False) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", engine, folder, "--config", name]
    cmd += ["--steps", str(args.steps), "--warmup", str(args.warmup), "--threads", str(args.threads)]
    if workload == "prompt":
        cmd.append("--prompt")
    if workload == "padded":
        cmd.append("--padded")
    if profile:
        cmd.append("--profile-child")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    if proc.returncode != 0:
        raise RuntimeError(f"{engine}/{workload} child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _pairs(engines: list[str]) -> list[tuple[str, str, str]]:
    labels = (
        ("airtune", "peft", ""),
        ("airtune-ckpt", "peft", ", airtune with gradient checkpointing"),
        ("airtune-nf4", "peft", ", airtune over an NF4 base (double quant), PEFT over the fp32 base"),
        ("airtune-nf4", "peft-bnb4", ", both over an NF4 base (PEFT + bitsandbytes 4-bit, double quant)"),
        ("airtune-bf16", "peft-bf16", ", both with the frozen base in bf16 (LoRA, loss and AdamW fp32)"),
    )
    return [(e, p, lab) for e, p, lab in labels if e in engines and p in engines]


def _plan_rows() -> dict:
    """Predicted and measured peaks of the plan's validation cases (one fresh child each)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
    import plan_models

    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in plan_models.CASES:
            name, quant, ckpt, padded, dtype = case
            path = plan_models.build(Path(tmp), name)
            r = plan_models.measure(
                path,
                name,
                quant,
                ckpt,
                pythonpath=str(Path(__file__).resolve().parents[1] / "python"),
                padded=padded,
                dtype=dtype,
            )
            p = plan_models.predict(path, case)
            spec = plan_models.PLAN_MODELS[name]
            rows.append(
                {
                    "model": name,
                    "params": p.num_parameters,
                    "vocab": spec["model"]["vocab_size"],
                    "seq": spec["seq"],
                    "batch": spec["batch"],
                    "targets": spec["targets"],
                    "quantization": quant,
                    "gradient_checkpointing": ckpt,
                    "padded": padded,
                    "dtype": dtype,
                    "predicted_mb": round(p.total_bytes / 2**20, 1),
                    "measured_mb": round(r["measured_bytes"] / 2**20, 1),
                    "weights_mb": round(p.terms["weights"] / 2**20, 1),
                    "load_peak_mb": round(r["load_peak_bytes"] / 2**20, 1),
                    "error_pct": round(100 * (p.total_bytes - r["measured_bytes"]) / r["measured_bytes"], 1),
                    "terms_mb": {k: round(v / 2**20, 1) for k, v in p.terms.items()},
                }
            )
    return {
        "rows": rows,
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
    }


def _plan_table(plan_payload: dict) -> str:
    load = f"load average {plan_payload['load_average_before']} -> {plan_payload['load_average_after']}"
    md = (
        "Memory plan: airtune.train.plan(device='cpu') vs the model load's RSS + the peak of 2 steps above the "
        "warmed-up RSS (tests/python/plan_models.py), fresh process per row, 1 thread, r=16, "
        f"{load} (2-core machine; memory, not time, is measured).\n\n"
        "| plan vs measured peak | predicted MiB | measured MiB | error | weights term / load peak MiB |\n"
        "|---|---|---|---|---|\n"
    )
    for r in plan_payload["rows"]:
        targets = r["targets"] if isinstance(r["targets"], str) else ",".join(r["targets"])
        what = (
            f"{r['model']} ({r['params'] / 1e6:.1f}M params, vocab {r.get('vocab', '?')}), "
            f"batch {r['batch']} x seq {r['seq']}, {targets}, {r.get('dtype', 'float32')}"
            f"{', NF4 base' if r['quantization'] else ''}{', gradient checkpointing' if r['gradient_checkpointing'] else ''}"
            f"{', padded batches (3 of 4 rows 3/4 long, padded on the right: no mask)' if r.get('padded') else ''}"
        )
        md += (
            f"| {what} | {r['predicted_mb']} | {r['measured_mb']} | {r['error_pct']:+.1f}% | "
            f"{r.get('weights_mb', '')} / {r.get('load_peak_mb', '')} |\n"
        )
    return md


def _write(runs: dict[str, dict], plan_payload: dict | None) -> None:
    """train.json / train.md: one table per config (CONFIGS order), then the memory plan's rows."""
    from _common import write_results

    ordered = sorted(runs, key=lambda k: (list(CONFIGS).index(k.split("@")[0]), k))
    parts = [runs[k]["md"].strip() for k in ordered]
    payload: dict = {"runs": {k: runs[k] for k in ordered}}
    if plan_payload:
        payload["plan"] = plan_payload
        parts.append(_plan_table(plan_payload).strip())
    write_results("train", payload, "\n\n".join(parts))


def _previous() -> tuple[dict[str, dict], dict | None]:
    """The training runs and plan rows of the last results (kept by a run that redoes only one part)."""
    from _common import RESULTS

    old = RESULTS / "train.json"
    if not old.exists():
        return {}, None
    prev = json.loads(old.read_text())
    runs = prev.get("runs", {})
    if not runs and "rows" in prev:  # the single-config layout of earlier runs
        runs = {"default": {**prev, "md": (RESULTS / "train.md").read_text()}}
    # Runs written before tables named their CPU all came from the machine of the file's last write.
    for key in list(runs):
        if "cpu" not in runs[key]:
            cpu = prev.get("machine", {}).get("cpu", "unknown CPU")
            run = runs.pop(key)
            run["cpu"] = cpu
            run["md"] = run["md"].replace(" thread(s): same initial", f" thread(s), {cpu}: same initial", 1)
            runs[_run_key(key.split("@")[0], run["config"].get("threads", 1), cpu)] = run
    return runs, prev.get("plan")


def _run_key(name: str, threads: int, cpu: str) -> str:
    """One table per config, thread count and CPU (ratios move with the CPU: MKL, AVX-512 units)."""
    return f"{name}@{threads}threads@{cpu}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument(
        "--engines", default=",".join(ENGINES), help="comma-separated, of " + ",".join(ENGINES + BF16_ENGINES)
    )
    ap.add_argument(
        "--workloads", default=",".join(WORKLOADS), help="comma-separated subset of all,prompt,padded"
    )
    ap.add_argument(
        "--profile", metavar="ENGINE", help="profile one child of ENGINE (no result files written)"
    )
    ap.add_argument("--child", nargs=2, metavar=("ENGINE", "FOLDER"))
    ap.add_argument("--prompt", action="store_true", help="child: half of each row is an unlabelled prompt")
    ap.add_argument("--padded", action="store_true", help="child: every second row of a batch 3/4 long")
    ap.add_argument("--profile-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--config", default="default")
    ap.add_argument("--plan-only", action="store_true", help="measure only the memory plan rows")
    args = ap.parse_args()
    name = "full" if args.full else args.config
    cfg = CONFIGS[name]
    if args.child:
        r = _child(
            args.child[0],
            args.child[1],
            cfg,
            args.steps,
            args.warmup,
            args.threads,
            args.prompt,
            args.profile_child,
            args.padded,
        )
        print(json.dumps(r))
        return
    if args.plan_only:
        runs, _ = _previous()
        _write(runs, _plan_rows())
        return
    engines = [e for e in args.engines.split(",") if e]
    workloads = [w for w in args.workloads.split(",") if w]
    for e in engines:
        if e not in ENGINES + BF16_ENGINES:
            raise SystemExit(f"unknown engine {e!r}; one of {ENGINES + BF16_ENGINES}")

    import peft
    import torch
    import transformers

    results: dict[str, dict] = {}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        n_params = _build(Path(tmp), cfg)
        _init_adapter(Path(tmp))
        if args.profile:
            for workload in workloads:
                r = _run_child(args, name, args.profile, tmp, workload, profile=True)
                print(json.dumps({"engine": args.profile, "workload": workload, **r["profile"]}, indent=2))
            return
        # engines alternate (airtune, peft, airtune-ckpt, airtune, ...) so a busy machine hits all alike
        for _ in range(args.rounds):
            for workload in workloads:
                for engine in engines:
                    r = _run_child(args, name, engine, tmp, workload)
                    acc = results.setdefault(
                        f"{engine}/{workload}",
                        {
                            "step_times": [],
                            "cpu_step_times": [],
                            "losses": r["losses"],
                            "peak_rss_mb": 0.0,
                            "net_peak_mb": 0.0,
                        },
                    )
                    acc["step_times"] += r["step_times"]
                    acc["cpu_step_times"] += r["cpu_step_times"]
                    acc["peak_rss_mb"] = max(acc["peak_rss_mb"], r["peak_rss_mb"])
                    acc["net_peak_mb"] = max(acc["net_peak_mb"], r["net_peak_mb"])
    rows = {}
    for key, r in results.items():
        n_rows = cfg["batch"] * (args.steps + args.warmup)
        tokens = sum(_row_lengths(cfg, key.split("/")[1], n_rows)) / (
            args.steps + args.warmup
        )  # real tokens a step
        med = statistics.median(r["step_times"])
        cpu_med = statistics.median(r["cpu_step_times"])
        rows[key] = {
            "median_step_s": round(med, 4),
            "tokens_per_s": round(tokens / med, 1),
            "cpu_median_step_s": round(cpu_med, 4),
            "tokens_per_cpu_s": round(tokens / cpu_med, 1),
            "step_times": [round(x, 4) for x in r["step_times"]],
            "peak_rss_mb": r["peak_rss_mb"],
            "net_peak_mb": r["net_peak_mb"],
            "losses": [round(x, 6) for x in r["losses"]],
        }
    ratios = {}
    for w in workloads:
        for e, p, _ in _pairs(engines):
            ours, peer = rows[f"{e}/{w}"], rows[f"{p}/{w}"]
            diff = max(abs(a - b) for a, b in zip(ours["losses"], peer["losses"], strict=True))
            ratios[f"{e}/{w}" if p == "peft" else f"{e}/{w}/vs-{p}"] = {
                "tokens_per_s": round(ours["tokens_per_s"] / peer["tokens_per_s"], 3),
                "tokens_per_cpu_s": round(ours["tokens_per_cpu_s"] / peer["tokens_per_cpu_s"], 3),
                "net_peak": round(ours["net_peak_mb"] / max(peer["net_peak_mb"], 1e-9), 3),
                "loss_max_abs_diff": round(diff, 6),
            }
    load_after = os.getloadavg()[0]
    payload = {
        "config": {
            **cfg,
            "params": n_params,
            "lora_r": R,
            "lora_alpha": ALPHA,
            "targets": "all-linear",
            "threads": args.threads,
            "steps": args.steps,
            "warmup": args.warmup,
            "rounds": args.rounds,
            "dtype": "float32 (the -bf16 engines: bfloat16 base)",
            "engines": engines,
            "workloads": {w: WORKLOAD_LABELS[w] for w in workloads},
        },
        "load_average_before": round(load_before, 2),
        "load_average_after": round(load_after, 2),
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
            "bitsandbytes": _bnb_version(),
        },
        "rows": rows,
        "ratios_vs_peft": ratios,
    }
    task = (
        f"LoRA training step, Llama {n_params / 1e6:.1f}M params, vocab {cfg['vocab_size']}, seq {cfg['seq']}, "
        f"batch {cfg['batch']}, r={R} all-linear, CPU {args.threads} thread(s)"
    )
    note = (
        f"median of {args.rounds} x {args.steps} steps (after {args.warmup} warm-up), engines alternating, "
        f"fresh process per run, load {load_before:.1f} before / {load_after:.1f} after"
    )
    from _common import cpu_model

    cpu = cpu_model()
    md = (
        f"Config `{name}`, {args.threads} thread(s), {cpu}: same initial adapter and batches for both engines; peak RSS net of imports, "
        "model and data (VmHWM reset after the load); speed by wall time and by process CPU time (on a loaded "
        "machine wall time also counts the wait for a core); loss diff = max over steps of |airtune - PEFT|.\n\n"
        "| task | airtune tokens/s | PEFT tokens/s | speed ratio | tokens per CPU-s (airtune / PEFT) "
        "| CPU ratio | net peak RSS MB (airtune / PEFT) | loss max abs diff | note |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    for w, wl in WORKLOAD_LABELS.items():
        if w not in workloads:
            continue
        for e, p, label in _pairs(engines):
            key = f"{e}/{w}" if p == "peft" else f"{e}/{w}/vs-{p}"
            ours, peer, ra = rows[f"{e}/{w}"], rows[f"{p}/{w}"], ratios[key]
            md += (
                f"| {task}, {wl}{label} | {ours['tokens_per_s']} | {peer['tokens_per_s']} | "
                f"{ra['tokens_per_s']:.2f}x | {ours['tokens_per_cpu_s']} / {peer['tokens_per_cpu_s']} | "
                f"{ra['tokens_per_cpu_s']:.2f}x | {ours['net_peak_mb']} / {peer['net_peak_mb']} "
                f"({ra['net_peak']:.2f}x) | {ra['loss_max_abs_diff']:.2g} | {note} |\n"
            )
    # one table per config: a run of one config keeps the others' (and the plan rows)
    runs, plan_payload = _previous()
    runs[_run_key(name, args.threads, cpu)] = {**payload, "cpu": cpu, "md": md}
    _write(runs, plan_payload)


if __name__ == "__main__":
    main()
