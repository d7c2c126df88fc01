"""The ``airtune`` command line: one verb per step of the loop, one run folder for a run.

  airtune demo                         the whole loop on generated shop traffic (README's first command)
  airtune info                         versions, BLAS, threads, GPU
  airtune ingest FILE                  read + validate a JSONL file, print the summary
  airtune curate CONFIG                run a curation pipeline (TOML or YAML)
  airtune split [DATA]                 holdout split of a JSONL, leakage checked
  airtune train [DATA] --base MODEL    LoRA fine-tune -> PEFT adapter, loss curves
  airtune evaluate [DATA] --model N=S  models on a test set -> scores, intervals, verdict
  airtune serve MODEL                  an OpenAI-compatible HTTP server over a model folder
  airtune cost                         monthly cost table and the replacement case
  airtune monitor TRAIN PRODUCTION     drift of production traffic, drifted rows exported
  airtune report RUN_DIR               the HTML report of a run (--compare OTHER_RUN)

Every verb: --help shows an example; --config FILE (TOML/YAML, flags win); --json; --run DIR (the
run folder: outputs + manifest.json; a rerun with the same inputs and options is reused).
Exit codes: 0 done, 1 the verdict or check failed, 2 bad input, 3 internal error. See docs/cli.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import traceback
from importlib import import_module

from .core import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERNAL, BadInput, CheckFailed, emit, fail, merge_config

#: Verb modules in the order ``airtune --help`` lists them.
VERBS = (
    "demo",
    "info",
    "ingest",
    "curate",
    "split",
    "train",
    "evaluate",
    "serve",
    "cost",
    "monitor",
    "report",
)


def _verb(name: str):
    return import_module(f".{name}", __name__)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(
        prog="airtune", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, help="size of airtune's thread pool")
    sub = parser.add_subparsers(dest="command", required=True, metavar="VERB")
    verbs = {}
    for name in VERBS:
        mod = _verb(name)
        p = sub.add_parser(
            name,
            help=mod.HELP,
            description=textwrap.fill(getattr(mod, "DESCRIPTION", mod.HELP), 100),
            epilog="example:\n" + "\n".join(f"  {line}" for line in mod.EXAMPLE.strip().splitlines()),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.add_arguments(p)
        verbs[name] = p
    return parser, verbs


def _verb_argv(argv: list[str], command: str) -> list[str]:
    return argv[argv.index(command) + 1 :] if command in argv else []


# Exceptions that mean bad input wherever they come from (the messages name the file and place).
def _bad_input_types() -> tuple[type[BaseException], ...]:
    from .._core import ParseError
    from ..runs import RunFolderError

    return (BadInput, RunFolderError, ParseError, ValueError, OSError, KeyError, UnicodeDecodeError)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, verbs = build_parser()
    args = parser.parse_args(argv)  # argparse itself exits 2 on a bad flag
    as_json = bool(getattr(args, "json", False))
    verb = args.command
    try:
        if args.threads is not None:
            from .. import set_num_threads

            set_num_threads(args.threads)  # ValueError (bad input) below 1
        if getattr(args, "config", None):
            args = merge_config(args, verbs[verb], _verb_argv(argv, verb), verbs)
        outcome = _verb(verb).run(args)
    except KeyboardInterrupt:
        return fail(verb, "interrupted (nothing of this step was committed)", 130, as_json)
    except CheckFailed as exc:
        return fail(verb, str(exc), EXIT_FAILED, as_json)
    except _bad_input_types() as exc:
        if os.environ.get("AIRTUNE_DEBUG"):
            traceback.print_exc()
        msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        return fail(verb, msg or type(exc).__name__, EXIT_BAD_INPUT, as_json)
    except Exception as exc:  # a bug: show where
        traceback.print_exc()
        return fail(verb, f"internal error: {type(exc).__name__}: {exc}", EXIT_INTERNAL, as_json)
    try:
        emit(verb, outcome, as_json)
        sys.stdout.flush()
    except BrokenPipeError:  # `airtune ... | head`: the reader left; the work is done
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return outcome.code
