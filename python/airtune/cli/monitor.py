"""``airtune monitor TRAIN PRODUCTION``: drift of production traffic against the training data."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from .core import (
    EXIT_FAILED,
    BadInput,
    Outcome,
    common_options,
    existing_file,
    options_of,
    out_folder,
    path_arg,
    run_of,
    show_progress,
)

HELP = "drift of production traffic against the training data: calibrated tests, retrain or not, drifted rows"
DESCRIPTION = (
    "Compares PRODUCTION (a window of production logs, JSONL) with TRAIN (the training records) with "
    "airtune.monitor.drift: embedding MMD with a permutation p-value, the share of rows far from every "
    "training row (threshold calibrated on held-out training rows), cluster and label shifts (PSI), "
    "unseen system prompts, lengths, and per --window when the rows carry timestamps "
    "(metadata[--time-key]). Writes drift.json, candidates.jsonl (the drifted rows, for the next "
    "`airtune curate`) and regression_cases.jsonl (for the pytest plugin). Exit 1 when it recommends "
    "retraining. Both files must be in the same record format; an empty window is bad input. "
    "--curate CONFIG first passes production through the per-row stages (clean, quality) of the "
    "curation config that made TRAIN, so raw logs are compared in the form the training data has."
)
EXAMPLE = """\
airtune monitor runs/r1/split/train.jsonl production.jsonl --window 1D --out drift/
airtune monitor runs/r1/split/train.jsonl production.jsonl --since 2025-04-15 --run runs/r1 --json
airtune monitor curated/train.jsonl raw_logs.jsonl --curate pipeline.toml --window 1D --out drift/"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("train", type=path_arg, metavar="TRAIN", help="the training records (JSONL)")
    p.add_argument("production", type=path_arg, metavar="PRODUCTION", help="production traffic (JSONL logs)")
    p.add_argument("--out", type=path_arg, help="output folder (without --run)")
    p.add_argument("--select", help="the text compared (a selector; default: the last user turn)")
    p.add_argument("--window", help="windows over time: 1D, 6h, 1W or seconds (needs timestamps)")
    p.add_argument("--time-key", default="timestamp", help="metadata key of the timestamps (timestamp)")
    p.add_argument("--since", help="only production rows at or after this time (ISO 8601 or seconds)")
    p.add_argument("--until", help="only production rows before this time")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--far-alpha", type=float, default=0.05, help="calibrated false-alarm rate of 'far' rows")
    p.add_argument("--calibration-share", type=float, default=0.2)
    p.add_argument("--permutations", type=int, default=500)
    p.add_argument("--max-mmd-rows", type=int, default=1000)
    p.add_argument("--k", type=int, help="clusters (default: from the data)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--curate",
        type=path_arg,
        metavar="CONFIG",
        help="pass production through this curation config's clean and quality stages first",
    )
    common_options(p)


def _dominant(formats: np.ndarray) -> tuple[str, float]:
    counts = Counter(formats.tolist())
    name, n = counts.most_common(1)[0]
    return str(name), n / max(1, len(formats))


def load(train_path: Path, prod_path: Path, args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    from .. import io
    from ..monitor.drift import _field, _parse_time

    train = io.read_jsonl(train_path, errors="raise", progress=False)
    prod = io.read_jsonl(prod_path, errors="skip", progress=False)
    assert prod.report is not None  # read_jsonl always reports
    info: dict[str, Any] = {"production_rejected_lines": int(prod.report.rejected)}
    if not len(train):
        raise BadInput(f"{train_path}: no training records")
    if not len(prod):
        raise BadInput(f"{prod_path}: no production records (an empty window)")
    (tf, ts), (pf, ps) = _dominant(train.formats), _dominant(prod.formats)
    if tf != pf:
        raise BadInput(
            f"{prod_path}: the production records are {pf} ({ps:.0%}), the training records {tf} "
            f"({ts:.0%}): export production in the training data's format"
        )
    if args.since or args.until:
        raw = _field(prod, f"metadata.{args.time_key}")
        try:
            times = np.array([_parse_time(v, i) for i, v in enumerate(raw)], dtype=np.float64)
            lo = _parse_time(args.since, -1) if args.since else -np.inf
            hi = _parse_time(args.until, -1) if args.until else np.inf
        except ValueError as exc:
            raise BadInput(f"{prod_path}: {exc} (metadata.{args.time_key}, --since/--until)") from None
        rows = np.flatnonzero((times >= lo) & (times < hi))
        if rows.size == 0:
            raise BadInput(
                f"{prod_path}: no production row between {args.since or 'the start'} and "
                f"{args.until or 'the end'} (an empty window; the rows span "
                f"{_iso(times.min())} to {_iso(times.max())})"
            )
        info["window"] = {"since": args.since, "until": args.until, "rows": int(rows.size), "of": len(prod)}
        prod = prod.take(rows)
    if args.curate:
        prod, info["curated"] = curate_production(prod, Path(args.curate), progress=show_progress(args))
        if not len(prod):
            raise BadInput(f"{prod_path}: every production row was dropped by {args.curate}'s stages")
    return train, prod, info


# the stages that rewrite or filter one row at a time: what production goes through before comparing
_ROW_STAGES = ("clean", "quality")


def curate_production(prod: Any, config: Path, *, progress: bool) -> tuple[Any, dict[str, Any]]:
    """Production through the clean and quality stages of the curation config (with the options the
    training data was curated with); dedup, split and the other whole-set stages are not applied
    (repeated production prompts are traffic, not noise). Returns the rows kept and what happened."""
    import tempfile
    import warnings

    from ..pipeline import Pipeline, PipelineConfigError

    existing_file(str(config), "the curation config (--curate)")
    try:
        pipeline, _, _ = Pipeline.from_config(config)
    except PipelineConfigError as exc:
        raise BadInput(str(exc)) from None
    stages = [s for s in pipeline.stages if s.name in _ROW_STAGES]
    if not stages:
        raise BadInput(f"{config}: no clean or quality stage to pass production through")
    with tempfile.TemporaryDirectory(prefix="airtune-monitor-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a heavy filter on production is reported below, not warned
        result = Pipeline(stages, progress=progress).run(prod, Path(tmp) / "curated")
        kept = result.train
        len(kept)  # read from the folder before it goes
    acc = result.accounting
    dropped = {r["stage"]: r["dropped"] for r in result.funnel}
    return kept, {"config": str(config), "rows_in": acc["rows_in"], "kept": len(kept), "dropped": dropped}


def _iso(t: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(float(t), tz=timezone.utc).isoformat(timespec="seconds")


def monitor(
    train_path: Path, prod_path: Path, out: Path, args: argparse.Namespace
) -> tuple[int, dict[str, Any], str]:
    from ..monitor import drift

    train, prod, info = load(train_path, prod_path, args)
    report = drift(
        train,
        prod,
        select=args.select,
        time_key=args.time_key,
        window=args.window,
        alpha=args.alpha,
        far_alpha=args.far_alpha,
        calibration_share=args.calibration_share,
        max_mmd_rows=args.max_mmd_rows,
        permutations=args.permutations,
        k=args.k,
        seed=args.seed,
    )
    paths = report.export(out, prod)
    n = len(report.drifted_rows())
    payload = {
        "recommendation": report.recommendation,
        "reasons": list(report.reasons),
        "flags": dict(report.flags),
        "drift_began": report.drift_began,
        "target_clusters": list(report.target_clusters),
        "n_train": report.n_train,
        "n_production": report.n_production,
        "drifted_rows": n,
        **info,
    }
    text = repr(report)
    if "curated" in info:
        c = info["curated"]
        text = (
            f"production through {Path(c['config']).name}'s clean/quality stages: {c['rows_in']} rows, "
            f"{c['kept']} kept\n" + text
        )
    text += f"\n{n} drifted rows exported: {Path(paths['candidates']).name} (next curation), "
    text += f"{Path(paths['regression_cases']).name} (regression cases)"
    return (EXIT_FAILED if report.recommendation == "retrain" else 0), payload, text


def run(args: argparse.Namespace) -> Outcome:
    tr = existing_file(args.train, "the training records (TRAIN)")
    pr = existing_file(args.production, "the production traffic (PRODUCTION)")
    if not args.run:
        out = out_folder(args)
        code, payload, text = monitor(tr, pr, out, args)
        return Outcome(code, payload | {"out": str(out)}, text + f"\noutputs: {out}")
    folder = run_of(args, "monitor")
    inputs = {"train": tr, "production": pr}
    if args.curate:  # its stages decide the outputs: hashed as an input
        inputs["curate"] = existing_file(args.curate, "the curation config (--curate)")
    with folder.step(
        "monitor",
        inputs=inputs,
        options=options_of(args, drop=("train", "production", "out", "curate")),
    ) as step:
        if step.reused:
            import json

            saved = json.loads((step.final_dir / "drift.json").read_text(encoding="utf-8"))
            text = f"monitor: reused {step.final_dir}: recommendation {saved['recommendation']}"
            return Outcome(step.exit_code, {**step.result, "reused": True}, text)
        code, payload, text = monitor(tr, pr, step.dir, args)
        step.commit(payload, code)
    return Outcome(code, payload | {"out": str(step.final_dir)}, text + f"\noutputs: {step.final_dir}")
