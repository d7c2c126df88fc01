"""``airtune demo``: the README's first command."""

from __future__ import annotations

import argparse
import os
from importlib import resources

from .core import Outcome, path_arg
from .ingest import ingest

HELP = "ingest the bundled sample file, quarantining its bad lines"
EXAMPLE = "airtune demo --out airtune-demo"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=path_arg, default="airtune-demo", help="folder for the outputs")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> Outcome:
    sample = str(resources.files("airtune") / "data" / "sample_chat.jsonl")
    os.makedirs(args.out, exist_ok=True)
    out = ingest(
        sample,
        "auto",
        "quarantine",
        os.path.join(args.out, "sample.quarantine.jsonl"),
        os.path.join(args.out, "summary.json"),
        os.path.join(args.out, "sample.clean.jsonl"),
        "chat",
        False,
    )
    out.text = f"ingesting the bundled sample {sample}\n\n" + out.text
    return out
