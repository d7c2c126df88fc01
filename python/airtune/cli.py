"""The ``airtune`` command line.

airtune info                          versions, BLAS, threads, GPU
airtune ingest FILE [options]         read + validate a JSONL file, print the summary
airtune demo [--out DIR]              ingest the bundled sample with quarantine
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from importlib import resources

from . import build_info, set_num_threads


def _ingest(
    path: str,
    fmt: str,
    errors: str,
    quarantine: str | None,
    summary_out: str | None,
    out: str | None,
    out_format: str,
    progress: bool,
) -> int:
    from . import io

    records = io.read_jsonl(path, format=fmt, errors=errors, quarantine_path=quarantine, progress=progress)
    report = records.report
    summary = records.summary()
    print(report.summary_line())
    if report.errors:
        print(f"rejected lines ({report.rejected}):")
        for e in report.errors[:20]:
            print(f"  {e}")
        if report.rejected > 20:
            print(f"  ... {report.rejected - 20} more")
    print()
    print(summary)
    assert report.balanced, "line accounting does not balance"  # invariant of the reader
    if summary_out:
        payload = {"report": report.to_dict(), "summary": summary.to_dict()}
        tmp = summary_out + ".tmp"
        os.makedirs(os.path.dirname(os.path.abspath(summary_out)), exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=2, ensure_ascii=False)
        os.replace(tmp, summary_out)
        print(f"\nsummary written to {summary_out}")
    if out:
        n = records.write_jsonl(out, format=out_format)
        print(f"{len(records)} clean records written to {out} ({n} bytes, format {out_format})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="airtune", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, help="size of airtune's thread pool")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("info", help="versions of the linked libraries, BLAS, threads, GPU")

    ing = sub.add_parser("ingest", help="read and validate a JSONL file")
    ing.add_argument("path")
    ing.add_argument(
        "--format",
        default="auto",
        choices=["auto", "chat", "sharegpt", "alpaca", "prompt_completion", "text"],
    )
    ing.add_argument("--errors", default="quarantine", choices=["raise", "skip", "quarantine"])
    ing.add_argument("--quarantine", help="where bad lines go (default: <file>.quarantine.jsonl)")
    ing.add_argument("--summary-out", help="write the report and summary as JSON here")
    ing.add_argument("--out", help="write the clean records as JSONL here")
    ing.add_argument("--out-format", default="chat")
    ing.add_argument("--no-progress", action="store_true")

    demo = sub.add_parser("demo", help="ingest the bundled sample file, quarantining its bad lines")
    demo.add_argument("--out", default="airtune-demo", help="folder for the outputs")

    args = parser.parse_args(argv)
    if args.threads:
        set_num_threads(args.threads)
    if args.command == "info":
        print(json.dumps(build_info(), indent=2))
        return 0
    if args.command == "ingest":
        return _ingest(
            args.path,
            args.format,
            args.errors,
            args.quarantine,
            args.summary_out,
            args.out,
            args.out_format,
            not args.no_progress,
        )
    sample = str(resources.files("airtune") / "data" / "sample_chat.jsonl")
    os.makedirs(args.out, exist_ok=True)
    print(f"ingesting the bundled sample {sample}\n")
    return _ingest(
        sample,
        "auto",
        "quarantine",
        os.path.join(args.out, "sample.quarantine.jsonl"),
        os.path.join(args.out, "summary.json"),
        os.path.join(args.out, "sample.clean.jsonl"),
        "chat",
        False,
    )


if __name__ == "__main__":
    sys.exit(main())
