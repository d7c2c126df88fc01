"""``airtune train [DATA] --base MODEL``: LoRA fine-tuning, a PEFT adapter and its loss curves."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .core import (
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

HELP = "LoRA fine-tune of a Llama-family model folder on chat records -> PEFT adapter, loss curves"
DESCRIPTION = (
    "Trains a LoRA adapter (airtune.train.train_lora, C++ on libtorch) on DATA and writes a PEFT "
    "adapter folder. Every field of airtune.train.LoraConfig is a flag (--learning-rate, --epochs, "
    "--r, --target-modules q_proj,v_proj or all-linear ...) and a key of the config file's [train] "
    "table. With --run and no DATA: the run's split/train.jsonl (or curate/train.jsonl). "
    "Exit 1 when the loss diverged (the curves are kept)."
)
EXAMPLE = """\
airtune train split/train.jsonl --base models/llama-1b --out adapter/ --epochs 2 --learning-rate 2e-4
airtune train --run runs/r1 --base models/llama-1b --config run.toml     # [train] table of LoraConfig fields
airtune train --base models/mistral-7b --plan --device L4 --quantization nf4 --batch-size 4   # memory plan only"""

# LoraConfig fields that are not flags here (set by the verb itself).
# rank_pattern / alpha_pattern ({pattern: value}) are set through the Python API only.
_NOT_FLAGS = {"target_modules", "rank_pattern", "alpha_pattern"}


def _lora_fields() -> list[dataclasses.Field]:
    from ..train import LoraConfig

    return [f for f in dataclasses.fields(LoraConfig) if f.name not in _NOT_FLAGS]


def _names(v: str) -> list[str]:
    return [x.strip() for x in str(v).split(",") if x.strip()]


def _bool(v: str) -> bool:
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {v!r}")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "data", nargs="?", type=path_arg, help="training records, JSONL (chat, Alpaca, prompt/completion)"
    )
    p.add_argument(
        "--base", type=path_arg, help="the base model folder (config.json, *.safetensors, tokenizer.json)"
    )
    p.add_argument("--eval", type=path_arg, help="records to compute the eval loss on (curves only)")
    p.add_argument("--out", type=path_arg, help="adapter folder (without --run)")
    p.add_argument(
        "--plan",
        action="store_true",
        help="print the run's memory plan (airtune.train.plan: peak memory term by term, largest batch, "
        "step time) for --device and exit without training; reads only the base's config.json",
    )
    p.add_argument(
        "--mfu",
        type=float,
        default=0.4,
        help="with --plan: the share of the GPU's BF16 FLOP rate reached (0.4)",
    )
    lora = p.add_argument_group("LoRA and training (airtune.train.LoraConfig)")
    lora.add_argument(
        "--target-modules",
        default="q_proj,v_proj",
        help="comma-separated module names, 'all-linear', or 're:<regex>' (q_proj,v_proj)",
    )
    from ..train import LoraConfig

    defaults = LoraConfig()
    for f in _lora_fields():
        default = getattr(defaults, f.name)
        flag = "--" + f.name.replace("_", "-")
        special: dict[str, Callable[[str], Any]] = {
            "save_total_limit": int,
            "greater_is_better": _bool,
            "modules_to_save": _names,
        }
        if f.name in special:  # optional settings (None: the default)
            lora.add_argument(flag, type=special[f.name], default=default, help=f"({default})")
        elif isinstance(default, bool):
            lora.add_argument(flag, type=_bool, default=default, metavar="BOOL", help=f"({default})")
        elif isinstance(default, (int, float)):
            lora.add_argument(flag, type=type(default), default=default, help=f"({default})")
        else:
            lora.add_argument(flag, default=default, help=f"({default})")
    common_options(p)


def lora_config(args: argparse.Namespace) -> Any:
    from ..train import LoraConfig

    kwargs = {f.name: getattr(args, f.name) for f in _lora_fields()}
    t = str(args.target_modules).strip()
    if t == "all-linear":
        kwargs["target_modules"] = "all-linear"
    elif t.startswith("re:"):
        kwargs["target_modules"] = t[3:]
    else:
        names = [x.strip() for x in t.split(",") if x.strip()]
        if not names:
            raise BadInput("--target-modules is empty")
        kwargs["target_modules"] = names
    cfg = LoraConfig(**kwargs)
    try:
        cfg.validate()
    except ValueError as exc:
        raise BadInput(f"train options: {exc}") from None
    return cfg


def check_base(path: str | None) -> Path:
    from ..evaluate.models import ModelFolderError, check_model_folder

    if not path:
        raise BadInput("give --base MODEL (a model folder)")
    p = Path(path)
    if not p.exists():
        raise BadInput(f"{p}: no such model folder (--base)")
    try:
        check_model_folder(p)
    except ModelFolderError as exc:
        raise BadInput(f"--base: {exc}") from None
    return p


def default_input(folder) -> Path | None:
    for step, rel in (("split", "train.jsonl"), ("curate", "train.jsonl")):
        p = folder.output(step, rel)
        if p is not None:
            return p
    return None


def _read(path: Path) -> Any:
    from .. import io

    recs = io.read_jsonl(path, errors="raise", progress=False)
    if not len(recs):
        raise BadInput(f"{path}: no records to train on")
    return recs


def train(
    base: Path,
    data: Path,
    eval_path: Path | None,
    out: Path,
    cfg: Any,
    progress: bool,
    shown: Path | None = None,
) -> tuple[int, dict]:
    """Train into ``out``; ``shown`` is the folder the outputs end in (a run step's final folder)."""
    from ..train import TrainingDivergedError, train_lora

    records = _read(data)
    ev = _read(eval_path) if eval_path is not None else None
    code = 0
    adapter = out / "adapter"
    try:
        res = train_lora(base, records, ev, config=cfg, output_dir=adapter, show_progress=progress)
    except TrainingDivergedError as exc:
        res, code = exc.result, 1
    except (ValueError, FileExistsError) as exc:  # FileExistsError: --out holds an earlier run
        raise BadInput(f"train: {exc}") from None
    summary = summary_of(res, base, out, shown, code)
    from .._atomic import write_text_atomic
    from .core import dumps

    write_text_atomic(out / "train.json", dumps(summary))
    return code, summary


def summary_of(res: Any, base: Any, out: Path, shown: Any, code: int) -> dict[str, Any]:
    """What ``train.json`` holds (and the run report reads) for a :class:`airtune.train.TrainResult`
    whose adapter is ``out/adapter`` (``shown``: the folder named in the summary line)."""
    return {
        "summary": res.summary_line().replace(str(out), str(shown or out)),
        "base": str(base),
        "adapter": "adapter" if code == 0 else None,
        "steps": res.steps,
        "total_steps": res.total_steps,
        "stop_reason": res.stop_reason,
        "final_loss": res.final_loss,
        "train_seconds": res.train_seconds,
        "tokens_per_second": res.tokens_per_second,
        "label_tokens_per_second": res.label_tokens_per_second,
        "num_trainable": res.num_trainable,
        "history": res.history,
        "eval_history": res.eval_history,
        "train_report": dataclasses.asdict(res.train_report),
        "eval_report": dataclasses.asdict(res.eval_report) if res.eval_report else None,
        "config": res.config,
        "message": res.message,
    }


def _text(s: dict, where: Path) -> str:
    tr = s["train_report"]
    lines = [
        s["summary"].replace("TrainResult: ", "train: "),
        f"rows: {tr['kept']}/{tr['total']} kept ({tr['truncated']} truncated, dropped {tr['dropped'] or 'none'})",
    ]
    if s["stop_reason"] == "nan_loss":
        lines.append(f"the loss diverged: {s['message']}")
    else:
        lines.append(f"adapter: {where / 'adapter'}")
    return "\n".join(lines)


def _brief(s: dict) -> dict:
    return {
        k: s[k]
        for k in ("steps", "total_steps", "stop_reason", "final_loss", "train_seconds", "tokens_per_second")
    }


def plan_outcome(args: argparse.Namespace, cfg: Any) -> Outcome:
    """``--plan``: the memory plan for ``--device`` (a GPU name, a size in GB or cpu; "auto": L4)."""
    from ..train import PlanError, plan

    if not args.base:
        raise BadInput("give --base MODEL (a model folder)")
    base = Path(args.base)
    if not (base / "config.json").is_file():
        raise BadInput(f"{base}: no config.json (--base must be a model folder)")
    device = "L4" if cfg.device == "auto" else cfg.device
    try:
        p = plan(base, cfg, float(device) if device.replace(".", "", 1).isdigit() else device, mfu=args.mfu)
    except PlanError as exc:
        raise BadInput(f"--plan: {exc}") from None
    return Outcome(0, p.to_dict(), str(p))


def run(args: argparse.Namespace) -> Outcome:
    cfg = lora_config(args)
    if args.plan:
        return plan_outcome(args, cfg)
    base = check_base(args.base)
    ev = existing_file(args.eval, "the eval records (--eval)") if args.eval else None
    if not args.run:
        data = existing_file(args.data, "the training records")
        out = out_folder(args)
        code, s = train(base, data, ev, out, cfg, show_progress(args))
        return Outcome(code, _brief(s) | {"out": str(out)}, _text(s, out))
    folder = run_of(args, "train")
    given = Path(args.data) if args.data else default_input(folder)
    if given is None:
        raise BadInput(
            f"{folder.path}: no training data in this run (run `airtune split --run` first, or give DATA)"
        )
    data = existing_file(str(given), "the training records")
    opts = options_of(args, drop=("data", "base", "eval", "out")) | {"lora": dataclasses.asdict(cfg)}
    with folder.step("train", inputs={"data": data, "base": base, "eval": ev}, options=opts) as step:
        if step.reused:
            saved = json.loads((step.final_dir / "train.json").read_text(encoding="utf-8"))
            return Outcome(
                step.exit_code,
                {**step.result, "reused": True},
                "train: reused\n" + _text(saved, step.final_dir),
            )
        code, s = train(base, data, ev, step.dir, cfg, show_progress(args), step.final_dir)
        step.commit(_brief(s), code)
    return Outcome(code, _brief(s) | {"out": str(step.final_dir)}, _text(s, step.final_dir))
