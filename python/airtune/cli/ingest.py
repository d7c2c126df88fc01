"""``airtune ingest FILE``: read and validate a JSONL file, print the report and the summary."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from .core import (
    BadInput,
    Outcome,
    common_options,
    existing_file,
    options_of,
    path_arg,
    run_folder,
    show_progress,
)

HELP = "read and validate a JSONL file (bad lines quarantined), print the summary"
EXAMPLE = """\
airtune ingest prod_logs.jsonl.gz --out clean.jsonl
airtune ingest prod_logs.jsonl --run runs/r1        # ingest/clean.jsonl, summary.json, quarantine.jsonl"""
FORMATS = ["auto", "chat", "sharegpt", "alpaca", "prompt_completion", "text"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", type=path_arg, help="the JSONL file (gzip too)")
    p.add_argument("--format", default="auto", choices=FORMATS)
    p.add_argument("--errors", default="quarantine", choices=["raise", "skip", "quarantine"])
    p.add_argument(
        "--quarantine", type=path_arg, help="where bad lines go (default: <file>.quarantine.jsonl)"
    )
    p.add_argument("--summary-out", type=path_arg, help="write the report and summary as JSON here")
    p.add_argument("--out", type=path_arg, help="write the clean records as JSONL here")
    p.add_argument("--out-format", default="chat")
    common_options(p)


def _write_json_atomic(path: str, payload: dict) -> None:
    from .._atomic import write_text_atomic

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_text_atomic(path, json.dumps(payload, indent=2, ensure_ascii=False))


def ingest(
    path: str,
    fmt: str,
    errors: str,
    quarantine: str | None,
    summary_out: str | None,
    out: str | None,
    out_format: str,
    progress: bool,
) -> Outcome:
    from .. import io

    records = io.read_jsonl(path, format=fmt, errors=errors, quarantine_path=quarantine, progress=progress)
    report = records.report
    assert report is not None  # read_jsonl always reports
    summary = records.summary()
    lines = [report.summary_line()]
    if report.errors:
        lines.append(f"rejected lines ({report.rejected}):")
        lines += [f"  {e}" for e in report.errors[:20]]
        if report.rejected > 20:
            lines.append(f"  ... {report.rejected - 20} more")
    lines += ["", str(summary)]
    if not report.balanced:  # an invariant of the reader, never true on good code
        raise RuntimeError("line accounting does not balance")
    payload = {"report": report.to_dict(), "summary": summary.to_dict()}
    if summary_out:
        _write_json_atomic(summary_out, payload)
        lines.append(f"\nsummary written to {summary_out}")
    if out:
        n = records.write_jsonl(out, format=out_format)
        lines.append(f"{len(records)} clean records written to {out} ({n} bytes, format {out_format})")
    return Outcome(0, payload, "\n".join(lines))


def run(args: argparse.Namespace) -> Outcome:
    src = existing_file(args.path, "the JSONL to ingest")
    if not args.run:
        return ingest(
            str(src),
            args.format,
            args.errors,
            args.quarantine,
            args.summary_out,
            args.out,
            args.out_format,
            show_progress(args),
        )
    if args.out or args.summary_out or args.quarantine:
        raise BadInput(
            "--run writes ingest/clean.jsonl, summary.json and quarantine.jsonl: drop --out, --summary-out, --quarantine"
        )
    folder = run_folder(args.run)
    opts = options_of(args, drop=("path", "quarantine", "summary_out", "out"))
    with folder.step("ingest", inputs={"data": src}, options=opts) as step:
        if step.reused:
            return Outcome(
                step.exit_code, {**step.result, "reused": True}, f"ingest: reused {step.final_dir}"
            )
        d = Path(step.dir)
        outcome = ingest(
            str(src),
            args.format,
            args.errors,
            str(d / "quarantine.jsonl") if args.errors == "quarantine" else None,
            str(d / "summary.json"),
            str(d / "clean.jsonl"),
            args.out_format,
            show_progress(args),
        )
        step.commit(outcome.payload, outcome.code)
    outcome.text = outcome.text.replace(str(d), str(step.final_dir))
    return outcome
