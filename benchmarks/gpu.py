"""The GPU rows of the benchmarks (run by scripts/gpu_check.sh on a CUDA machine; on the CPU with
--tiny as its dry run).

- LoRA step: airtune.train's C++ loop vs PEFT + transformers in a plain PyTorch loop (and Liger
  Kernel's patched Llama where `liger_kernel` is importable), same random Llama config, data, LoRA
  r=16 on all linear layers, AdamW, bf16 weights on the GPU; each engine in a fresh child process,
  engines alternating over rounds; tokens/s from the median step, peak device memory of the
  process (torch.cuda.max_memory_allocated; the CPU dry run reports peak RSS), the first losses
  checked equal within bf16 noise (LoRA B starts at zero, so step 0 is the base model's loss).
- kNN: cosine kNN of n x d float32 rows: airtune's torch path (candidates on the device, exact
  rescoring) vs torch's own blocked matmul + top-k on the same device; where a faiss build with
  GPUs is importable (a carried faiss-gpu wheel), airtune's FAISS-GPU path (dedup/_faiss_gpu.py,
  what semantic_duplicates(device="cuda") runs: GPU flat, and GPU IVF on airtune's own lists) vs
  faiss-python's GpuIndexFlatIP and GpuIndexIVFFlat (its own training, same nlist / nprobe), and
  the FAISS-GPU path's graph compared bit for bit with the CPU path's (flat, ivf, ivf-gemm) on a
  prefix of the rows. The CPU dry run runs the same code with faiss-cpu standing in. Recall@k is
  against airtune's exact graph.

    python benchmarks/gpu.py --device cuda --out DIR     # the GPU rows (a few minutes on an H200)
    python benchmarks/gpu.py --device cpu --tiny --out DIR   # the same code on tiny sizes (dry run)
Writes DIR/gpu.json and DIR/gpu.md.
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

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

CONFIGS = {
    # ~50M parameters at seq 512: the LoRA workload
    "full": dict(
        vocab_size=16384,
        hidden_size=512,
        intermediate_size=1536,
        num_hidden_layers=8,
        num_attention_heads=8,
        num_key_value_heads=4,
        seq=512,
        batch=8,
    ),
    "tiny": dict(
        vocab_size=512,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        seq=32,
        batch=2,
    ),
}
R, ALPHA, LR = 16, 32.0, 1e-4


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


def _rows(cfg: dict, n: int) -> list[list[int]]:
    import random

    rng = random.Random(0)
    return [[rng.randrange(3, cfg["vocab_size"]) for _ in range(cfg["seq"])] for _ in range(n)]


def _peak_mb(device: str) -> float:
    import torch

    if device.startswith("cuda"):
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def _lora_child(
    engine: str, folder: str, cfg: dict, steps: int, warmup: int, device: str, dtype: str
) -> dict:
    import torch

    n = steps + warmup
    rows = _rows(cfg, n * cfg["batch"])
    if engine == "airtune":
        from airtune.nn._lib import native

        model = native().LoraModel(folder, R, ALPHA, 0.0, False, [], "", True, 0, dtype, device)
        from airtune.train import LoraConfig, _options

        # the trainer's options through the one conversion airtune.train uses (typed TrainOptions)
        config = LoraConfig(
            r=R,
            lora_alpha=ALPHA,
            max_steps=n,
            batch_size=cfg["batch"],
            learning_rate=LR,
            lr_scheduler="constant",
            group_by_length=False,
        )
        opts = _options(config, n, 0, folder, Path(folder), None)
        out = model.train(rows, rows, [], [], opts, None)
        times = [h.seconds for h in out.history][warmup:]
        losses = [h.loss for h in out.history]
        return {"step_times": times, "losses": losses, "peak_mb": _peak_mb(device)}
    import peft
    import transformers

    if engine == "liger":
        from liger_kernel.transformers import apply_liger_kernel_to_llama

        apply_liger_kernel_to_llama()
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype)).to(device)
    model = peft.get_peft_model(
        model, peft.LoraConfig(r=R, lora_alpha=ALPHA, target_modules="all-linear", task_type="CAUSAL_LM")
    )
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=LR, weight_decay=0.0)
    times, losses = [], []
    for s in range(n):
        batch = torch.tensor(rows[s * cfg["batch"] : (s + 1) * cfg["batch"]], device=device)
        t0 = time.perf_counter()
        out = model(input_ids=batch, labels=batch)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad()
        losses.append(out.loss.item())  # synchronises the device
        times.append(time.perf_counter() - t0)
    return {"step_times": times[warmup:], "losses": losses, "peak_mb": _peak_mb(device)}


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def bench_lora(args, cfg_name: str) -> dict:
    cfg = CONFIGS[cfg_name]
    engines = ["airtune", "peft"] + (
        ["liger"] if _importable("liger_kernel") and args.device != "cpu" else []
    )
    acc: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        n_params = _build(Path(tmp), cfg)
        for _ in range(args.rounds):
            for engine in engines:
                cmd = [sys.executable, str(Path(__file__).resolve()), "--lora-child", engine, tmp]
                cmd += ["--config", cfg_name, "--device", args.device, "--dtype", args.dtype]
                cmd += ["--steps", str(args.steps), "--warmup", str(args.warmup)]
                proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
                if proc.returncode != 0:
                    raise RuntimeError(f"LoRA child {engine} failed:\n{proc.stderr[-4000:]}")
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                a = acc.setdefault(engine, {"step_times": [], "losses": r["losses"], "peak_mb": 0.0})
                a["step_times"] += r["step_times"]
                a["peak_mb"] = max(a["peak_mb"], r["peak_mb"])
    tokens = cfg["batch"] * cfg["seq"]
    rows = {}
    for e, a in acc.items():
        med = statistics.median(a["step_times"])
        rows[e] = {
            "median_step_s": round(med, 5),
            "tokens_per_s": round(tokens / med, 1),
            "peak_mb": a["peak_mb"],
            "first_losses": [round(x, 4) for x in a["losses"][:3]],
        }
    # step 0: LoRA B is zero in both, so both compute the base model's loss on the same batch
    l0 = {e: a["losses"][0] for e, a in acc.items()}
    same_start = all(abs(v - l0["peft"]) < 0.02 * abs(l0["peft"]) for v in l0.values())
    ratios = {
        e: {
            "tokens_per_s": round(rows[e]["tokens_per_s"] / rows["peft"]["tokens_per_s"], 3),
            "peak_mem": round(rows[e]["peak_mb"] / rows["peft"]["peak_mb"], 3),
        }
        for e in rows
        if e != "peft"
    }
    return {
        "config": {**cfg, "params": n_params, "lora_r": R, "steps": args.steps, "warmup": args.warmup},
        "engines": rows,
        "ratios_vs_peft": ratios,
        "first_loss_equal": same_start,
        "skipped": [] if "liger" in acc else ["liger (liger_kernel not importable or CPU run)"],
    }


def _torch_topk(x, k: int, device: str, block: int = 4096):
    import torch

    xt = torch.nn.functional.normalize(torch.from_numpy(x).to(device), dim=1)
    ids = []
    for s in range(0, xt.shape[0], block):
        g = xt[s : s + block] @ xt.T
        r = torch.arange(s, s + g.shape[0], device=device)
        g[torch.arange(g.shape[0], device=device), r] = -float("inf")  # self excluded
        ids.append(g.topk(k, dim=1).indices)
    out = torch.cat(ids).cpu().numpy()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return out


def _faiss_raw(faiss, x, k: int, to_device, nlist: int = 0, nprobe: int = 0):
    """faiss-python as a user calls it: IndexFlatIP, or IndexIVFFlat trained by FAISS itself with
    the given nlist / nprobe, moved to the device, self dropped from each row."""
    import numpy as np

    xu = np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)
    if nlist:
        q = faiss.IndexFlatIP(x.shape[1])
        cpu = faiss.IndexIVFFlat(q, x.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
        cpu.train(xu)
        cpu.add(xu)
        cpu.nprobe = nprobe
    else:
        cpu = faiss.IndexFlatIP(x.shape[1])
        cpu.add(xu)
    index = to_device(cpu)
    if nlist and hasattr(index, "nprobe"):
        index.nprobe = nprobe
    _, ids = index.search(xu, k + 1)
    return np.stack([row[row != i][:k] for i, row in enumerate(ids)])


def _faiss_backend(device: str):
    """(backend, label): the FAISS-GPU backend of semantic dedup where a faiss with GPUs is
    importable; on the CPU dry run, faiss-cpu standing in for it (same wrapper code)."""
    from airtune.dedup import _faiss_gpu

    backend = _faiss_gpu.gpu_backend()
    if backend is not None:
        return backend, "faiss-gpu"
    if device == "cpu" and _importable("faiss"):
        import faiss

        return _faiss_gpu.FaissBackend(faiss, lambda index: index, "faiss-cpu-standin"), "faiss-cpu stand-in"
    return None, None


def bench_knn(args, n: int, d: int, k: int) -> dict:
    import numpy as np
    from _common import alternating
    from airtune import dedup
    from airtune.dedup import _faiss_gpu, semantic

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d)).astype(np.float32)
    x[1::5] = x[0::5][: len(x[1::5])] + 0.1 * rng.standard_normal((len(x[1::5]), d)).astype(np.float32)
    fns = {
        "airtune flat (torch candidates, exact rescoring)": lambda: semantic._torch_knn_self(
            x, k, device=args.device
        )[1],
        "torch matmul+topk": lambda: _torch_topk(x, k, args.device),
    }
    skipped = []
    checks: dict = {}
    backend, label = _faiss_backend(args.device)
    if backend is not None:
        # the product path: semantic_duplicates(device="cuda") takes this backend (dedup/_faiss_gpu.py)
        plan = semantic._c.ivf_plan(x, x, "ivf")
        nlist, nprobe = int(plan.nlist), int(plan.nprobe)
        del plan
        fns[f"airtune flat ({label} candidates, exact rescoring)"] = lambda: _faiss_gpu.knn_self(
            backend, x, k, "flat"
        )[1]
        fns[f"airtune ivf nlist={nlist} nprobe={nprobe} ({label} on airtune's lists)"] = lambda: (
            _faiss_gpu.knn_self(backend, x, k, "ivf")[1]
        )
        fns[f"faiss IndexFlatIP ({label})"] = lambda: _faiss_raw(backend.faiss, x, k, backend.to_device)
        fns[f"faiss IndexIVFFlat nlist={nlist} nprobe={nprobe} ({label}, its own training)"] = lambda: (
            _faiss_raw(backend.faiss, x, k, backend.to_device, nlist, nprobe)
        )
        # same results as the CPU path on the same data (a prefix, so the CPU's exact search fits the budget)
        m = min(n, args.check_rows)
        xc = x[:m]
        for index in ("flat", "ivf", "ivf-gemm"):
            gs, gi, used = _faiss_gpu.knn_self(backend, xc, k, index)
            cs, ci, cused = semantic._c.knn_self_cosine(xc, k, index)
            checks[index] = {
                "rows": m,
                "index": used,
                "same_ids": bool(np.array_equal(gi, ci)),
                "same_score_bits": bool(np.array_equal(gs.view(np.uint32), cs.view(np.uint32))),
            }
        if label == "faiss-gpu":
            r = dedup.semantic_duplicates(xc, 0.95, k=k, index="ivf", device="cuda")
            checks["dispatcher"] = {"index": r.index, "device": r.device}
    else:
        skipped.append(
            "faiss GPU (no faiss build with GPUs importable: carry a faiss-gpu wheel in .gpu/wheels)"
        )
    t = alternating(fns, args.repeats)
    ours = t["airtune flat (torch candidates, exact rescoring)"].result
    rows = {}
    for name, tm in t.items():
        got = tm.result
        recall = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ours, got)]))
        rows[name] = {**tm.as_dict(), "rows_per_s": round(n / tm.median, 1), "recall_vs_exact": recall}
    return {
        "config": {"n": n, "d": d, "k": k, "repeats": args.repeats},
        "engines": rows,
        "same_as_cpu_path": checks,
        "skipped": skipped,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default=None, help="LoRA weights: bfloat16 on cuda, float32 on cpu by default")
    ap.add_argument("--tiny", action="store_true", help="tiny sizes (the CPU dry run)")
    ap.add_argument("--out", default=str(ROOT / "results"))
    ap.add_argument("--only", choices=("lora", "knn"), default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--check-rows", type=int, default=50_000, help="kNN: rows compared with the CPU path")
    ap.add_argument("--config", default=None)
    ap.add_argument("--lora-child", nargs=2, metavar=("ENGINE", "FOLDER"))
    args = ap.parse_args()
    args.dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    cfg_name = args.config or ("tiny" if args.tiny else "full")
    args.steps = args.steps or (3 if args.tiny else 10)
    if args.lora_child:
        r = _lora_child(*args.lora_child, CONFIGS[cfg_name], args.steps, args.warmup, args.device, args.dtype)
        print(json.dumps(r))
        return

    import torch
    from _common import machine

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("benchmarks/gpu.py: torch sees no CUDA device (use --device cpu --tiny for the dry run)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    payload: dict = {
        "area": "gpu",
        "machine": machine(),
        "device": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu",
        "dtype": args.dtype,
        "tiny": args.tiny,
        "load_average_before": round(os.getloadavg()[0], 2),
    }
    t0 = time.perf_counter()
    if args.only in (None, "lora"):
        payload["lora"] = bench_lora(args, cfg_name)
    if args.only in (None, "knn"):
        n, d = (2000, 32) if args.tiny else (200_000, 384)
        payload["knn"] = bench_knn(args, n, d, 10)
    payload["seconds"] = round(time.perf_counter() - t0, 1)
    payload["load_average_after"] = round(os.getloadavg()[0], 2)
    lines = [f"GPU rows on {payload['device']} ({args.dtype}; tiny={args.tiny}); {payload['seconds']} s", ""]
    if "lora" in payload:
        L = payload["lora"]
        c = L["config"]
        lines += [
            f"LoRA step: {c['params'] / 1e6:.1f}M-parameter Llama, batch {c['batch']} x seq {c['seq']}, "
            f"r={R}, {c['steps']} timed steps x {args.rounds} rounds; first losses equal: {L['first_loss_equal']}",
            "",
            "| engine | tokens/s | peak MB | vs PEFT tokens/s | vs PEFT memory |",
            "|---|---:|---:|---:|---:|",
        ]
        for e, r in L["engines"].items():
            rr = L["ratios_vs_peft"].get(e, {"tokens_per_s": 1.0, "peak_mem": 1.0})
            lines.append(
                f"| {e} | {r['tokens_per_s']:.0f} | {r['peak_mb']:.0f} | {rr['tokens_per_s']:.2f}x | "
                f"{rr['peak_mem']:.2f}x |"
            )
        lines.append("")
    if "knn" in payload:
        K = payload["knn"]
        c = K["config"]
        lines += [
            f"Exact kNN: {c['n']} x {c['d']} float32, k={c['k']}, medians of {c['repeats']} alternating runs",
            "",
            "| engine | median s | rows/s | recall@k vs exact |",
            "|---|---:|---:|---:|",
        ]
        for e, r in K["engines"].items():
            lines.append(
                f"| {e} | {r['median_s']:.3f} | {r['rows_per_s']:.0f} | {r['recall_vs_exact']:.4f} |"
            )
        lines.append("")
        for index, c in K.get("same_as_cpu_path", {}).items():
            if index == "dispatcher":
                lines.append(f"semantic_duplicates(device='cuda') ran {c['index']} on {c['device']}.")
            else:
                lines.append(
                    f"Same as the CPU path, {index} on {c['rows']} rows ({c['index']}): ids {c['same_ids']}, "
                    f"score bits {c['same_score_bits']}."
                )
        lines.append("")
    skipped = payload.get("lora", {}).get("skipped", []) + payload.get("knn", {}).get("skipped", [])
    if skipped:
        lines.append("Not measured: " + "; ".join(skipped) + ".")
    (out / "gpu.json").write_text(json.dumps(payload, indent=2) + "\n")
    (out / "gpu.md").write_text("\n".join(lines).rstrip() + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
