"""``airtune demo``: the README's first command, the whole loop on generated shop traffic."""

from __future__ import annotations

import argparse

from .core import Outcome, common_options, path_arg

HELP = "the whole loop on generated shop traffic: curate, split, fine-tune, evaluate, verdict, cost"
DESCRIPTION = (
    "Generates production traffic of a shop (product descriptions classified into Google Product "
    "Taxonomy paths, with leaked HTML, duplicates, a repeated system prompt, off-domain rows, "
    "malformed lines and the API model's logged answers), curates it, splits off a holdout, "
    "pretrains a small Llama in place, fine-tunes a LoRA adapter, evaluates the untuned base, the "
    "fine-tuned model and the API baseline on the holdout, prints the verdict and the cost table, "
    "and says where the reports are. About 4 CPU minutes; a second run in the same folder reuses "
    "every step (docs/demo.md)."
)
EXAMPLE = """\
airtune demo                       # into ./airtune-demo
airtune demo --out /tmp/demo --quick   # reduced sizes (about a minute): checks the loop, not model quality"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=path_arg, default="airtune-demo", help="folder for the outputs")
    p.add_argument("--quick", action="store_true", help="the reduced sizes of the test suite")
    p.add_argument("--no-reuse", action="store_true", help="recompute every step")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated traffic and the training")
    p.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="libtorch threads of the model steps (1: same weights everywhere)",
    )
    common_options(p, run=False)


def run(args: argparse.Namespace) -> Outcome:
    from ..demo import run_demo

    result = run_demo(
        args.out,
        reuse=not args.no_reuse,
        progress=not args.no_progress and not args.json,
        quick=args.quick,
        seed=args.seed,
        num_threads=args.torch_threads,
    )
    return Outcome(0, result.to_dict(), result.text)
