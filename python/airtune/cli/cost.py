"""``airtune cost``: the monthly cost table and the case for replacing an API model."""

from __future__ import annotations

import argparse
import math
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
)

HELP = "monthly cost of every serving option, and the replacement case: savings, payback, break-even"
DESCRIPTION = (
    "Prices the monthly traffic (--input-tokens, --output-tokens) on every option of the dated price "
    "table (python/airtune/data/prices.csv, or --prices FILE; --set NAME.FIELD=VALUE overrides one "
    "figure), then the case for replacing --api by --self: monthly savings, the one-time cost "
    "(given in USD, or estimated from hours and evaluation calls), the payback period, the break-even "
    "volume, and the assumption behind each figure. --max-payback MONTHS turns it into a check "
    "(exit 1 when the payback is longer or never comes)."
)
EXAMPLE = """\
airtune cost                                            # the case study: 100M + 100M tokens a month, gpt-4 -> l4-7b
airtune cost --input-tokens 50e6 --output-tokens 10e6 --api gpt-4o --self a10g-7b \\
    --set a10g-7b.decode_tokens_per_second=900 --training-usd 40 --max-payback 6 --json"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-tokens", type=float, default=100e6, help="input tokens a month (100e6)")
    p.add_argument("--output-tokens", type=float, default=100e6, help="output tokens a month (100e6)")
    p.add_argument("--api", default="gpt-4", help="the API option being replaced (gpt-4)")
    p.add_argument("--self", dest="self_option", default="l4-7b", help="the self-hosted option (l4-7b)")
    p.add_argument("--options", help="comma-separated options of the table to show (default: all)")
    p.add_argument("--prices", type=path_arg, help="a price table CSV in the layout of prices.csv")
    p.add_argument(
        "--set", dest="overrides", action="append", metavar="NAME.FIELD=VALUE", help="override one figure"
    )
    p.add_argument("--peak-factor", type=float, default=1.0, help="peak over average traffic (1.0)")
    p.add_argument(
        "--utilisation", type=float, default=1.0, help="share of the throughput reached on average (1.0)"
    )
    p.add_argument("--months", type=int, default=24, help="months of the cumulative plot (24)")
    g = p.add_argument_group("one-time cost (USD given, or estimated)")
    g.add_argument("--curation-usd", type=float)
    g.add_argument("--training-usd", type=float)
    g.add_argument("--evaluation-usd", type=float)
    g.add_argument(
        "--curation-hours",
        type=float,
        default=0.0,
        help="machine hours of curation (priced on --curation-option)",
    )
    g.add_argument("--curation-option", default="cpu-7b")
    g.add_argument(
        "--training-hours",
        type=float,
        default=0.0,
        help="machine hours of training (priced on --training-option)",
    )
    g.add_argument("--training-option", default="a100-7b")
    g.add_argument("--eval-items", type=int, default=0, help="items whose API answers the evaluation buys")
    g.add_argument("--eval-calls-per-item", type=float, default=1.0)
    p.add_argument(
        "--max-payback", type=float, metavar="MONTHS", help="check: exit 1 when the payback is longer"
    )
    common_options(p, progress=False)


def _number(text: str, where: str) -> Any:
    t = text.strip()
    try:
        return float(t)
    except ValueError:
        return t  # date, source, note, kind


def prices(args: argparse.Namespace) -> Any:
    from ..cost import PriceTable, default_prices

    table = (
        PriceTable.from_csv(existing_file(args.prices, "the price table (--prices)"))
        if args.prices
        else default_prices()
    )
    fields: dict[str, dict[str, Any]] = {}
    for key, value in pair_list(args.overrides, "--set").items():
        name, dot, fld = key.rpartition(".")
        if not dot or not name or not fld:
            raise BadInput(
                f"--set {key}={value}: expected NAME.FIELD=VALUE (e.g. gpt-4o.input_per_million=2.5)"
            )
        fields.setdefault(name, {})[fld] = _number(value, key)
    if fields:
        table = table.with_overrides(fields)
    return table


def one_time(args: argparse.Namespace, table: Any) -> Any:
    from ..cost import OneTimeCosts

    given = [args.curation_usd, args.training_usd, args.evaluation_usd]
    hours = args.curation_hours or args.training_hours or args.eval_items
    if any(v is not None for v in given):
        if hours:
            raise BadInput("give the one-time cost in USD or as hours and items, not both")
        cur, tr, ev = (float(v or 0.0) for v in given)
        notes = [f"one-time cost given: curation ${cur:,.2f}, training ${tr:,.2f}, evaluation ${ev:,.2f}"]
        return OneTimeCosts(cur, tr, ev, notes)
    if hours:
        return OneTimeCosts.estimate(
            table,
            curation_hours=args.curation_hours,
            curation_option=args.curation_option,
            training_hours=args.training_hours,
            training_option=args.training_option,
            eval_items=args.eval_items,
            eval_option=args.api,
            eval_calls_per_item=args.eval_calls_per_item,
        )
    return OneTimeCosts(assumptions=["one-time cost: none given (add --training-usd or --training-hours)"])


def compute(args: argparse.Namespace) -> dict[str, Any]:
    from ..cost import monthly_cost, replacement

    table = prices(args)
    names = [x.strip() for x in args.options.split(",") if x.strip()] if args.options else None
    for n in [*(names or []), args.api, args.self_option]:
        if n not in table.prices:
            raise BadInput(f"no price for {n!r}; known: {', '.join(sorted(table.prices))}")
    report = monthly_cost(
        args.input_tokens,
        args.output_tokens,
        options=names,
        prices=table,
        peak_factor=args.peak_factor,
        utilisation=args.utilisation,
    )
    case = replacement(
        args.api,
        args.self_option,
        args.input_tokens,
        args.output_tokens,
        one_time=one_time(args, table),
        prices=table,
        peak_factor=args.peak_factor,
        utilisation=args.utilisation,
        months=args.months,
    )
    return payload_of(
        report, case, table.date, args.input_tokens, args.output_tokens, args.peak_factor, args.utilisation
    )


def payload_of(
    report: Any,
    case: Any,
    prices_date: str,
    input_tokens: float,
    output_tokens: float,
    peak_factor: float,
    utilisation: float,
) -> dict[str, Any]:
    """What ``cost.json`` holds (and the run report reads): the table of every option, the
    replacement case and its cumulative costs, for a :func:`airtune.cost.monthly_cost` report and
    a :func:`airtune.cost.replacement` case."""
    m, api, own = case.cumulative()
    return {
        "prices_date": prices_date,
        "traffic": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "peak_factor": peak_factor,
            "utilisation": utilisation,
        },
        "table": sorted(report.rows, key=lambda r: r["monthly_usd"]),
        "replacement": case.to_dict() | {"summary": case.summary_line()},
        "cumulative": {"month": m, "api_usd": api, "self_hosted_usd": own},
        "text": repr(report) + "\n\n" + repr(case),
    }


def _check(args: argparse.Namespace, result: dict[str, Any]) -> tuple[int, str]:
    if args.max_payback is None:
        return 0, ""
    from ..runs.report import payback_text

    pay = result["replacement"]["payback_months"]
    if pay is None or pay > args.max_payback:
        return EXIT_FAILED, f"check failed: payback {payback_text(pay)} > {args.max_payback:g} months"
    return 0, f"check passed: payback {payback_text(pay)} <= {args.max_payback:g} months"


def text_of(result: dict[str, Any]) -> str:
    head = f"{'option':<30} {'kind':<4} {'USD/month':>12} {'machines':>8} {'load':>6}  assumption"
    rows = [head]
    for r in result["table"]:
        machines = f"{r['gpus']}" if r["kind"] != "api" else ""
        load = f"{r['load']:.0%}" if r["kind"] != "api" else ""
        rows.append(
            f"{r['option']:<30} {r['kind']:<4} {r['monthly_usd']:>12,.0f} {machines:>8} {load:>6}  {r['assumption']}"
        )
    rep = result["replacement"]
    be = rep["break_even_tokens_per_month"]
    pay = rep["payback_months"]
    from ..runs.report import payback_text

    rows += [
        "",
        f"replacement: {rep['summary']}",
        f"  monthly savings: ${rep['monthly_savings_usd']:,.0f}",
        f"  one-time cost:   ${rep['one_time_usd']['total']:,.0f} (curation ${rep['one_time_usd']['curation']:,.0f}, "
        f"training ${rep['one_time_usd']['training']:,.0f}, evaluation ${rep['one_time_usd']['evaluation']:,.0f})",
        f"  payback:         {payback_text(pay)}",
        f"  break-even:      {'never (the API stays cheaper)' if be is None else f'{be / 1e6:,.1f}M tokens a month'}"
        + ("" if be is None else f" at this input/output mix ({be / 1e6 / 30.4:,.2f}M a day)"),
        "  assumptions:",
        *[f"    - {a}" for a in rep["assumptions"]],
    ]
    return "\n".join(rows)


def run(args: argparse.Namespace) -> Outcome:
    for name in ("input_tokens", "output_tokens", "peak_factor"):
        v = getattr(args, name)
        if not math.isfinite(v) or v < 0:
            raise BadInput(f"--{name.replace('_', '-')} must be a finite number >= 0, got {v}")
    if not 0 < args.utilisation <= 1:
        raise BadInput(f"--utilisation must be in (0, 1], got {args.utilisation}")
    result = compute(args)
    code, check = _check(args, result)
    text = text_of(result) + (f"\n{check}" if check else "")
    payload = {k: v for k, v in result.items() if k != "text"}
    if not args.run:
        return Outcome(code, payload, text)
    folder = run_folder(args.run)
    inputs = {"prices": existing_file(args.prices, "the price table")} if args.prices else {}
    with folder.step("cost", inputs=inputs, options=options_of(args, drop=("prices",))) as step:
        if step.reused:
            return Outcome(step.exit_code, {**payload, "reused": True}, text)
        from .._atomic import write_text_atomic

        write_text_atomic(step.dir / "cost.json", dumps(payload))
        step.commit({"replacement": payload["replacement"], "check": check}, code)
    return Outcome(
        code, payload | {"out": str(step.final_dir)}, text + f"\noutputs: {step.final_dir / 'cost.json'}"
    )
