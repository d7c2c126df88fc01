"""``airtune serve MODEL``: an OpenAI-compatible HTTP server over airtune's runtime."""

from __future__ import annotations

import argparse
from pathlib import Path

from .core import BadInput, Outcome, path_arg
from .evaluate import _add_local_options, local_options

HELP = "an OpenAI-compatible HTTP server over a model folder (+ adapter)"
DESCRIPTION = (
    "Serves /v1/chat/completions, /v1/completions and /v1/models over MODEL (a model folder, or an "
    "adapter folder whose adapter_config.json names its base) with dynamic batching. Runs until "
    "interrupted."
)
EXAMPLE = """\
airtune serve runs/r1/train/adapter --port 8000 --name shop-classifier
curl localhost:8000/v1/chat/completions -d '{"model": "shop-classifier", "messages": [{"role": "user", "content": "..."}]}'"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "model", type=path_arg, help="model folder, or an adapter folder whose config names its base"
    )
    p.add_argument("--adapter", type=path_arg, help="PEFT adapter folder on top of MODEL")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--name", help="the model name clients use (default: the folder's name)")
    p.add_argument("--max-batch", type=int, default=16, help="prompts generated together at most")
    p.add_argument("--log-level", default="info")
    _add_local_options(p)
    g = p.add_argument_group("common options")
    g.add_argument(
        "--config", type=path_arg, metavar="FILE", help="options from a TOML or YAML file (flags win)"
    )


def run(args: argparse.Namespace) -> Outcome:
    from ..evaluate.models import ModelFolderError, check_model_folder
    from ..serve import serve

    folder = Path(args.model)
    if not folder.exists():
        raise BadInput(f"{folder}: no such model folder")
    if args.adapter is not None or not (folder / "adapter_config.json").exists():
        try:
            check_model_folder(folder)
        except ModelFolderError as exc:
            raise BadInput(str(exc)) from None
    serve(
        args.model,
        args.adapter,
        host=args.host,
        port=args.port,
        name=args.name,
        max_batch=args.max_batch,
        log_level=args.log_level,
        **local_options(args),
    )
    return Outcome(0)
