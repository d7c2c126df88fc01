"""What every verb shares: exit codes, the error that means "bad input", options from a config file
under the flags, ``--json`` output, the run folder, progress.

Exit codes: 0 done; 1 the verdict or check failed (the outputs are written and say why); 2 bad input
(a clear message naming the file, line, key or folder; nothing written); 3 an internal error (a
bug: the traceback is printed).

Config files (``--config FILE``, TOML or YAML): either flat, the verb's options by name, or one
table per verb (``[train]``, ``[evaluate]`` ...) so that one file drives a whole run. Keys are the
long flag names with ``_`` or ``-``; an unknown key, a value of the wrong type or outside the
choices is bad input. Flags given on the command line override the file; for ``NAME=VALUE``
options (``--model``) the entries are merged by name, the flag's winning. Relative paths in the
file are read relative to the file.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3

#: Options of every verb that change how it talks, not what it computes (never part of a step key).
PRESENTATION = frozenset({"json", "no_progress", "progress", "config", "run", "threads", "command"})


class BadInput(Exception):
    """Bad input: exit code 2 with this message (which names the file, line, key or folder)."""


class CheckFailed(Exception):
    """The work ran and failed on the data (a pipeline stage, a model that did not answer): exit
    code 1 with this message; nothing of the step is committed."""


@dataclass
class Outcome:
    """What a verb hands back: its exit code, the JSON payload of ``--json`` and the text it prints."""

    code: int = EXIT_OK
    payload: dict[str, Any] = field(default_factory=dict)
    text: str = ""


def path_arg(value: str) -> str:
    """argparse ``type`` of options that are paths (relative paths in a config file are read
    relative to the file)."""
    return value


def pair_list(values: list[str] | None, flag: str) -> dict[str, str]:
    """``["a=x", "b=y"]`` -> ``{"a": "x", "b": "y"}``; a value without ``=`` is bad input."""
    out: dict[str, str] = {}
    for v in values or []:
        name, sep, rest = str(v).partition("=")
        if not sep or not name or not rest:
            raise BadInput(f"{flag} {v!r}: expected NAME=VALUE")
        out[name] = rest
    return out


def jsonable(obj: Any) -> Any:
    """``obj`` with NaN / inf as None and numpy scalars as Python numbers (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        obj = obj.item()
    if hasattr(obj, "tolist") and callable(obj.tolist):
        return jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def dumps(obj: Any) -> str:
    return json.dumps(jsonable(obj), indent=1, ensure_ascii=False, allow_nan=False)


# ----------------------------------------------------------------------------------------------
# config files


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """A TOML or YAML file as a dict; errors are :class:`BadInput` naming the file."""
    p = Path(path)
    if not p.exists():
        raise BadInput(f"{p}: no such config file")
    if not p.is_file():
        raise BadInput(f"{p}: not a file (expected a .toml or .yaml config)")
    from ..pipeline.config import parse_config_file

    data = parse_config_file(p, BadInput)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadInput(f"{p}: expected a table of options, got {type(data).__name__}")
    return data


#: Options a config file cannot set (the file itself, how the result is printed).
_NOT_IN_FILES = frozenset({"config", "json", "command", "threads", "help"})


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Options of a verb a config file may set, by dest (positionals included; ``run`` and
    ``no_progress`` too)."""
    return {
        a.dest: a
        for a in parser._actions
        if a.dest not in _NOT_IN_FILES and not isinstance(a, argparse._SubParsersAction)
    }


def _coerce(action: argparse.Action, value: Any, where: str, base: Path) -> Any:
    def one(v: Any) -> Any:
        if isinstance(v, bool) or v is None:
            raise BadInput(f"{where}: expected a value, got {v!r}")
        if action.type is path_arg:
            if not isinstance(v, str):
                raise BadInput(f"{where}: expected a path string, got {v!r}")
            return v if os.path.isabs(v) else str((base / v).resolve())
        if action.type in (int, float):
            if isinstance(v, str):
                try:
                    v = action.type(v)
                except ValueError:
                    raise BadInput(f"{where}: {v!r} is not a number") from None
            if not isinstance(v, (int, float)):
                raise BadInput(f"{where}: expected a number, got {v!r}")
            if action.type is int and (isinstance(v, float) and not v.is_integer()):
                raise BadInput(f"{where}: expected an integer, got {v!r}")
            v = action.type(v)
        elif callable(action.type) and isinstance(v, str):
            try:
                v = action.type(v)
            except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
                raise BadInput(f"{where}: {exc}") from None
        elif not isinstance(v, (str, int, float)):
            raise BadInput(f"{where}: expected a string or number, got {type(v).__name__}")
        if action.choices is not None and v not in action.choices:
            raise BadInput(f"{where}: {v!r} is not one of {list(action.choices)}")
        return v

    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise BadInput(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(action, argparse._AppendAction) or action.nargs in ("*", "+"):
        if isinstance(value, dict):  # NAME = VALUE tables for --model and friends
            value = [f"{k}={v}" for k, v in value.items()]
        if not isinstance(value, list):
            value = [value]
        return [one(v) for v in value]
    return one(value)


def config_values(
    path: str, verb: str, parser: argparse.ArgumentParser, verbs: dict[str, argparse.ArgumentParser]
) -> dict[str, Any]:
    """The options a config file gives ``verb`` (validated: unknown keys and wrong types are
    :class:`BadInput` naming the file, the table and the key)."""
    data = read_config_file(path)
    base = Path(path).resolve().parent
    sectioned = any(k in verbs and isinstance(v, dict) for k, v in data.items())
    if sectioned:
        stray = [k for k in data if k not in verbs]
        if stray:
            raise BadInput(
                f"{path}: unknown key {stray[0]!r}: a file of per-verb tables holds only "
                f"[{'], ['.join(sorted(verbs))}]"
            )
        for name, table in data.items():
            if not isinstance(table, dict):
                raise BadInput(f"{path}: [{name}] must be a table of options")
        tables = {k: v for k, v in data.items()}
    else:
        tables = {verb: data}
    out: dict[str, Any] = {}
    for name, table in tables.items():
        actions = _actions(verbs[name])
        for key, value in table.items():
            dest = str(key).replace("-", "_")
            where = f"{path}: [{name}] {key}" if sectioned else f"{path}: {key}"
            if dest not in actions:
                close = difflib.get_close_matches(dest, list(actions), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise BadInput(f"{where}: unknown key for airtune {name}{hint}")
            coerced = _coerce(actions[dest], value, where, base)
            if name == verb:
                out[dest] = coerced
    return out


def explicit_dests(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The dests the command line gives (parsed once more with every default suppressed)."""
    saved = {}
    for a in parser._actions:
        saved[a] = a.default
        a.default = argparse.SUPPRESS
    saved_required = {a: a.required for a in parser._actions}
    for a in parser._actions:
        a.required = False
    try:
        ns, _ = parser.parse_known_args(argv)
    finally:
        for a, d in saved.items():
            a.default = d
        for a, r in saved_required.items():
            a.required = r
    return set(vars(ns))


def merge_config(
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
    argv: list[str],
    verbs: dict[str, argparse.ArgumentParser],
) -> argparse.Namespace:
    """``args`` with the config file's values under the command line's."""
    values = config_values(args.config, args.command, parser, verbs)
    given = explicit_dests(parser, argv)
    actions = _actions(parser)
    for dest, value in values.items():
        if dest not in given:
            setattr(args, dest, value)
        elif (
            isinstance(actions[dest], argparse._AppendAction)
            and actions[dest].metavar
            and "=" in str(actions[dest].metavar)
        ):
            flag = pair_list(getattr(args, dest), dest)
            merged = {**pair_list(value, dest), **flag}
            setattr(args, dest, [f"{k}={v}" for k, v in merged.items()])
    return args


# ----------------------------------------------------------------------------------------------
# output


def emit(verb: str, outcome: Outcome, as_json: bool, out: Callable[[str], None] | None = None) -> None:
    out = out or (lambda s: print(s))
    if as_json:
        out(dumps({"verb": verb, "exit_code": outcome.code, **outcome.payload}))
    elif outcome.text:
        out(outcome.text.rstrip("\n"))


def fail(verb: str, message: str, code: int, as_json: bool) -> int:
    print(f"airtune {verb}: {message}", file=sys.stderr)
    if as_json:
        print(dumps({"verb": verb, "exit_code": code, "error": message}))
    return code


def common_options(p: argparse.ArgumentParser, *, run: bool = True, progress: bool = True) -> None:
    """``--config``, ``--json`` (and ``--run``, ``--no-progress``) on a verb's parser."""
    g = p.add_argument_group("common options")
    g.add_argument(
        "--config", type=path_arg, metavar="FILE", help="options from a TOML or YAML file (flags win)"
    )
    g.add_argument("--json", action="store_true", help="print the result as JSON (for scripts)")
    if run:
        g.add_argument(
            "--run", type=path_arg, metavar="DIR", help="the run folder the outputs and manifest.json go to"
        )
    if progress:
        g.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_folder(path: str) -> Any:
    """The run folder at ``path`` (:class:`BadInput` when it is not one this airtune can use)."""
    from ..runs import RunFolder, RunFolderError

    try:
        return RunFolder(path)
    except RunFolderError as exc:
        raise BadInput(str(exc)) from None


def out_folder(args: argparse.Namespace) -> Path:
    """The ``--out`` folder of a verb run without ``--run`` (made when absent)."""
    if not args.out:
        raise BadInput("give --out DIR or --run DIR")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def run_of(args: argparse.Namespace, step: str) -> Any:
    """The run folder of ``--run`` for ``step`` (``--out`` with it is bad input)."""
    if getattr(args, "out", None):
        raise BadInput(f"--run writes into RUN/{step}: drop --out")
    return run_folder(args.run)


def options_of(args: argparse.Namespace, *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """The options that decide a step's outputs (presentation flags and ``drop`` left out)."""
    return {
        k: v
        for k, v in sorted(vars(args).items())
        if k not in PRESENTATION and k not in drop and not k.startswith("_")
    }


def show_progress(args: argparse.Namespace) -> bool:
    return not getattr(args, "no_progress", False) and not getattr(args, "json", False)


def existing_file(path: str | None, what: str) -> Path:
    """``path`` as a readable regular file, else :class:`BadInput` naming it."""
    if not path:
        raise BadInput(f"give the {what}")
    p = Path(path)
    if not p.exists():
        raise BadInput(f"{p}: no such file ({what})")
    if p.is_dir():
        raise BadInput(f"{p} is a folder, expected a file ({what})")
    return p
