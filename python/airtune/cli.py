"""The ``airtune`` command line.

airtune info                          versions, BLAS, threads, GPU
airtune ingest FILE [options]         read + validate a JSONL file, print the summary
airtune demo [--out DIR]              ingest the bundled sample with quarantine
airtune evaluate DATA --model N=SPEC  models (folders, adapters, endpoints) on a test set -> report
airtune serve MODEL [--adapter A]     an OpenAI-compatible HTTP server over airtune's runtime
airtune curate CONFIG [--input FILE] [--out DIR] [--no-resume]
                                      run a curation pipeline (TOML or YAML config)
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


def _pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values or []:
        name, sep, rest = v.partition("=")
        if not sep or not name or not rest:
            raise SystemExit(f"airtune evaluate: {flag} {v!r}: expected NAME=VALUE")
        out[name] = rest
    return out


def _read_rows(path: str) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise SystemExit(f"{path}:{n}: not valid JSON ({exc})") from None
            if not isinstance(row, dict):
                raise SystemExit(f"{path}:{n}: a row must be a JSON object")
            rows.append(row)
    return rows


def _write_atomic(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _evaluate(args: argparse.Namespace) -> int:
    """``airtune evaluate``: resolve each --model, generate through the cache, print the report."""
    from .evaluate import PredictionError, evaluate

    rows = _read_rows(args.data)
    specs = _pairs(args.model, "--model")
    adapters = _pairs(args.adapter, "--adapter")
    served = _pairs(args.endpoint_model, "--endpoint-model")
    key_envs = _pairs(args.api_key_env, "--api-key-env")
    fields = _pairs(args.predictions, "--predictions")
    for flag, names in (("--adapter", adapters), ("--endpoint-model", served), ("--api-key-env", key_envs)):
        for n in names:
            if n not in specs:
                raise SystemExit(f"airtune evaluate: {flag} {n}=...: no --model {n}=...")
    models: dict = {}
    for name, spec in specs.items():
        if spec.startswith(("http://", "https://")):
            if name not in served:
                raise SystemExit(
                    f"airtune evaluate: --model {name}={spec} is an endpoint: add --endpoint-model {name}=MODEL"
                )
            models[name] = {
                "endpoint": spec,
                "model": served[name],
                "api_key_env": key_envs.get(name),
                "chat": not args.completions,
                "concurrency": args.concurrency,
                "timeout": args.timeout,
                "retries": args.retries,
            }
        elif name in adapters:
            models[name] = {"base": spec, "adapter": adapters[name]}
        else:
            models[name] = spec
    for name, field in fields.items():
        if name in models:
            raise SystemExit(f"airtune evaluate: {name} is given both as --model and --predictions")
        missing = [i for i, r in enumerate(rows) if field not in r]
        if missing:
            raise SystemExit(
                f"{args.data}: row {missing[0]} has no field {field!r} (--predictions {name}={field})"
            )
        models[name] = [r[field] for r in rows]
    if not models:
        raise SystemExit("airtune evaluate: give at least one --model NAME=SPEC or --predictions NAME=FIELD")
    margin = None if args.margin is None else float(args.margin)
    options = {
        k: v
        for k, v in (
            ("dtype", args.dtype),
            ("device", args.device),
            ("batch_size", args.batch_size),
            ("prompt_format", args.prompt_format),
        )
        if v is not None
    }
    generation = {
        "max_tokens": args.max_tokens,
        "temperature": args.temperature,
        "seed": args.seed,
        "top_p": args.top_p,
        "stop": tuple(args.stop or ()),
    }
    try:
        report = evaluate(
            rows,
            models,
            metrics=args.metric or ["bleu", "chrf", "rougeL"],
            input_key=args.input_key,
            reference_key=args.reference_key,
            baseline=args.baseline,
            margin=margin,
            cache=args.cache,
            generation=generation,
            on_failure=args.on_failure,
            model_options=options,
            by=args.by,
            seed=args.seed,
            progress=not args.no_progress,
        )
    except PredictionError as exc:
        print(f"airtune evaluate: {exc}", file=sys.stderr)
        return 1
    print(report.to_markdown())
    failures = report.settings.get("failures") or {}
    if failures:
        print(f"\nfailed prompts (scored as empty answers): {failures}")
    if args.out:
        report.to_html(args.out)
        print(f"\nHTML report written to {args.out}")
    if args.markdown:
        _write_atomic(args.markdown, report.to_markdown())
    if args.predictions_out:
        lines = [
            json.dumps({"row": i, **{n: report.predictions[n][i] for n in report.models}}, ensure_ascii=False)
            for i in range(len(rows))
        ]
        _write_atomic(args.predictions_out, "\n".join(lines) + "\n")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .serve import serve

    options = {
        k: v
        for k, v in (
            ("dtype", args.dtype),
            ("device", args.device),
            ("batch_size", args.batch_size),
            ("prompt_format", args.prompt_format),
        )
        if v is not None
    }
    serve(
        args.model,
        args.adapter,
        host=args.host,
        port=args.port,
        name=args.name,
        max_batch=args.max_batch,
        log_level=args.log_level,
        **options,
    )
    return 0


def _add_local_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dtype", help="float32, bfloat16, float16 or auto (default)")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--batch-size", type=int, help="prompts per generation batch of a local model (8)")
    p.add_argument(
        "--prompt-format",
        choices=["auto", "chat", "instruct"],
        help="override the recorded prompt format (checked against it)",
    )


def _curate(config: str, input_path: str | None, out: str | None, resume: bool, progress: bool) -> int:
    """The `curate` verb: validate the config, run it, print the funnel and where the outputs are."""
    import warnings

    from .pipeline import Pipeline, PipelineConfigError

    try:
        pipeline, cfg_input, cfg_output = Pipeline.from_config(config)
    except (PipelineConfigError, OSError) as exc:
        print(f"airtune curate: {exc}", file=sys.stderr)
        return 2
    pipeline.progress = progress
    source = input_path or cfg_input
    target = out or cfg_output
    if not source or not target:
        print(
            "airtune curate: give the input and the output folder (in the config or --input/--out)",
            file=sys.stderr,
        )
        return 2
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda msg, *a, **k: print(f"warning: {msg}", file=sys.stderr)
        try:
            result = pipeline.run(source, target, resume=resume)
        except (OSError, ValueError) as exc:
            print(f"airtune curate: {exc}", file=sys.stderr)
            return 1
    print(result.summary_line())
    for row in result.funnel:
        cached = " (cached)" if row["cached"] else ""
        print(
            f"  {row['stage']:<20} {row['rows_in']:>9} in {row['kept']:>9} kept {row['dropped']:>8} dropped{cached}"
        )
    for name, path in result.paths.items():
        print(f"{name:>12}: {path}")
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

    ev = sub.add_parser(
        "evaluate",
        help="evaluate models (folders, adapters, endpoints, logged answers) on a JSONL test set",
        description="Each --model NAME=SPEC is a model folder, an adapter folder (its base from "
        "adapter_config.json), a base folder with --adapter NAME=PATH, or an endpoint URL "
        "(http://host:port/v1) with --endpoint-model NAME=MODEL (key: --api-key-env NAME=VAR). "
        "--predictions NAME=FIELD takes answers already in the data (e.g. the logged API model's).",
    )
    ev.add_argument("data", help="JSONL test set: one object per line with the input and reference fields")
    ev.add_argument("--model", action="append", metavar="NAME=SPEC")
    ev.add_argument("--adapter", action="append", metavar="NAME=PATH")
    ev.add_argument("--endpoint-model", action="append", metavar="NAME=MODEL")
    ev.add_argument("--api-key-env", action="append", metavar="NAME=VAR")
    ev.add_argument("--predictions", action="append", metavar="NAME=FIELD")
    ev.add_argument("--metric", action="append", help="a metric of airtune.metrics.REGISTRY (repeatable)")
    ev.add_argument("--baseline", help="the model the others are compared with (default: the first)")
    ev.add_argument("--margin", help="non-inferiority margin for every metric")
    ev.add_argument("--by", help="a record field to score by group")
    ev.add_argument("--input-key", default="input")
    ev.add_argument("--reference-key", default="reference")
    ev.add_argument("--cache", help="SQLite prediction cache (a rerun costs nothing)")
    ev.add_argument("--max-tokens", type=int, default=256)
    ev.add_argument("--temperature", type=float, default=0.0, help="0: greedy (default)")
    ev.add_argument("--top-p", type=float, default=1.0)
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--stop", action="append", help="stop string (repeatable)")
    ev.add_argument("--completions", action="store_true", help="endpoints: /v1/completions instead of chat")
    ev.add_argument("--concurrency", type=int, default=8, help="endpoints: requests in flight")
    ev.add_argument("--timeout", type=float, default=60.0, help="endpoints: seconds per request")
    ev.add_argument("--retries", type=int, default=4, help="endpoints: retries on 429 / 5xx / timeouts")
    ev.add_argument("--on-failure", default="raise", choices=["raise", "score"])
    ev.add_argument("--out", help="write the HTML report here")
    ev.add_argument("--markdown", help="write the markdown report here")
    ev.add_argument("--predictions-out", help="write every model's answers here (JSONL)")
    ev.add_argument("--no-progress", action="store_true")
    _add_local_options(ev)

    sv = sub.add_parser("serve", help="an OpenAI-compatible HTTP server over a model folder (+ adapter)")
    sv.add_argument("model", help="model folder, or an adapter folder whose config names its base")
    sv.add_argument("--adapter", help="PEFT adapter folder on top of MODEL")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--name", help="the model name clients use (default: the folder's name)")
    sv.add_argument("--max-batch", type=int, default=16, help="prompts generated together at most")
    sv.add_argument("--log-level", default="info")
    _add_local_options(sv)
    cur = sub.add_parser("curate", help="run a curation pipeline from a TOML or YAML config")
    cur.add_argument("config", help="pipeline config (.toml, .yaml)")
    cur.add_argument("--input", help="the JSONL to curate (overrides the config's input)")
    cur.add_argument("--out", help="output folder (overrides the config's output)")
    cur.add_argument("--no-resume", action="store_true", help="recompute every stage")
    cur.add_argument("--progress", action="store_true")

    args = parser.parse_args(argv)
    if args.threads:
        set_num_threads(args.threads)
    if args.command == "info":
        print(json.dumps(build_info(), indent=2))
        return 0
    if args.command == "curate":
        return _curate(args.config, args.input, args.out, not args.no_resume, args.progress)
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
    if args.command == "evaluate":
        return _evaluate(args)
    if args.command == "serve":
        return _serve(args)
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
