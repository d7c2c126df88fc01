"""LoRA training throughput and peak memory: airtune.train (C++ loop on libtorch) vs PEFT + transformers
in a plain PyTorch loop, on the CPU with the same thread count, model, data and hyperparameters.

Workload: a random Llama config built here with transformers, LoRA r=16 alpha=32 on all linear layers,
AdamW, batches of full-length random token rows, fp32; two label layouts: every token labelled
("all"), and the first half of each row an unlabelled prompt ("prompt", the usual SFT case: airtune
runs the lm_head only on labelled positions, transformers' loss computes every position's logits). Each engine runs
`warmup` steps, then `steps` timed steps; the figure is the median step time over the timed steps,
tokens/s = batch * seq_len / median. Each engine runs in a fresh child process (so peak RSS is its own);
the child reports its step times and VmHWM.

    PYTHONPATH=python python benchmarks/train.py            # default (< 3 min): ~10M params, seq 256
    PYTHONPATH=python python benchmarks/train.py --full     # the issue's ~50M params at seq 512
    PYTHONPATH=python python benchmarks/train.py --plan-only  # only the memory plan's rows (below)
Writes benchmarks/results/train.json and benchmarks/results/train.md.

Memory plan rows ("plan vs measured peak"): airtune.train.plan's predicted peak of a training step
beside the measured one, for the models and cases of tests/python/plan_models.py (Llama, Qwen2 and
Gemma of 7-8M parameters, with and without gradient checkpointing, one NF4 base), each in a fresh
child: VmHWM of the steps net of the process's RSS before the model was loaded (see plan_models.py).
``--plan-only`` measures just these and keeps the training rows of the last full run.
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))

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
}
R, ALPHA, LR = 16, 32.0, 1e-4
# airtune-nf4: the frozen base in NF4 with double quantization (QLoRA), LoRA fp32 on top;
# peft-bnb4: PEFT over transformers + bitsandbytes' 4-bit NF4 base (where bitsandbytes runs on the CPU).
ENGINES = ("airtune", "peft", "airtune-ckpt", "airtune-nf4", "peft-bnb4")
WORKLOADS = ("all", "prompt")


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


def _data(cfg: dict, n_rows: int) -> list[list[int]]:
    import random

    rng = random.Random(0)
    return [[rng.randrange(3, cfg["vocab_size"]) for _ in range(cfg["seq"])] for _ in range(n_rows)]


def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def _child(engine: str, folder: str, cfg: dict, steps: int, warmup: int, threads: int, prompt: bool) -> dict:
    import torch

    torch.set_num_threads(threads)
    n = steps + warmup
    rows = _data(cfg, n * cfg["batch"])
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
        model = native().LoraModel(folder, R, ALPHA, 0.0, False, [], "", True, 0, "float32", "cpu", **quant)
        opts = dict(
            epochs=1,
            max_steps=n,
            batch_size=cfg["batch"],
            gradient_accumulation_steps=1,
            learning_rate=LR,
            weight_decay=0.0,
            adam_beta1=0.9,
            adam_beta2=0.999,
            adam_epsilon=1e-8,
            max_grad_norm=1.0,
            lr_scheduler="constant",
            warmup_steps=0,
            seed=0,
            group_by_length=False,
            pad_token_id=0,
            eval_steps=0,
            eval_batch_size=8,
            early_stopping_patience=0,
            early_stopping_threshold=0.0,
            save_steps=0,
            gradient_checkpointing=engine == "airtune-ckpt",
            checkpoint_dir="",
            resume_from="",
            base_model_name_or_path=folder,
        )
        out = model.train(rows, labels, [], [], opts, None)
        times = [h["seconds"] for h in out["history"]][warmup:]
        losses = [h["loss"] for h in out["history"]]
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
            model = transformers.AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32)
        model = peft.get_peft_model(
            model, peft.LoraConfig(r=R, lora_alpha=ALPHA, target_modules="all-linear", task_type="CAUSAL_LM")
        )
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=LR, weight_decay=0.0)
        times, losses = [], []
        for s in range(n):
            batch = torch.tensor(rows[s * cfg["batch"] : (s + 1) * cfg["batch"]])
            batch_labels = torch.tensor(labels[s * cfg["batch"] : (s + 1) * cfg["batch"]])
            t0 = time.perf_counter()
            out = model(input_ids=batch, labels=batch_labels)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad()
            losses.append(out.loss.item())
            times.append(time.perf_counter() - t0)
        times = times[warmup:]
    return {"engine": engine, "step_times": times, "losses": losses, "peak_rss_mb": _vm_hwm_mb()}


def _bnb_version() -> str:
    try:
        import bitsandbytes

        return bitsandbytes.__version__
    except ImportError:
        return "not installed"


def _train_table(payload: dict) -> str:
    """The training rows (airtune against PEFT) of a full run's payload."""
    cfg, rows, ratios = payload["config"], payload["rows"], payload["ratios_vs_peft"]
    n_params = cfg["params"]
    task = (
        f"LoRA training step, Llama {n_params / 1e6:.1f}M params, seq {cfg['seq']}, batch {cfg['batch']}, "
        f"r={R} all-linear, fp32, CPU {cfg['threads']} thread(s)"
    )
    note = (
        f"median of {cfg['rounds']} x {cfg['steps']} steps (after {cfg['warmup']} warm-up), engines alternating, "
        "fresh process per run"
    )
    md = (
        "| task | airtune tokens/s | PEFT tokens/s | speed ratio | peak RSS MB (airtune / PEFT) | note |\n"
        "|---|---|---|---|---|---|\n"
    )
    labels = (
        ("airtune", "peft", ""),
        ("airtune-ckpt", "peft", ", airtune with gradient checkpointing"),
        ("airtune-nf4", "peft", ", airtune over an NF4 base (double quant), PEFT over the fp32 base"),
        ("airtune-nf4", "peft-bnb4", ", both over an NF4 base (PEFT + bitsandbytes 4-bit, double quant)"),
    )
    for w, wl in (("all", "every token labelled"), ("prompt", "half of each row an unlabelled prompt")):
        for e, p, label in labels:
            key = f"{e}/{w}" if p == "peft" else f"{e}/{w}/vs-{p}"
            ours, peer, ra = rows[f"{e}/{w}"], rows[f"{p}/{w}"], ratios[key]
            md += (
                f"| {task}, {wl}{label} | {ours['tokens_per_s']} | {peer['tokens_per_s']} | "
                f"{ra['tokens_per_s']:.2f}x | {ours['peak_rss_mb']} / {peer['peak_rss_mb']} "
                f"({ra['peak_rss']:.2f}x) | {note} |\n"
            )
    return md


def _plan_rows() -> dict:
    """Predicted and measured peaks of the plan's validation cases (one fresh child each)."""
    import plan_models

    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in plan_models.CASES:
            name, quant, ckpt, padded = case
            path = plan_models.build(Path(tmp), name)
            r = plan_models.measure(
                path,
                name,
                quant,
                ckpt,
                pythonpath=str(Path(__file__).resolve().parents[1] / "python"),
                padded=padded,
            )
            p = plan_models.predict(path, case)
            spec = plan_models.PLAN_MODELS[name]
            rows.append(
                {
                    "model": name,
                    "params": p.num_parameters,
                    "seq": spec["seq"],
                    "batch": spec["batch"],
                    "targets": spec["targets"],
                    "quantization": quant,
                    "gradient_checkpointing": ckpt,
                    "padded": padded,
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
    md = (
        "\n| plan vs measured peak | predicted MiB | measured MiB | error | weights term / load peak MiB | note |\n"
        "|---|---|---|---|---|---|\n"
    )
    load = f"load average {plan_payload['load_average_before']} -> {plan_payload['load_average_after']}"
    for r in plan_payload["rows"]:
        targets = r["targets"] if isinstance(r["targets"], str) else ",".join(r["targets"])
        what = (
            f"{r['model']} ({r['params'] / 1e6:.1f}M params), batch {r['batch']} x seq {r['seq']}, r=16 {targets}, "
            f"fp32{', NF4 base' if r['quantization'] else ''}{', gradient checkpointing' if r['gradient_checkpointing'] else ''}"
            f"{', padded batches (3 of 4 rows 3/4 long: attention mask)' if r.get('padded') else ''}"
        )
        md += (
            f"| {what} | {r['predicted_mb']} | {r['measured_mb']} | {r['error_pct']:+.1f}% | "
            f"{r.get('weights_mb', '')} / {r.get('load_peak_mb', '')} | "
            f"airtune.train.plan(device='cpu') vs the model load's RSS + the peak of 2 steps above the warmed-up RSS "
            f"(tests/python/plan_models.py), fresh process, "
            f"1 thread, {load} |\n"
        )
    return md


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--child", nargs=2, metavar=("ENGINE", "FOLDER"))
    ap.add_argument("--prompt", action="store_true", help="child: half of each row is an unlabelled prompt")
    ap.add_argument("--config", default="default")
    ap.add_argument("--plan-only", action="store_true", help="measure only the memory plan rows")
    args = ap.parse_args()
    name = "full" if args.full else args.config
    cfg = CONFIGS[name]
    if args.child:
        print(
            json.dumps(
                _child(args.child[0], args.child[1], cfg, args.steps, args.warmup, args.threads, args.prompt)
            )
        )
        return

    from _common import RESULTS, write_results

    if args.plan_only:
        previous = RESULTS / "train.json"
        payload = json.loads(previous.read_text()) if previous.is_file() else {}
        payload = {k: v for k, v in payload.items() if k not in ("area", "machine")}
        payload["plan"] = _plan_rows()
        md = _train_table(payload) if "rows" in payload else ""
        write_results("train", payload, md + _plan_table(payload["plan"]))
        return

    import peft
    import torch
    import transformers

    results: dict[str, dict] = {}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        n_params = _build(Path(tmp), cfg)
        # engines alternate (airtune, peft, airtune-ckpt, airtune, ...) so a busy machine hits all alike
        for _ in range(args.rounds):
            for workload in WORKLOADS:
                for engine in ENGINES:
                    cmd = [
                        sys.executable,
                        str(Path(__file__).resolve()),
                        "--child",
                        engine,
                        tmp,
                        "--config",
                        name,
                    ]
                    cmd += [
                        "--steps",
                        str(args.steps),
                        "--warmup",
                        str(args.warmup),
                        "--threads",
                        str(args.threads),
                    ]
                    if workload == "prompt":
                        cmd.append("--prompt")
                    proc = subprocess.run(
                        cmd, capture_output=True, text=True, check=True, env=os.environ.copy()
                    )
                    r = json.loads(proc.stdout.strip().splitlines()[-1])
                    acc = results.setdefault(
                        f"{engine}/{workload}", {"step_times": [], "losses": r["losses"], "peak_rss_mb": 0.0}
                    )
                    acc["step_times"] += r["step_times"]
                    acc["peak_rss_mb"] = max(acc["peak_rss_mb"], r["peak_rss_mb"])
    tokens = cfg["batch"] * cfg["seq"]
    rows = {}
    for key, r in results.items():
        med = statistics.median(r["step_times"])
        rows[key] = {
            "median_step_s": round(med, 4),
            "tokens_per_s": round(tokens / med, 1),
            "peak_rss_mb": r["peak_rss_mb"],
            "first_losses": [round(x, 5) for x in r["losses"][:3]],
        }
    ratios = {}
    pairs = (
        ("airtune", "peft"),
        ("airtune-ckpt", "peft"),
        ("airtune-nf4", "peft"),
        ("airtune-nf4", "peft-bnb4"),
    )
    for w in WORKLOADS:
        for e, p in pairs:
            ours, peer = rows[f"{e}/{w}"], rows[f"{p}/{w}"]
            ratios[f"{e}/{w}" if p == "peft" else f"{e}/{w}/vs-{p}"] = {
                "tokens_per_s": round(ours["tokens_per_s"] / peer["tokens_per_s"], 3),
                "peak_rss": round(ours["peak_rss_mb"] / peer["peak_rss_mb"], 3),
            }
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
            "dtype": "float32",
            "workloads": {
                "all": "every token labelled",
                "prompt": "first half of each row unlabelled (-100)",
            },
        },
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
            "bitsandbytes": _bnb_version(),
        },
        "rows": rows,
        "ratios_vs_peft": ratios,
    }
    payload["plan"] = _plan_rows()
    write_results("train", payload, _train_table(payload) + _plan_table(payload["plan"]))


if __name__ == "__main__":
    main()
