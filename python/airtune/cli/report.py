"""``airtune report RUN_DIR``: rebuild the HTML report of a run; ``--compare`` another run."""

from __future__ import annotations

import argparse
from pathlib import Path

from .core import BadInput, Outcome, path_arg

HELP = "rebuild the HTML report of a run folder from its manifest and outputs (--compare OTHER_RUN)"
DESCRIPTION = (
    "Writes RUN_DIR/report.html (one self-contained page: the steps and their timings, the curation "
    "funnel, the split, the training curves, the evaluation with the verdict, the cost case, the "
    "drift) from RUN_DIR/manifest.json and the outputs of each step; a step whose files no longer "
    "match the manifest's SHA-256 is marked. --compare OTHER_RUN adds the options, inputs and figures "
    "that differ (also printed)."
)
EXAMPLE = """\
airtune report runs/r1                       # runs/r1/report.html
airtune report runs/r2 --compare runs/r1     # what changed since r1"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", type=path_arg, metavar="RUN_DIR", help="a run folder")
    p.add_argument("--compare", type=path_arg, metavar="OTHER_RUN", help="another run folder to compare with")
    p.add_argument("--out", type=path_arg, help="write the page here (default RUN_DIR/report.html)")
    g = p.add_argument_group("common options")
    g.add_argument(
        "--config", type=path_arg, metavar="FILE", help="options from a TOML or YAML file (flags win)"
    )
    g.add_argument("--json", action="store_true", help="print the result as JSON (for scripts)")


def run(args: argparse.Namespace) -> Outcome:
    from .._atomic import write_text_atomic
    from ..runs import RunFolder, collect, compare, render, text_compare

    for path in (args.run_dir, args.compare):
        if path is not None and not (Path(path) / "manifest.json").exists():
            raise BadInput(f"{path}: not a run folder (no manifest.json)")
    folder = RunFolder(args.run_dir, create=False)
    data = collect(folder)
    diff = compare(data, collect(RunFolder(args.compare, create=False))) if args.compare else None
    target = Path(args.out) if args.out else folder.path / "report.html"
    write_text_atomic(target, render(data, diff))
    changed = {k: v for k, v in data["integrity"].items() if v}
    lines = [f"report: {target}"]
    lines += [f"warning: {k}: files changed since the run: {', '.join(v[:3])}" for k, v in changed.items()]
    if diff is not None:
        lines.append(text_compare(diff))
    payload = {"report": str(target), "steps": list(folder.steps), "changed": changed}
    if diff is not None:
        payload["compare"] = diff
    return Outcome(0, payload, "\n".join(lines))
