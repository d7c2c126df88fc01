"""``airtune curate CONFIG``: run a curation pipeline from a TOML or YAML file."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import warnings
from pathlib import Path

from .core import BadInput, CheckFailed, Outcome, common_options, existing_file, path_arg, run_of

HELP = "run a curation pipeline (TOML or YAML config): clean, dedup, filter, split, with accounting"
DESCRIPTION = (
    "Runs the stages of CONFIG (docs/pipeline.md) on the input; every row is kept, dropped with a "
    "reason or quarantined, and the counts are checked. Stages already computed with the same input "
    "and options are reused from the output folder's .cache (--no-resume recomputes)."
)
EXAMPLE = """\
airtune curate pipeline.toml --input prod_logs.jsonl --out curated/
airtune curate pipeline.toml --input prod_logs.jsonl --run runs/r1    # runs/r1/curate/
airtune curate pipeline.toml --input prod_logs.jsonl --out curated/ --engine ray --address auto"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pipeline", type=path_arg, metavar="CONFIG", help="pipeline config (.toml, .yaml)")
    p.add_argument("--input", type=path_arg, help="the JSONL to curate (overrides the config's input)")
    p.add_argument(
        "--out", type=path_arg, help="output folder (overrides the config's output); not with --run"
    )
    p.add_argument("--no-resume", action="store_true", help="recompute every stage")
    p.add_argument("--engine", default="local", choices=["local", "ray"], help="where it runs (local)")
    p.add_argument("--address", help="--engine ray: the cluster (ray.init's address; default: a local one)")
    p.add_argument("--blocks", type=int, help="--engine ray: read tasks (default: one per read.batch_bytes)")
    p.add_argument(
        "--progress", action="store_true", help=argparse.SUPPRESS
    )  # the default now; kept for scripts
    common_options(p)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)  # the pipeline replaces its files by rename: this inode stays as it is
    except OSError:
        shutil.copy2(src, dst)


def _funnel_text(result, where: dict[str, str]) -> str:
    lines = [result.summary_line()]
    for row in result.funnel:
        cached = " (cached)" if row["cached"] else ""
        lines.append(
            f"  {row['stage']:<20} {row['rows_in']:>9} in {row['kept']:>9} kept {row['dropped']:>8} dropped{cached}"
        )
    lines += [f"{name:>12}: {path}" for name, path in where.items()]
    return "\n".join(lines)


def _payload(result, where: dict[str, str]) -> dict:
    return {"accounting": result.accounting, "funnel": result.funnel, "paths": where}


def curate(pipeline, source: str, target: Path, resume: bool):
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda msg, *a, **k: print(f"warning: {msg}", file=sys.stderr)
        try:
            return pipeline.run(source, target, resume=resume)
        except (OSError, ValueError, ImportError) as exc:  # a Ray ConnectionError is an OSError
            raise CheckFailed(str(exc)) from exc  # names the stage


def run(args: argparse.Namespace) -> Outcome:
    from ..pipeline import Pipeline, PipelineConfigError

    if not Path(args.pipeline).exists():
        raise BadInput(f"{args.pipeline}: no such config file")
    existing_file(args.pipeline, "the pipeline config")
    try:
        pipeline, cfg_input, cfg_output = Pipeline.from_config(args.pipeline)
    except PipelineConfigError as exc:
        raise BadInput(str(exc)) from None
    pipeline.progress = not args.no_progress and not args.json
    if args.engine != "local" or args.address is not None:
        try:
            pipeline = Pipeline(
                pipeline.stages,
                progress=pipeline.progress,
                engine=args.engine,
                address=args.address,
                blocks=args.blocks,
            )
        except (ValueError, ImportError) as exc:
            raise BadInput(str(exc)) from None
    source = args.input or cfg_input
    if not source:
        raise BadInput("give the input (in the config or --input)")
    if not args.run:
        target = args.out or cfg_output
        if not target:
            raise BadInput("give the output folder (in the config, --out, or --run)")
        result = curate(pipeline, source, Path(target), not args.no_resume)
        return Outcome(0, _payload(result, result.paths), _funnel_text(result, result.paths))
    src = existing_file(source, "the JSONL to curate")
    folder = run_of(args, "curate")
    stages = [{"stage": s.name, **s.options} for s in pipeline.stages]
    with folder.step("curate", inputs={"data": src}, options={"stages": stages}) as step:
        if step.reused:
            where = {k: str(folder.path / v) for k, v in step.result.get("paths", {}).items()}
            text = f"curate: reused {step.final_dir} (same input and stages)\n" + "\n".join(
                f"{k:>12}: {v}" for k, v in where.items()
            )
            return Outcome(step.exit_code, {**step.result, "reused": True}, text)
        work = folder.path / ".work" / "curate"  # the pipeline's own folder: its .cache makes reruns cheap
        result = curate(pipeline, str(src), work, not args.no_resume)
        rel = {}
        for f in sorted(work.iterdir()):
            if f.is_file() and not f.name.startswith("."):
                _link_or_copy(f, step.dir / f.name)
        for name, path in result.paths.items():
            rel[name] = f"curate/{Path(path).name}"
        step.commit(_payload(result, rel), 0)
    where = {k: str(folder.path / v) for k, v in rel.items()}
    return Outcome(0, _payload(result, where), _funnel_text(result, where))
