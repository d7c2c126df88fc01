"""What serving costs: API models priced per million tokens against self-hosted GPUs or CPUs, the
one-time cost of the replacement (curation, training, evaluation), the monthly savings, the payback
period and the break-even volume, each figure with the assumption it rests on.

    report = monthly_cost(input_tokens=100e6, output_tokens=100e6)
    report.table                      # one row per option: monthly cost, machines needed, capacity
    report.break_even("gpt-4", "l4-7b")   # tokens a month above which the L4 is cheaper
    plan = replacement("gpt-4", "l4-7b", 100e6, 100e6, one_time=OneTimeCosts(training_usd=40))
    plan.payback_months; plan.plot()

The default price table (``python/airtune/data/prices.csv``) carries a date and a source on every
row; it is a starting point, not a quote: override rows with today's numbers
(``default_prices().with_overrides({"gpt-4o": {"input_per_million": 2.0}})``) or load your own CSV.
It reproduces the case study's example: 100M input + 100M output tokens a month cost about $9,000 on
GPT-4 ($30/$60 per million), $40 on an untuned 7B model through an API ($0.20), $300 for a
fine-tuned 7B through a managed service ($1.50), and about $515 on one L4 GPU running all month.

Self-hosting model: one machine serves ``prefill_tokens_per_second`` of prompt tokens or
``decode_tokens_per_second`` of generated tokens (measured at the batch sizes a serving engine
reaches), so a traffic of i input and o output tokens/s keeps it busy i/prefill + o/decode of each
second. Machines needed = ceil(peak_factor x busy share / utilisation), where ``utilisation`` is the
share of that throughput reached on average (batching gaps, uneven arrivals) and ``peak_factor`` the
peak over average traffic. Machines run all month (730 h); no autoscaling is assumed.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ._results import ResultMixin, require

__all__ = [
    "HOURS_PER_MONTH",
    "PRICES_DATE",
    "CostReport",
    "OneTimeCosts",
    "Price",
    "PriceTable",
    "ReplacementReport",
    "default_prices",
    "monthly_cost",
    "replacement",
]

#: Average hours in a month (365 * 24 / 12).
HOURS_PER_MONTH = 730.0
_SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600.0
#: The date of the case study's figures (the oldest rows of the default table).
PRICES_DATE = "2024-01"
_KINDS = ("api", "gpu", "cpu")
_NUMBERS = (
    "input_per_million",
    "output_per_million",
    "per_hour",
    "tokens_per_second",
    "prefill_tokens_per_second",
    "decode_tokens_per_second",
    "memory_gb",
)


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


@dataclass(frozen=True)
class Price:
    """One serving option.

    API options: ``input_per_million`` and ``output_per_million`` (USD). Self-hosted options (kind
    ``gpu`` or ``cpu``): ``per_hour`` (USD for one machine) and its sustained throughput for the
    model, ``prefill_tokens_per_second`` and ``decode_tokens_per_second``; ``tokens_per_second``
    stands for both when they are not given. ``date`` and ``source`` say where the price comes from.
    """

    name: str
    kind: str  # "api", "gpu" or "cpu"
    input_per_million: float = 0.0
    output_per_million: float = 0.0
    per_hour: float = 0.0
    tokens_per_second: float = 0.0
    note: str = ""
    prefill_tokens_per_second: float = 0.0
    decode_tokens_per_second: float = 0.0
    memory_gb: float = 0.0
    date: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"price {self.name!r}: kind must be one of {_KINDS}, got {self.kind!r}")
        for attr in _NUMBERS:
            v = getattr(self, attr)
            if not _finite(v):
                raise ValueError(f"price {self.name!r}: {attr} must be a finite number >= 0, got {v!r}")
        if self.self_hosted and (self.prefill_rate <= 0 or self.decode_rate <= 0):
            raise ValueError(
                f"price {self.name!r}: a {self.kind} option needs tokens_per_second > 0 "
                "(or prefill_tokens_per_second and decode_tokens_per_second)"
            )

    @property
    def self_hosted(self) -> bool:
        return self.kind != "api"

    @property
    def prefill_rate(self) -> float:
        """Prompt tokens/s one machine processes."""
        return self.prefill_tokens_per_second or self.tokens_per_second

    @property
    def decode_rate(self) -> float:
        """Generated tokens/s one machine produces."""
        return self.decode_tokens_per_second or self.tokens_per_second

    def busy_share(self, input_tps: float, output_tps: float) -> float:
        """Seconds of one machine's time that one second of this traffic needs."""
        return input_tps / self.prefill_rate + output_tps / self.decode_rate

    def describe(self) -> str:
        """The assumption this price rests on, in words."""
        when = f" ({self.source}, {self.date})" if self.source or self.date else ""
        if self.kind == "api":
            return f"{self.name}: ${self.input_per_million:g} / ${self.output_per_million:g} per M input/output tokens{when}"
        return (
            f"{self.name}: ${self.per_hour:g}/h{when}; {self.prefill_rate:g} prefill + "
            f"{self.decode_rate:g} decode tokens/s per machine (assumed: measure yours)"
        )


def _price_from_row(row: dict[str, str], where: str) -> Price:
    kwargs: dict[str, Any] = {}
    for key, value in row.items():
        if key is None or value is None:
            raise ValueError(f"{where}: a row has more fields than the header")
        value = value.strip()
        if key in _NUMBERS:
            try:
                kwargs[key] = float(value) if value else 0.0
            except ValueError:
                raise ValueError(f"{where}: {key} = {value!r} is not a number") from None
        elif key in ("name", "kind", "note", "date", "source"):
            kwargs[key] = value
        else:
            raise ValueError(f"{where}: unknown column {key!r}")
    if not kwargs.get("name"):
        raise ValueError(f"{where}: a row without a name")
    return Price(**kwargs)


@dataclass
class PriceTable:
    """Named prices. ``date`` is the newest date among the rows (or the one given)."""

    date: str
    prices: dict[str, Price] = field(default_factory=dict)

    @classmethod
    def from_csv(cls, path: str | Path | None = None, *, text: str | None = None) -> PriceTable:
        """Read a table in the layout of ``python/airtune/data/prices.csv`` (``#`` lines are comments)."""
        where = str(path) if path is not None else "prices.csv"
        if text is None:
            text = Path(path).read_text("utf-8") if path is not None else _default_csv()
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        prices: dict[str, Price] = {}
        for n, row in enumerate(csv.DictReader(io.StringIO("\n".join(lines))), start=2):
            p = _price_from_row(row, f"{where}: row {n}")
            if p.name in prices:
                raise ValueError(f"{where}: row {n}: {p.name!r} appears twice")
            prices[p.name] = p
        dates = [p.date for p in prices.values() if p.date]
        return cls(max(dates) if dates else "", prices)

    def with_overrides(
        self, *prices: Price | dict[str, dict[str, Any]], date: str | None = None
    ) -> PriceTable:
        """A copy with options replaced or added.

        Each argument is a :class:`Price`, or a dict ``{name: {field: value, ...}}``: for a known
        name the fields given replace those of the row (the rest stay), a new name needs ``kind``.
        """
        merged = dict(self.prices)
        for item in prices:
            if isinstance(item, Price):
                merged[item.name] = item
                continue
            if not isinstance(item, dict):
                raise TypeError(f"with_overrides: expected Price or dict, got {type(item).__name__}")
            for name, fields in item.items():
                if not isinstance(fields, dict):
                    raise TypeError(f"with_overrides: {name!r} must map to a dict of fields")
                unknown = set(fields) - {f.name for f in dataclasses.fields(Price)}
                if unknown:
                    raise ValueError(f"with_overrides: {name!r}: unknown fields {sorted(unknown)}")
                if name in merged:
                    merged[name] = dataclasses.replace(merged[name], **fields)
                elif "kind" not in fields:
                    raise ValueError(
                        f"with_overrides: new option {name!r} needs a kind ('api', 'gpu' or 'cpu')"
                    )
                else:
                    merged[name] = Price(name=name, **fields)
        return PriceTable(date or self.date, merged)

    def __getitem__(self, name: str) -> Price:
        if name not in self.prices:
            raise KeyError(f"no price for {name!r}; known: {sorted(self.prices)}")
        return self.prices[name]

    def to_pandas(self) -> Any:
        pd = require("pandas", "data")
        return pd.DataFrame([dataclasses.asdict(p) for p in self.prices.values()])


def _default_csv() -> str:
    return resources.files("airtune").joinpath("data/prices.csv").read_text("utf-8")


def default_prices() -> PriceTable:
    """The dated default table (USD), from ``python/airtune/data/prices.csv``."""
    return PriceTable.from_csv()


def _check_numbers(**values: Any) -> None:
    for name, v in values.items():
        if not _finite(v):
            raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")


def _machines(p: Price, input_tps: float, output_tps: float, peak_factor: float, utilisation: float) -> int:
    need = p.busy_share(input_tps, output_tps) * peak_factor / utilisation
    return max(1, math.ceil(need - 1e-12))


@dataclass
class CostReport(ResultMixin):
    """Monthly cost per option for one traffic profile. ``rows``: option, kind, monthly_usd,
    gpus (machines needed for self-hosted options), load (busy share of those machines at peak),
    required_tokens_per_second, capacity_ok (one machine keeps up), assumption, note."""

    input_tokens: float
    output_tokens: float
    peak_factor: float
    rows: list[dict]
    prices: PriceTable
    utilisation: float = 1.0

    def summary_line(self) -> str:
        cheapest = min(self.rows, key=lambda r: r["monthly_usd"])
        return (
            f"{self.input_tokens / 1e6:.0f}M input + {self.output_tokens / 1e6:.0f}M output tokens a month; "
            f"cheapest: {cheapest['option']} at ${cheapest['monthly_usd']:,.0f} (prices of {self.prices.date})"
        )

    def __repr__(self) -> str:
        lines = [self.summary_line()]
        for r in sorted(self.rows, key=lambda r: r["monthly_usd"]):
            extra = f"  {r['gpus']} x {r['kind']}, load {r['load']:.0%}" if r["kind"] != "api" else ""
            lines.append(f"  {r['option']:<30} ${r['monthly_usd']:>12,.0f}/month{extra}")
        return "\n".join(lines)

    @property
    def table(self) -> Any:
        return self.to_pandas()

    def to_pandas(self) -> Any:
        pd = require("pandas", "data")
        return pd.DataFrame(self.rows)

    def cost(self, option: str) -> float:
        """Monthly USD of one option."""
        for r in self.rows:
            if r["option"] == option:
                return float(r["monthly_usd"])
        raise KeyError(f"no option {option!r} in this report")

    def break_even(self, api_option: str, gpu_option: str) -> float:
        """Total monthly tokens (at this report's input/output mix) above which the self-hosted option
        is cheaper than the API option; inf when the API stays cheaper at every volume (a fully loaded
        machine costs more than the same tokens through the API)."""
        return _break_even(
            self.prices[api_option],
            self.prices[gpu_option],
            self.input_tokens,
            self.output_tokens,
            self.peak_factor,
            self.utilisation,
        )

    def plot(self, ax: Any = None) -> Any:
        plt = require("matplotlib.pyplot", "plot")
        ax = ax or plt.subplots(figsize=(7, 0.4 * len(self.rows) + 1))[1]
        rows = sorted(self.rows, key=lambda r: r["monthly_usd"])
        colors = ["tab:blue" if r["kind"] == "api" else "tab:green" for r in rows]
        ax.barh([r["option"] for r in rows], [r["monthly_usd"] for r in rows], color=colors)
        ax.set_xscale("log")
        ax.set_xlabel("USD per month (log scale)")
        ax.set_title(
            f"{self.input_tokens / 1e6:.0f}M in + {self.output_tokens / 1e6:.0f}M out tokens a month"
        )
        return ax


def _break_even(
    api: Price, host: Price, input_tokens: float, output_tokens: float, peak: float, util: float
) -> float:
    if api.kind != "api" or not host.self_hosted:
        raise ValueError("break_even takes an API option and a self-hosted (gpu or cpu) option")
    total = input_tokens + output_tokens
    share_in = input_tokens / total if total else 0.5
    per_token = (share_in * api.input_per_million + (1 - share_in) * api.output_per_million) / 1e6
    if per_token == 0:
        return math.inf
    machine_month = host.per_hour * HOURS_PER_MONTH
    # Tokens a month one machine can serve at this mix, peak and utilisation.
    busy_per_token = share_in / host.prefill_rate + (1 - share_in) / host.decode_rate
    capacity = _SECONDS_PER_MONTH * util / (peak * busy_per_token) if peak > 0 else math.inf
    volume = machine_month / per_token
    # Above one machine the costs grow together (one more machine per `capacity` tokens): if the API
    # is cheaper than a fully loaded machine it stays cheaper.
    return volume if volume <= capacity else math.inf


def monthly_cost(
    input_tokens: float,
    output_tokens: float,
    *,
    options: list[str] | None = None,
    prices: PriceTable | None = None,
    peak_factor: float = 1.0,
    utilisation: float = 1.0,
) -> CostReport:
    """Monthly cost of each option for the given monthly traffic (see the module docstring)."""
    _check_numbers(input_tokens=input_tokens, output_tokens=output_tokens, peak_factor=peak_factor)
    if not (_finite(utilisation) and 0 < utilisation <= 1):
        raise ValueError(f"utilisation must be in (0, 1], got {utilisation!r}")
    table = prices or default_prices()
    names = options or list(table.prices)
    in_tps, out_tps = input_tokens / _SECONDS_PER_MONTH, output_tokens / _SECONDS_PER_MONTH
    required = (in_tps + out_tps) * peak_factor
    rows = []
    for name in names:
        p = table[name]
        row = {"option": name, "kind": p.kind, "required_tokens_per_second": required, "note": p.note}
        if p.kind == "api":
            cost = input_tokens / 1e6 * p.input_per_million + output_tokens / 1e6 * p.output_per_million
            row.update(monthly_usd=cost, gpus=0, load=0.0, capacity_ok=True)
        else:
            machines = _machines(p, in_tps, out_tps, peak_factor, utilisation)
            busy = p.busy_share(in_tps, out_tps) * peak_factor / utilisation
            row.update(
                monthly_usd=machines * p.per_hour * HOURS_PER_MONTH,
                gpus=machines,
                load=busy / machines,
                capacity_ok=busy <= 1.0,
            )
        row["assumption"] = p.describe()
        rows.append(row)
    return CostReport(float(input_tokens), float(output_tokens), peak_factor, rows, table, utilisation)


@dataclass
class OneTimeCosts:
    """What the replacement costs once, in USD, with the assumption behind each figure.

    Build it from amounts you know, or with :meth:`estimate` from hours and token counts priced
    from a :class:`PriceTable`.
    """

    curation_usd: float = 0.0
    training_usd: float = 0.0
    evaluation_usd: float = 0.0
    assumptions: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check_numbers(
            curation_usd=self.curation_usd, training_usd=self.training_usd, evaluation_usd=self.evaluation_usd
        )

    @property
    def total(self) -> float:
        return self.curation_usd + self.training_usd + self.evaluation_usd

    @classmethod
    def estimate(
        cls,
        prices: PriceTable | None = None,
        *,
        curation_hours: float = 0.0,
        curation_option: str = "cpu-7b",
        training_hours: float = 0.0,
        training_option: str = "a100-7b",
        eval_items: int = 0,
        eval_tokens_per_item: tuple[float, float] = (500.0, 100.0),
        eval_option: str = "gpt-4",
        eval_calls_per_item: float = 1.0,
    ) -> OneTimeCosts:
        """Price curation and training by machine hours, evaluation by the API calls it makes
        (``eval_calls_per_item``: the baseline's answers, plus any judge calls)."""
        table = prices or default_prices()
        _check_numbers(curation_hours=curation_hours, training_hours=training_hours, eval_items=eval_items)
        cur, tr, ev = table[curation_option], table[training_option], table[eval_option]
        if not cur.self_hosted or not tr.self_hosted:
            raise ValueError("curation_option and training_option must be self-hosted (gpu or cpu) options")
        if ev.kind != "api":
            raise ValueError(
                "eval_option must be an API option (the model whose answers the evaluation buys)"
            )
        tin, tout = eval_tokens_per_item
        calls = eval_items * eval_calls_per_item
        eval_usd = calls * (tin * ev.input_per_million + tout * ev.output_per_million) / 1e6
        notes = [
            f"curation: {curation_hours:g} h on {cur.describe()}",
            f"training: {training_hours:g} h on {tr.describe()}",
            f"evaluation: {calls:g} calls of {tin:g} + {tout:g} tokens on {ev.describe()}",
        ]
        return cls(curation_hours * cur.per_hour, training_hours * tr.per_hour, eval_usd, notes)


@dataclass
class ReplacementReport(ResultMixin):
    """Replacing an API model by a self-hosted one: monthly costs, savings, payback, break-even."""

    api_option: str
    self_option: str
    input_tokens: float
    output_tokens: float
    api_monthly_usd: float
    self_monthly_usd: float
    machines: int
    one_time: OneTimeCosts
    break_even_tokens_per_month: float
    assumptions: list[str]
    months: int = 24

    @property
    def monthly_savings(self) -> float:
        return self.api_monthly_usd - self.self_monthly_usd

    @property
    def payback_months(self) -> float:
        """Months until the one-time cost is paid back by the savings (inf when there are none)."""
        if self.monthly_savings <= 0:
            return math.inf
        return self.one_time.total / self.monthly_savings

    def cumulative(self) -> tuple[list[int], list[float], list[float]]:
        """(month, cumulative API cost, cumulative self-hosting cost incl. the one-time cost)."""
        months = list(range(self.months + 1))
        api = [m * self.api_monthly_usd for m in months]
        own = [self.one_time.total + m * self.self_monthly_usd for m in months]
        return months, api, own

    def summary_line(self) -> str:
        pay = self.payback_months
        pay_s = "never" if math.isinf(pay) else f"{pay:.1f} months"
        return (
            f"{self.api_option} -> {self.self_option}: ${self.api_monthly_usd:,.0f} -> ${self.self_monthly_usd:,.0f} "
            f"a month, saves ${self.monthly_savings:,.0f}/month; one-time ${self.one_time.total:,.0f}; payback {pay_s}"
        )

    def __repr__(self) -> str:
        be = self.break_even_tokens_per_month
        be_s = "never" if math.isinf(be) else f"{be / 1e6:,.1f}M tokens/month ({be / 30.4 / 1e6:,.2f}M a day)"
        rows = [
            self.summary_line(),
            f"  break-even volume: {be_s}",
            f"  one-time: curation ${self.one_time.curation_usd:,.0f}, training ${self.one_time.training_usd:,.0f}, "
            f"evaluation ${self.one_time.evaluation_usd:,.0f}",
            "  assumptions:",
        ]
        rows += [f"    - {a}" for a in self.assumptions]
        return "\n".join(rows)

    def to_pandas(self) -> Any:
        pd = require("pandas", "data")
        m, api, own = self.cumulative()
        return pd.DataFrame({"month": m, "api_cumulative_usd": api, "self_hosted_cumulative_usd": own})

    def to_dict(self) -> dict[str, Any]:
        return {
            "api_option": self.api_option,
            "self_option": self.self_option,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "api_monthly_usd": self.api_monthly_usd,
            "self_monthly_usd": self.self_monthly_usd,
            "machines": self.machines,
            "monthly_savings_usd": self.monthly_savings,
            "one_time_usd": {
                "curation": self.one_time.curation_usd,
                "training": self.one_time.training_usd,
                "evaluation": self.one_time.evaluation_usd,
                "total": self.one_time.total,
            },
            "payback_months": None if math.isinf(self.payback_months) else self.payback_months,
            "break_even_tokens_per_month": None
            if math.isinf(self.break_even_tokens_per_month)
            else self.break_even_tokens_per_month,
            "assumptions": list(self.assumptions),
        }

    def plot(self, ax: Any = None) -> Any:
        plt = require("matplotlib.pyplot", "plot")
        ax = ax or plt.subplots(figsize=(7, 4))[1]
        m, api, own = self.cumulative()
        ax.plot(m, api, label=f"{self.api_option} (API)")
        ax.plot(m, own, label=f"{self.self_option} (self-hosted, incl. one-time)")
        if not math.isinf(self.payback_months) and self.payback_months <= self.months:
            ax.axvline(self.payback_months, color="grey", linestyle="--", label="payback")
        ax.set_xlabel("months")
        ax.set_ylabel("cumulative USD")
        ax.legend()
        return ax


def replacement(
    api_option: str,
    self_option: str,
    input_tokens: float,
    output_tokens: float,
    *,
    one_time: OneTimeCosts | None = None,
    prices: PriceTable | None = None,
    peak_factor: float = 1.0,
    utilisation: float = 1.0,
    months: int = 24,
) -> ReplacementReport:
    """The case for replacing ``api_option`` by ``self_option`` at this monthly traffic."""
    table = prices or default_prices()
    report = monthly_cost(
        input_tokens,
        output_tokens,
        options=[api_option, self_option],
        prices=table,
        peak_factor=peak_factor,
        utilisation=utilisation,
    )
    api, host = table[api_option], table[self_option]
    if api.kind != "api" or not host.self_hosted:
        raise ValueError("replacement takes an API option and a self-hosted (gpu or cpu) option")
    one = one_time or OneTimeCosts()
    row = report.rows[1]
    assumptions = [
        f"traffic: {input_tokens / 1e6:g}M input + {output_tokens / 1e6:g}M output tokens a month, "
        f"peak {peak_factor:g}x average, utilisation {utilisation:.0%}",
        api.describe(),
        host.describe(),
        f"{row['gpus']} machine(s) running all month ({HOURS_PER_MONTH:g} h), load {row['load']:.0%} at peak",
        *one.assumptions,
    ]
    return ReplacementReport(
        api_option=api_option,
        self_option=self_option,
        input_tokens=float(input_tokens),
        output_tokens=float(output_tokens),
        api_monthly_usd=report.cost(api_option),
        self_monthly_usd=report.cost(self_option),
        machines=int(row["gpus"]),
        one_time=one,
        break_even_tokens_per_month=report.break_even(api_option, self_option),
        assumptions=assumptions,
        months=int(months),
    )
