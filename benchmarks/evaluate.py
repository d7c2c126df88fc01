"""Evaluation harness overhead: 10k items x 2 candidate models against a local OpenAI-compatible
endpoint, airtune.evaluate vs lm-evaluation-harness (lm-eval, its ``local-chat-completions``
model with a generate_until task and exact_match), each without and with its cache.

The endpoint is a stub "model" in its own process (benchmarks/_stub_endpoint.py) that answers in
microseconds, so what is measured is the harness: building requests, HTTP client, cache, scoring,
statistics. Both tools send the same chat requests (greedy, stop "\\n", 8 tokens) with 8 requests
in flight and score exact match; the accuracies are checked equal. For airtune the wall time is
split into time inside the models' ``generate`` (HTTP round trips, client included) and the rest
(cache, scoring, bootstrap intervals, paired tests, verdict); the stub reports its own CPU seconds.

    python benchmarks/evaluate.py            # 10k items, 1 repeat
    python benchmarks/evaluate.py --items 2000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import write_results

HERE = Path(__file__).resolve().parent
MODELS = ("cand-a", "cand-b")
CONCURRENCY = 8
WORDS = "order package refund login password invoice delivery broken charge late account card".split()
LABELS = ["billing", "shipping", "returns", "account", "technical", "other"]


def items(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = rng.choice(LABELS)
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))
        out.append(
            {"input": f"Ticket {i}: {text}\nAnswer with the category. label: {label}", "reference": label}
        )
    return out


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def stub_stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as r:
        return json.loads(r.read())


def run_airtune(recs: list[dict], base_url: str, cache: str | None, port: int) -> dict:
    import airtune.evaluate as E

    models = {m: E.EndpointModel(base_url, m, concurrency=CONCURRENCY, timeout=30, retries=2) for m in MODELS}
    before = stub_stats(port)
    cpu0, t0 = time.process_time(), time.perf_counter()
    rep = E.evaluate(
        recs,
        models,
        metrics=["exact_match"],
        baseline=MODELS[0],
        margin=0.02,
        cache=cache,
        generation={"max_tokens": 8, "stop": ("\n",)},
        progress=False,
    )
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    after = stub_stats(port)
    inside = sum(m.wait_seconds for m in models.values()) / CONCURRENCY  # round trips, per worker
    gen = sum(rep.settings["generate_seconds"].values())  # wall time inside the models' generate
    for m in models.values():
        m.close()
    scores = {r.model: float(r.score) for r in rep.table.itertuples()}
    return {
        "wall": wall,
        "cpu": cpu,
        "requests": after["requests"] - before["requests"] - 1,  # less the /stats call
        "stub_cpu": after["cpu_seconds"] - before["cpu_seconds"],
        "in_round_trips": inside,
        "generate": gen,
        "accuracy": scores,
    }


TASK = """task: airtune_bench
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{{{{input}}}}"
doc_to_target: "{{{{reference}}}}"
generation_kwargs:
  until: ["\\n"]
  max_gen_toks: 8
  do_sample: false
  temperature: 0
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
"""


_TM: dict = {}


def task_manager(task_dir: Path):
    """lm-eval's TaskManager indexes its ~14k bundled task files (about a minute here): built once,
    outside the timings, as a per-process setup cost like an import."""
    from lm_eval.tasks import TaskManager

    if str(task_dir) not in _TM:
        _TM[str(task_dir)] = TaskManager(include_path=str(task_dir))
    return _TM[str(task_dir)]


def run_lm_eval(task_dir: Path, base_url: str, cache: str | None, port: int) -> dict:
    import lm_eval

    tm = task_manager(task_dir)
    before = stub_stats(port)
    cpu0, t0 = time.process_time(), time.perf_counter()
    scores = {}
    for m in MODELS:
        out = lm_eval.simple_evaluate(
            model="local-chat-completions",
            model_args=(
                f"model={m},base_url={base_url}/chat/completions,num_concurrent={CONCURRENCY},"
                "tokenizer_backend=None,tokenized_requests=False,max_retries=2"
            ),
            tasks=["airtune_bench"],
            task_manager=tm,
            apply_chat_template=True,
            use_cache=None if cache is None else f"{cache}-{m}",
            log_samples=False,
            bootstrap_iters=0,
        )
        res = out["results"]["airtune_bench"]
        scores[m] = float(
            next(v for k, v in res.items() if k.startswith("exact_match") and "stderr" not in k)
        )
    wall = time.perf_counter() - t0
    after = stub_stats(port)
    return {
        "wall": wall,
        "cpu": time.process_time() - cpu0,
        "requests": after["requests"] - before["requests"] - 1,
        "stub_cpu": after["cpu_seconds"] - before["cpu_seconds"],
        "accuracy": scores,
    }


def median_run(fn, repeats: int) -> dict:
    runs = [fn() for _ in range(repeats)]
    walls = [r["wall"] for r in runs]
    best = runs[walls.index(statistics.median_low(walls))]
    return {**best, "walls": walls}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--skip-lm-eval", action="store_true")
    ap.add_argument("--render", action="store_true", help="only re-render results/evaluate.json")
    args = ap.parse_args()
    if args.render:
        from _common import RESULTS

        payload = json.loads((RESULTS / "evaluate.json").read_text())
        (RESULTS / "evaluate.md").write_text(render(payload) + "\n")
        print(render(payload))
        return
    logging.disable(logging.WARNING)
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    recs = items(args.items)
    port = free_port()
    stub = subprocess.Popen(
        [sys.executable, str(HERE / "_stub_endpoint.py"), str(port)], stdout=subprocess.PIPE, text=True
    )
    assert stub.stdout is not None and stub.stdout.readline().strip() == "ready"
    base_url = f"http://127.0.0.1:{port}/v1"
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmpd = Path(tmp)
            data = tmpd / "items.jsonl"
            data.write_text("".join(json.dumps(r) + "\n" for r in recs))
            (tmpd / "airtune_bench.yaml").write_text(TASK.format(data=data))

            def fresh_cache(name: str) -> str:
                p = tmpd / f"{name}-{time.monotonic_ns()}.sqlite"
                return str(p)

            import airtune  # noqa: F401 - import cost outside the timings
            import airtune.evaluate  # noqa: F401

            warm = items(50, seed=1)  # first-call costs (imports, dataset build) outside the timings
            run_airtune(warm, base_url, None, port)
            rows.append(
                (
                    "airtune, no cache",
                    median_run(lambda: run_airtune(recs, base_url, None, port), args.repeats),
                )
            )
            shared = fresh_cache("airtune")
            rows.append(
                (
                    "airtune, cache cold",
                    median_run(
                        lambda: run_airtune(recs, base_url, fresh_cache("airtune"), port), args.repeats
                    ),
                )
            )
            run_airtune(recs, base_url, shared, port)
            rows.append(
                (
                    "airtune, cache warm",
                    median_run(lambda: run_airtune(recs, base_url, shared, port), args.repeats),
                )
            )
            if not args.skip_lm_eval:
                import lm_eval  # noqa: F401 - import cost outside the timings

                run_lm_eval(tmpd, base_url, None, port)  # builds its dataset cache once, untimed

                rows.append(
                    (
                        "lm-eval, no cache",
                        median_run(lambda: run_lm_eval(tmpd, base_url, None, port), args.repeats),
                    )
                )
                rows.append(
                    (
                        "lm-eval, cache cold",
                        median_run(
                            lambda: run_lm_eval(tmpd, base_url, fresh_cache("lm"), port), args.repeats
                        ),
                    )
                )
                lm_shared = fresh_cache("lm")
                run_lm_eval(tmpd, base_url, lm_shared, port)
                rows.append(
                    (
                        "lm-eval, cache warm",
                        median_run(lambda: run_lm_eval(tmpd, base_url, lm_shared, port), args.repeats),
                    )
                )
    finally:
        stub.terminate()
        stub.wait(timeout=10)

    ours = rows[0][1]["accuracy"]
    for name, r in rows:
        for m in MODELS:
            got = r["accuracy"][m]
            assert abs(got - ours[m]) < 1e-12, f"{name}: exact_match of {m} = {got}, airtune's {ours[m]}"
    by = dict(rows)
    ratios = {}
    if "lm-eval, no cache" in by:
        for mode in ("no cache", "cache cold", "cache warm"):
            ours_r, peer = by[f"airtune, {mode}"], by[f"lm-eval, {mode}"]
            ratios[f"airtune / lm-eval answers/s (wall), {mode}"] = peer["wall"] / ours_r["wall"]
            ratios[f"lm-eval / airtune process CPU, {mode}"] = peer["cpu"] / ours_r["cpu"]
    versions = {"lm_eval": __import__("lm_eval").__version__ if not args.skip_lm_eval else None}
    payload = {
        "items": args.items,
        "repeats": args.repeats,
        "load_1min": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "versions": versions,
        "runs": by,
        "ratios": ratios,
    }
    write_results("evaluate", payload, render(payload))


def render(payload: dict) -> str:
    """The markdown table of a results payload (also: ``--render`` re-renders results/evaluate.json)."""
    n, runs = payload["items"], payload["runs"]
    answers = n * len(MODELS)
    ours = runs["airtune, no cache"]["accuracy"]
    load = payload.get("load_1min")
    load_s = f", 1-minute load {load:.1f}" if load is not None else ""
    lines = [
        f"{n} items x {len(MODELS)} candidate models ({answers} answers) against a local stub endpoint "
        f"(its own process, answers in microseconds: the harness is what is measured), {CONCURRENCY} requests in "
        f"flight, exact match + (airtune) bootstrap CIs, paired tests and the non-inferiority verdict; "
        f"{payload.get('cpus', os.cpu_count())} CPUs{load_s}; median of {payload['repeats']}. Accuracies equal across "
        f"tools: " + ", ".join(f"{m} {ours[m]:.4f}" for m in MODELS) + ".",
        "",
        "| run | wall s | answers/s | requests | our process CPU s | inside models' generate s | rest of the harness s | stub CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in runs.items():
        gen = r.get("generate")
        gen_s = "-" if gen is None else f"{gen:.2f}"
        rest = "-" if gen is None else f"{r['wall'] - gen:.2f}"
        lines.append(
            f"| {name} | {r['wall']:.2f} | {answers / r['wall']:.0f} | {r['requests']} | {r['cpu']:.2f} | "
            f"{gen_s} | {rest} | {r['stub_cpu']:.2f} |"
        )
    ratios = payload.get("ratios") or {}
    if "lm-eval, no cache" in runs and not any("CPU" in k for k in ratios):
        for mode in ("no cache", "cache cold", "cache warm"):
            ratios[f"lm-eval / airtune process CPU, {mode}"] = (
                runs[f"lm-eval, {mode}"]["cpu"] / runs[f"airtune, {mode}"]["cpu"]
            )
    if ratios:
        lines += ["", "| ratio | value |", "|---|---:|"] + [f"| {k} | {v:.2f} |" for k, v in ratios.items()]
    lines += [
        "",
        "Inside models' generate: wall time in the endpoint client (request building, HTTP round trips, parsing, "
        "writing each answer to the cache as it arrives); the rest is the harness around it (cache lookups, "
        "scoring, 1000-sample bootstrap intervals, paired bootstrap, approximate randomisation, the verdict). "
        "lm-eval gives no such split. The stub's CPU seconds are the model's share: the rest of the wall time is "
        "the client side. On a loaded machine the process CPU seconds compare the tools more reliably than wall "
        "time (a process waiting for a core counts as wall, not CPU).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
