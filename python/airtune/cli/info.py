"""``airtune info``: versions of the linked libraries, BLAS, threads, GPU."""

from __future__ import annotations

import argparse

from .core import Outcome, dumps

HELP = "versions of the linked libraries, BLAS, threads, GPU"
EXAMPLE = "airtune info"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="the same JSON (info always prints JSON)")


def run(args: argparse.Namespace) -> Outcome:
    from .. import build_info

    info = build_info()
    return Outcome(0, {"info": info}, dumps(info))
