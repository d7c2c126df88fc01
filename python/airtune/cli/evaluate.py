"""``airtune evaluate [DATA] --model NAME=SPEC``: models on a test set -> scores, intervals, the verdict."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .core import (
    EXIT_FAILED,
    BadInput,
    Outcome,
    common_options,
    dumps,
    existing_file,
    options_of,
    pair_list,
    path_arg,
    run_folder,
    show_progress,
)

HELP = "evaluate models (folders, adapters, endpoints, logged answers) on a JSONL test set -> verdict"
DESCRIPTION = (
    "Each --model NAME=SPEC is a model folder, an adapter folder (its base from adapter_config.json), "
    "a base folder with --adapter NAME=PATH, an endpoint URL (http://host:port/v1) with "
    "--endpoint-model NAME=MODEL (key: --api-key-env NAME=VAR), or @train: the adapter of the run's "
    "train step. --predictions NAME=FIELD takes answers already in the data (e.g. the logged API "
    "model's; a chat record's last assistant turn is the field 'assistant'). Chat records "
    "(messages) are prompted with their conversation up to the last assistant turn. With --margin the "
    "verdict of each candidate against the baseline is replaceable, not replaceable or inconclusive; "
    "the exit code is 1 unless every candidate (--candidate, default every model but the baseline) "
    "is replaceable on every metric. With --run and no DATA: the run's split/test.jsonl."
)
EXAMPLE = """\
airtune evaluate test.jsonl --predictions api=assistant --model tuned=adapter/ --baseline api \\
    --reference-key gold_label --metric taxonomy --metric hierarchical_f1 --margin 0.02 --out report.html
airtune evaluate --run runs/r1 --predictions api=assistant --model tuned=@train --baseline api --margin 0.02"""


def _add_local_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dtype", help="float32, bfloat16, float16 or auto (default)")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--batch-size", type=int, help="prompts per generation batch of a local model (8)")
    p.add_argument(
        "--prompt-format",
        choices=["auto", "chat", "instruct"],
        help="override the recorded prompt format (checked against it)",
    )


def local_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        k: v
        for k, v in (
            ("dtype", args.dtype),
            ("device", args.device),
            ("batch_size", args.batch_size),
            ("prompt_format", args.prompt_format),
        )
        if v is not None
    }


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "data", nargs="?", type=path_arg, help="JSONL test set (default with --run: split/test.jsonl)"
    )
    p.add_argument("--model", action="append", metavar="NAME=SPEC")
    p.add_argument("--adapter", action="append", metavar="NAME=PATH")
    p.add_argument("--endpoint-model", action="append", metavar="NAME=MODEL")
    p.add_argument("--api-key-env", action="append", metavar="NAME=VAR")
    p.add_argument("--predictions", action="append", metavar="NAME=FIELD")
    p.add_argument("--metric", action="append", help="a metric of airtune.metrics.REGISTRY (repeatable)")
    p.add_argument(
        "--labels", type=path_arg, help="allowed labels / taxonomy paths, one per line (label metrics)"
    )
    p.add_argument("--baseline", help="the model the others are compared with (default: the first)")
    p.add_argument("--candidate", action="append", help="the model(s) whose verdict decides the exit code")
    p.add_argument("--margin", type=float, help="non-inferiority margin for every metric")
    p.add_argument("--by", help="a record field to score by group")
    p.add_argument("--input-key", default="input")
    p.add_argument("--reference-key", default="reference")
    p.add_argument(
        "--drop-unreferenced", action="store_true", help="leave out (and count) rows without a reference"
    )
    p.add_argument(
        "--cache",
        type=path_arg,
        help="SQLite prediction cache (default with --run: RUN/.cache/predictions.sqlite)",
    )
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.0, help="0: greedy (default)")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stop", action="append", help="stop string (repeatable)")
    p.add_argument("--completions", action="store_true", help="endpoints: /v1/completions instead of chat")
    p.add_argument("--concurrency", type=int, default=8, help="endpoints: requests in flight")
    p.add_argument("--timeout", type=float, default=60.0, help="endpoints: seconds per request")
    p.add_argument("--retries", type=int, default=4, help="endpoints: retries on 429 / 5xx / timeouts")
    p.add_argument("--on-failure", default="raise", choices=["raise", "score"])
    p.add_argument("--out", type=path_arg, help="write the HTML report here")
    p.add_argument("--markdown", type=path_arg, help="write the markdown report here")
    p.add_argument("--predictions-out", type=path_arg, help="write every model's answers here (JSONL)")
    _add_local_options(p)
    common_options(p)


def _prompt(messages: list) -> list[dict]:
    msgs = [m for m in messages if isinstance(m, dict)]
    while msgs and msgs[-1].get("role") == "assistant":
        msgs = msgs[:-1]
    return [{"role": m.get("role"), "content": m.get("content") or ""} for m in msgs]


def read_rows(path: Path, input_key: str) -> list[dict]:
    """JSONL rows as dicts; a chat record (``messages``) without ``input_key`` gets it (the conversation
    up to its last assistant turn) and ``assistant`` (that turn's text) unless it has those fields."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise BadInput(f"{path}:{n}: not valid JSON ({exc})") from None
            if not isinstance(row, dict):
                raise BadInput(f"{path}:{n}: a row must be a JSON object")
            msgs = row.get("messages")
            if input_key not in row and isinstance(msgs, list):
                row[input_key] = _prompt(msgs)
                if "assistant" not in row:
                    last = msgs[-1] if msgs and isinstance(msgs[-1], dict) else {}
                    row["assistant"] = (last.get("content") or "") if last.get("role") == "assistant" else ""
            rows.append(row)
    if not rows:
        raise BadInput(f"{path}: no rows to evaluate")
    return rows


def _labels(path: str | None) -> list[str] | None:
    if not path:
        return None
    p = existing_file(path, "the labels file (--labels)")
    text = p.read_text(encoding="utf-8")
    if p.suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise BadInput(f"{p}: not valid JSON ({exc})") from None
        if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
            raise BadInput(f"{p}: expected a JSON list of strings")
        return data
    out = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not out:
        raise BadInput(f"{p}: no labels")
    return out


def build_models(
    args: argparse.Namespace, rows: list[dict], adapter_of_run: Path | None
) -> tuple[dict, dict]:
    """(models for airtune.evaluate, input paths to hash) from the flags."""
    from ..evaluate.models import ModelFolderError, check_model_folder

    specs = pair_list(args.model, "--model")
    adapters = pair_list(args.adapter, "--adapter")
    served = pair_list(args.endpoint_model, "--endpoint-model")
    key_envs = pair_list(args.api_key_env, "--api-key-env")
    fields = pair_list(args.predictions, "--predictions")
    for flag, names in (("--adapter", adapters), ("--endpoint-model", served), ("--api-key-env", key_envs)):
        for n in names:
            if n not in specs:
                raise BadInput(f"{flag} {n}=...: no --model {n}=...")
    models: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for name, spec in specs.items():
        if spec == "@train":
            if adapter_of_run is None:
                raise BadInput(
                    f"--model {name}=@train: the run has no trained adapter (no train step, or its training "
                    "failed: see RUN/train/train.json)"
                )
            spec = str(adapter_of_run)
        if spec.startswith(("http://", "https://")):
            if name not in served:
                raise BadInput(f"--model {name}={spec} is an endpoint: add --endpoint-model {name}=MODEL")
            models[name] = {
                "endpoint": spec,
                "model": served[name],
                "api_key_env": key_envs.get(name),
                "chat": not args.completions,
                "concurrency": args.concurrency,
                "timeout": args.timeout,
                "retries": args.retries,
            }
            continue
        folder = Path(spec)
        if not folder.exists():
            raise BadInput(f"--model {name}={spec}: no such model folder")
        if name in adapters:
            try:
                check_model_folder(folder)
            except ModelFolderError as exc:
                raise BadInput(f"--model {name}: {exc}") from None
            models[name] = {"base": spec, "adapter": adapters[name]}
            paths[f"model:{name}"], paths[f"adapter:{name}"] = folder, Path(adapters[name])
        else:
            if not (folder / "adapter_config.json").exists():
                try:
                    check_model_folder(folder)
                except ModelFolderError as exc:
                    raise BadInput(f"--model {name}: {exc}") from None
            models[name] = spec
            paths[f"model:{name}"] = folder
    for name, fld in fields.items():
        if name in models:
            raise BadInput(f"{name} is given both as --model and --predictions")
        missing = [i for i, r in enumerate(rows) if fld not in r]
        if missing:
            raise BadInput(f"{args.data}: row {missing[0]} has no field {fld!r} (--predictions {name}={fld})")
        models[name] = [r[fld] if isinstance(r[fld], str) else json.dumps(r[fld]) for r in rows]
    if not models:
        raise BadInput("give at least one --model NAME=SPEC or --predictions NAME=FIELD")
    return models, paths


def verdict(report: Any, candidates: list[str] | None) -> dict[str, Any]:
    """Per candidate: "replaceable" when every metric with a margin says so, "not replaceable" when
    one says not, else "inconclusive"; ``passed`` when every candidate is replaceable."""
    out: dict[str, Any] = {"candidates": {}, "passed": None}
    v = report.verdicts
    if v is None or not len(v):
        return out
    names = candidates or [m for m in report.models if m != report.baseline]
    for name in names:
        if name not in report.models:
            raise BadInput(f"--candidate {name}: not one of the models {report.models}")
        mine = v[v.model == name]
        outcomes = list(mine.outcome)
        if not outcomes:
            overall = None
        elif all(o == "replaceable" for o in outcomes):
            overall = "replaceable"
        elif any(o == "not replaceable" for o in outcomes):
            overall = "not replaceable"
        else:
            overall = "inconclusive"
        out["candidates"][name] = {
            "verdict": overall,
            "metrics": {r.metric: {"outcome": r.outcome, "reading": r.reading} for r in mine.itertuples()},
        }
    out["passed"] = all(c["verdict"] == "replaceable" for c in out["candidates"].values())
    return out


def report_dict(report: Any, decision: dict[str, Any], dropped: int) -> dict[str, Any]:
    """The JSON form of an evaluation (what the run report and --compare read)."""

    def records(frame: Any) -> list[dict]:
        return [] if frame is None or not len(frame) else frame.to_dict("records")

    return {
        "models": list(report.models),
        "metrics": list(report.metrics),
        "baseline": report.baseline,
        "items": int(len(report.per_item)),
        "dropped_unreferenced": dropped,
        "table": records(report.table),
        "comparisons": records(report.comparisons),
        "verdicts": records(report.verdicts),
        "groups": records(report.groups),
        "decision": decision,
        "settings": {k: v for k, v in report.settings.items() if k != "signatures"},
        "signatures": report.settings.get("signatures", {}),
    }


def evaluate(
    args: argparse.Namespace, data: Path, out: Path | None, cache: str | None, adapter_of_run: Path | None
) -> tuple[int, dict, str, dict]:
    from .._atomic import write_text_atomic
    from ..evaluate import PredictionError
    from ..evaluate import evaluate as run_evaluation

    rows = read_rows(data, args.input_key)
    dropped = 0
    if args.drop_unreferenced:
        kept = [r for r in rows if r.get(args.reference_key) is not None]
        dropped = len(rows) - len(kept)
        rows = kept
        if not rows:
            raise BadInput(f"{data}: no row has a reference ({args.reference_key!r})")
    else:
        missing = [i for i, r in enumerate(rows) if r.get(args.reference_key) is None]
        if missing:
            raise BadInput(
                f"{data}: row {missing[0]} has no reference ({args.reference_key!r}); "
                f"{len(missing)} rows without one (--drop-unreferenced leaves them out)"
            )
    models, paths = build_models(args, rows, adapter_of_run)
    generation = {
        "max_tokens": args.max_tokens,
        "temperature": args.temperature,
        "seed": args.seed,
        "top_p": args.top_p,
        "stop": tuple(args.stop or ()),
    }
    try:
        report = run_evaluation(
            rows,
            models,
            metrics=args.metric or ["bleu", "chrf", "rougeL"],
            input_key=args.input_key,
            reference_key=args.reference_key,
            baseline=args.baseline,
            margin=args.margin,
            labels=_labels(args.labels),
            cache=cache,
            generation=generation,
            on_failure=args.on_failure,
            model_options=local_options(args),
            by=args.by,
            seed=args.seed,
            progress=show_progress(args),
        )
    except PredictionError as exc:
        raise PredictionFailed(str(exc)) from None
    decision = verdict(report, args.candidate)
    lines = [report.to_markdown()]
    failures = report.settings.get("failures") or {}
    if failures:
        lines.append(f"\nfailed prompts (scored as empty answers): {failures}")
    if dropped:
        lines.append(f"\n{dropped} rows without a reference ({args.reference_key!r}) left out")
    for name, c in decision["candidates"].items():
        lines.append(f"verdict: {name} vs {report.baseline}: {c['verdict']}")
    targets = {
        "html": args.out,
        "markdown": args.markdown,
        "predictions": args.predictions_out,
    }
    if out is not None:
        targets = {
            "html": out / "report.html",
            "markdown": out / "report.md",
            "predictions": out / "predictions.jsonl",
        }
        write_text_atomic(out / "report.json", dumps(report_dict(report, decision, dropped)))
    if targets["html"]:
        report.to_html(targets["html"])
        if out is None:
            lines.append(f"\nHTML report written to {targets['html']}")
    if targets["markdown"]:
        write_text_atomic(Path(targets["markdown"]), report.to_markdown())
    if targets["predictions"]:
        body = [
            json.dumps({"row": i, **{n: report.predictions[n][i] for n in report.models}}, ensure_ascii=False)
            for i in range(len(rows))
        ]
        write_text_atomic(Path(targets["predictions"]), "\n".join(body) + "\n")
    code = EXIT_FAILED if decision["passed"] is False else 0
    payload = {
        "items": len(rows),
        "baseline": report.baseline,
        "scores": [
            {k: r[k] for k in ("model", "metric", "score", "ci_low", "ci_high", "n")}
            for r in report.table.to_dict("records")
        ],
        "decision": decision,
    }
    return code, payload, "\n".join(lines), paths


class PredictionFailed(Exception):
    """A model failed on some prompts with --on-failure raise (exit 1; the answers that arrived are cached)."""


def run(args: argparse.Namespace) -> Outcome:
    try:
        return _run(args)
    except PredictionFailed as exc:
        import sys

        print(f"airtune evaluate: {exc}", file=sys.stderr)
        return Outcome(EXIT_FAILED, {"error": str(exc)}, "")


def _run(args: argparse.Namespace) -> Outcome:
    if not args.run:
        data = existing_file(args.data, "the JSONL test set")
        code, payload, text, _ = evaluate(args, data, None, args.cache, None)
        return Outcome(code, payload, text)
    if args.out or args.markdown or args.predictions_out:
        raise BadInput(
            "--run writes evaluate/report.html, report.md, report.json, predictions.jsonl: drop --out, --markdown, --predictions-out"
        )
    folder = run_folder(args.run)
    data = Path(args.data) if args.data else folder.output("split", "test.jsonl")
    if data is None:
        raise BadInput(
            f"{folder.path}: no test set in this run (run `airtune split --run` first, or give DATA)"
        )
    data = existing_file(str(data), "the JSONL test set")
    adapter = (
        folder.path / "train" / "adapter" if folder.output("train", "adapter/adapter_config.json") else None
    )
    cache = args.cache or str(folder.path / ".cache" / "predictions.sqlite")
    (folder.path / ".cache").mkdir(parents=True, exist_ok=True)
    # What decides the outputs: the data, every model folder and the flags (the cache is only a cache).
    rows = read_rows(data, args.input_key)
    _, paths = build_models(args, rows, adapter)
    labels = {"labels": Path(args.labels)} if args.labels else {}
    opts = options_of(args, drop=("data", "cache", "out", "markdown", "predictions_out"))
    with folder.step("evaluate", inputs={"data": data, **paths, **labels}, options=opts) as step:
        if step.reused:
            saved = json.loads((step.final_dir / "report.json").read_text(encoding="utf-8"))
            text = (step.final_dir / "report.md").read_text(encoding="utf-8")
            for name, c in saved["decision"]["candidates"].items():
                text += f"\nverdict: {name} vs {saved['baseline']}: {c['verdict']}"
            return Outcome(step.exit_code, {**step.result, "reused": True}, "evaluate: reused\n" + text)
        code, payload, text, _ = evaluate(args, data, step.dir, cache, adapter)
        step.commit(payload, code)
    out = step.final_dir
    return Outcome(
        code,
        payload | {"out": str(out)},
        text + f"\nHTML report: {out / 'report.html'} (and report.json, report.md, predictions.jsonl)",
    )
