"""The demo recipe end to end at its default sizes: wall and CPU seconds of each step and the
holdout scores of the untuned base, the fine-tuned model and the API baseline.

    .venv/bin/python benchmarks/demo.py [--threads 1] [--work DIR]

Steps: generate the traffic -> quick_splits (the stand-in for the curation pipeline) -> build the
base model (tokenizer, random Llama, pretraining) -> build it again (the cache) -> LoRA fine-tune
-> generation on the holdout and scoring. CPU seconds are the process's user + system time (all
threads); on a shared machine wall time follows the load average, which is recorded per step.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import write_results  # noqa: E402


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="libtorch threads (default 1)")
    ap.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from airtune.demo import generate
    from airtune.demo.model import BaseRecipe, build_base
    from airtune.demo.recipe import FinetuneRecipe, finetune, quick_splits, score_holdout

    work = Path(args.work or tempfile.mkdtemp(prefix="airtune-demo-"))
    steps: list[dict] = []

    def run(name, fn):
        load = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), cpu()
        out = fn()
        steps.append(
            {
                "step": name,
                "wall_s": round(time.perf_counter() - t0, 1),
                "cpu_s": round(cpu() - c0, 1),
                "load_avg_1min": round(load, 1),
            }
        )
        print(steps[-1], flush=True)
        return out

    data = run("generate", lambda: generate(work / "data", seed=args.seed, show_progress=False))
    train, test = run("quick_splits", lambda: quick_splits(data.traffic))
    base_recipe = BaseRecipe()
    base = run(
        "build_base",
        lambda: build_base(
            work / "models", data.corpus, base_recipe, show_progress=False, force=True, num_threads=args.threads
        ),
    )
    again = run("build_base (cached)", lambda: build_base(work / "models", data.corpus, base_recipe))
    assert again.cached
    ft_recipe = FinetuneRecipe()
    ft = run(
        "finetune",
        lambda: finetune(
            base.path, train, work / "adapter", ft_recipe, show_progress=False, num_threads=args.threads
        ),
    )
    scores = run(
        "score_holdout",
        lambda: score_holdout(
            test,
            base.path,
            ft.merged_path,
            max_new_tokens=ft_recipe.max_new_tokens,
            show_progress=False,
            num_threads=args.threads,
        ),
    )
    print(scores.table())
    total_wall = sum(s["wall_s"] for s in steps if s["step"] != "build_base (cached)")
    total_cpu = sum(s["cpu_s"] for s in steps if s["step"] != "build_base (cached)")
    n = scores["baseline"].n
    rows = [
        "| step | wall s | CPU s | load avg |",
        "|---|---:|---:|---:|",
        *[f"| {s['step']} | {s['wall_s']} | {s['cpu_s']} | {s['load_avg_1min']} |" for s in steps],
        f"| total (first run) | {total_wall:.1f} | {total_cpu:.1f} | |",
        "",
        f"Holdout: {n} rows never seen in training (train split {len(train)} rows); base "
        f"{base.num_parameters:,} parameters, pretraining eval loss {base.initial_eval_loss:.2f} -> "
        f"{base.eval_loss:.2f}; fine-tune {ft.train.steps} steps, final loss {ft.train.final_loss:.3f}; "
        f"libtorch threads {args.threads}.",
        "",
        "| model | accuracy | hierarchical F1 | level 1 | invalid |",
        "|---|---:|---:|---:|---:|",
        *[
            f"| {s.name} | {s.accuracy:.1%} | {s.hierarchical_f1:.1%} | {s.level_accuracy[0]:.1%} | "
            f"{s.invalid_rate:.1%} |"
            for s in scores.scores
        ],
    ]
    payload = {
        "threads": args.threads,
        "steps": steps,
        "holdout_rows": n,
        "train_rows": len(train),
        "base": {
            "parameters": base.num_parameters,
            "eval_loss": base.eval_loss,
            "initial_eval_loss": base.initial_eval_loss,
            "recipe": base.recipe,
        },
        "finetune": {"steps": ft.train.steps, "final_loss": ft.train.final_loss, "recipe": vars(ft_recipe)},
        "scores": [vars(s) for s in scores.scores],
    }
    write_results("demo", payload, "\n".join(rows))


if __name__ == "__main__":
    main()
