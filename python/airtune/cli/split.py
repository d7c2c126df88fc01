"""``airtune split [DATA]``: a holdout split of a JSONL file, with the leakage check."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .core import BadInput, Outcome, common_options, existing_file, options_of, out_folder, path_arg, run_of

HELP = "holdout split of a JSONL (stratified, duplicates on one side), leakage across the sides checked"
DESCRIPTION = (
    "Splits DATA into train.jsonl and test.jsonl (airtune.split.holdout_split): deterministic for a "
    "seed, stratified, every group of duplicate texts on one side. Then checks leakage: train rows "
    "whose user turns duplicate (exactly or nearly) a test row's; --leakage drop (default) removes "
    "them from train (leaked.jsonl keeps them with the reason), report keeps them, fail exits 1. "
    "With --run and no DATA, the run's curated rows (curate/train.jsonl) are split."
)
EXAMPLE = """\
airtune split curated/train.jsonl --out split/ --fraction 0.1 --stratify metadata.gold_label
airtune split --run runs/r1                 # the run's curate/train.jsonl -> runs/r1/split/"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "data", nargs="?", type=path_arg, help="JSONL records (default with --run: curate/train.jsonl)"
    )
    p.add_argument("--out", type=path_arg, help="output folder (without --run)")
    p.add_argument("--fraction", type=float, default=0.1, help="share of the test side (0.1)")
    p.add_argument(
        "--stratify",
        default="label",
        help="selector or metadata key to stratify on ('label'; 'none': no strata; absent field: not stratified)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--select", default="conversation", help="the text whose duplicates stay on one side")
    p.add_argument(
        "--leakage", default="drop", choices=["drop", "report", "fail"], help="what a leak does (drop)"
    )
    p.add_argument("--leak-select", default="user", help="the text compared for leakage (the user turns)")
    p.add_argument("--leak-threshold", type=float, default=0.8, help="near-duplicate Jaccard of a leak (0.8)")
    common_options(p)


def default_input(folder) -> Path | None:
    for step, rel in (("curate", "train.jsonl"), ("ingest", "clean.jsonl")):
        p = folder.output(step, rel)
        if p is not None:
            return p
    return None


def split(src: Path, out: Path, args: argparse.Namespace) -> tuple[int, dict]:
    from .. import io
    from ..io.select import select_text
    from ..split import holdout_split, leakage

    if not 0 < args.fraction < 1:
        raise BadInput(f"--fraction must be in (0, 1), got {args.fraction}")
    if not 0 < args.leak_threshold <= 1:
        raise BadInput(f"--leak-threshold must be in (0, 1], got {args.leak_threshold}")
    records = io.read_jsonl(src, errors="raise", progress=False)
    if len(records) < 2:
        raise BadInput(f"{src}: {len(records)} records: nothing to split")
    strat = None if args.stratify in ("none", "") else args.stratify
    note = ""
    if strat is not None:
        sel = strat if strat in io.SELECTORS or strat.startswith("metadata.") else f"metadata.{strat}"
        if not select_text(records, sel, missing="empty").present.any():
            note = f"{args.stratify} (absent from every record: not stratified)"
            strat = None
    sp = holdout_split(records, args.fraction, stratify=strat, seed=args.seed, select=args.select)
    leak = leakage(sp.train, sp.test, select=args.leak_select, near_threshold=args.leak_threshold)
    n_leak = int(leak.remove.sum())
    train = sp.train
    if args.leakage == "drop" and n_leak:
        step = leak.apply(sp.train)
        train = step.kept
        from ..pipeline.run import _with_reasons

        _with_reasons(step.dropped, "leakage", step.dropped_reasons).write_jsonl(str(out / "leaked.jsonl"))
    train.write_jsonl(str(out / "train.jsonl"))
    sp.test.write_jsonl(str(out / "test.jsonl"))
    summary = {
        "input": str(src),
        "rows": len(records),
        "train": len(train),
        "test": len(sp.test),
        "fraction": args.fraction,
        "seed": args.seed,
        "stratify": note or strat,
        "strata": len(sp.strata),
        "singleton_strata": len(sp.singletons),
        "duplicate_groups": int(sp.duplicate_groups),
        "leakage": {
            "rows": n_leak,
            "counts": dict(leak.counts),
            "action": args.leakage,
            "dropped": n_leak if args.leakage == "drop" else 0,
        },
        "test_index": sp.test_index.tolist(),
    }
    if len(train) + len(sp.test) + summary["leakage"]["dropped"] != len(records):  # row accounting
        raise RuntimeError(f"split: {len(records)} rows in != {len(train)} + {len(sp.test)} + {n_leak}")
    from .._atomic import write_text_atomic

    write_text_atomic(out / "split.json", json.dumps(summary, indent=1, ensure_ascii=False))
    code = 1 if args.leakage == "fail" and n_leak else 0
    return code, summary


def _text(s: dict, where: Path) -> str:
    lk = s["leakage"]
    leak = (
        f"{lk['rows']} train rows leak into test ({', '.join(f'{k} {v}' for k, v in lk['counts'].items() if v)})"
        + (
            ": dropped (leaked.jsonl)"
            if lk["dropped"]
            else ""
            if lk["action"] == "report"
            else ": check failed"
        )
        if lk["rows"]
        else "no leakage between the sides"
    )
    return (
        f"split: {s['rows']} rows -> {s['train']} train / {s['test']} test (fraction {s['fraction']}, seed {s['seed']}, "
        f"stratify {s['stratify']}, {s['strata']} strata, {s['duplicate_groups']} duplicate groups kept on one side)\n"
        f"{leak}\n"
        f"outputs: {where}/train.jsonl, {where}/test.jsonl, {where}/split.json"
    )


def run(args: argparse.Namespace) -> Outcome:
    summary_keys = ("rows", "train", "test", "leakage", "stratify")
    if not args.run:
        src = existing_file(args.data, "the JSONL to split")
        out = out_folder(args)
        code, s = split(src, out, args)
        return Outcome(code, {k: s[k] for k in summary_keys} | {"out": str(out)}, _text(s, out))
    folder = run_of(args, "split")
    given = Path(args.data) if args.data else default_input(folder)
    if given is None:
        raise BadInput(
            f"{folder.path}: no curated data in this run (run `airtune curate --run` first, or give DATA)"
        )
    src = existing_file(str(given), "the JSONL to split")
    with folder.step("split", inputs={"data": src}, options=options_of(args, drop=("data", "out"))) as step:
        if step.reused:
            return Outcome(
                step.exit_code,
                {**step.result, "reused": True},
                "split: reused\n" + _text(step.result, step.final_dir),
            )
        code, s = split(src, step.dir, args)
        payload = {k: s[k] for k in summary_keys}
        step.commit(
            {
                **payload,
                "fraction": s["fraction"],
                "seed": s["seed"],
                "strata": s["strata"],
                "duplicate_groups": s["duplicate_groups"],
            },
            code,
        )
    return Outcome(code, payload | {"out": str(step.final_dir)}, _text(s, step.final_dir))
