"""The demo end to end at its full sizes (``airtune.demo.run_demo``): wall and CPU seconds of each
step, a second run in the same folder (what it reuses), and the holdout scores of the untuned base,
the fine-tuned model and the API baseline with the verdict.

    .venv/bin/python benchmarks/demo.py [--threads 1] [--work DIR] [--seed 0]

CPU seconds are the process's user + system time (all threads); on a shared machine wall time
follows the load average, which is recorded before each run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import write_results  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="libtorch threads (default 1)")
    ap.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from airtune.demo import run_demo

    work = Path(args.work or tempfile.mkdtemp(prefix="airtune-demo-"))
    runs = []
    for label, reuse in (("first run", False), ("second run", True)):
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        res = run_demo(work, reuse=reuse, progress=False, seed=args.seed, num_threads=args.threads)
        runs.append((label, load, time.perf_counter() - t0, res))
        print(f"{label}: {runs[-1][2]:.1f} s", flush=True)
    first, second = runs[0][3], runs[1][3]
    assert second.to_dict()["scores"] == first.to_dict()["scores"], "a reused run gave other numbers"

    rows = ["| step | first run: wall s | CPU s | second run: wall s | reused |", "|---|---:|---:|---:|---|"]
    for a, b in zip(first.steps, second.steps):
        rows.append(
            f"| {a.name} | {a.seconds:.1f} | {a.cpu_seconds:.1f} | {b.seconds:.1f} | {'yes' if b.cached else 'no'} |"
        )
    rows += [
        f"| total | {first.seconds:.1f} | {sum(s.cpu_seconds for s in first.steps):.1f} | {second.seconds:.1f} | |",
        "",
        f"Load average (1 min) before the runs: {runs[0][1]:.1f} and {runs[1][1]:.1f}; libtorch threads {args.threads}.",
        f"Curation: {first.accounting['rows_in']} rows in = {first.accounting['kept']} kept + "
        f"{first.accounting['dropped']} dropped + {first.accounting['quarantined']} quarantined; "
        f"{first.holdout['train_rows']} training rows, {first.holdout['scored']} holdout rows scored. "
        f"Base {first.base['parameters']:,} parameters, pretraining eval loss {first.base['initial_eval_loss']:.2f} -> "
        f"{first.base['eval_loss']:.2f}; fine-tune {first.train['steps']} steps, final loss {first.train['final_loss']:.3f}.",
        "",
        "| model | accuracy (95% CI) | hierarchical F1 (95% CI) |",
        "|---|---:|---:|",
    ]
    by = {(s["model"], s["metric"]): s for s in first.scores}
    for m in ("untuned", "fine-tuned", "api"):
        a, h = by[(m, "accuracy")], by[(m, "hierarchical_f1")]
        rows.append(
            f"| {m} | {a['score']:.1%} [{a['ci_low']:.1%}, {a['ci_high']:.1%}] | "
            f"{h['score']:.1%} [{h['ci_low']:.1%}, {h['ci_high']:.1%}] |"
        )
    rows += ["", f"Verdict: {first.verdict} ({first.verdict_reading})"]
    payload = {
        "threads": args.threads,
        "load_avg_1min": [r[1] for r in runs],
        "first": first.to_dict(),
        "second_steps": [vars(s) for s in second.steps],
    }
    write_results("demo", payload, "\n".join(rows))


if __name__ == "__main__":
    main()
