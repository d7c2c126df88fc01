"""Monthly cost of serving options: API models priced per million tokens against GPUs per hour.

    report = monthly_cost(input_tokens=100e6, output_tokens=100e6)
    report.table        # one row per option: monthly cost, GPUs needed, capacity check
    report.break_even("gpt-4", "l4-7b")   # tokens per month where the two cost the same

The default price table is dated (``PRICES_DATE``) and only a starting point: pass your own
``prices`` (or ``PriceTable.with_overrides``) with today's numbers. It reproduces the case study's
example: 100M input + 100M output tokens a month cost about $9,000 on GPT-4 ($30/$60 per
million), $40 on an untuned 7B model through an API ($0.20), $300 for a fine-tuned 7B through a
managed service ($1.50), and about $515 on one L4 GPU running all month.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ._results import ResultMixin

__all__ = [
    "HOURS_PER_MONTH",
    "PRICES_DATE",
    "Price",
    "PriceTable",
    "CostReport",
    "default_prices",
    "monthly_cost",
]

#: Average hours in a month (365 * 24 / 12).
HOURS_PER_MONTH = 730.0
#: When the default prices were taken (the seed document's figures).
PRICES_DATE = "2024-01"


@dataclass(frozen=True)
class Price:
    """One serving option.

    API options: ``input_per_million`` and ``output_per_million`` USD. GPU options: ``per_hour`` USD
    and ``tokens_per_second``, the sustained generation throughput of one GPU for the model (an
    assumption you should measure: e.g. airtune's or vLLM's benchmark on your prompts).
    """

    name: str
    kind: str  # "api" or "gpu"
    input_per_million: float = 0.0
    output_per_million: float = 0.0
    per_hour: float = 0.0
    tokens_per_second: float = 0.0
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("api", "gpu"):
            raise ValueError(f"price {self.name!r}: kind must be 'api' or 'gpu', got {self.kind!r}")
        for attr in ("input_per_million", "output_per_million", "per_hour", "tokens_per_second"):
            v = getattr(self, attr)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"price {self.name!r}: {attr} must be a finite number >= 0, got {v!r}")
        if self.kind == "gpu" and self.tokens_per_second <= 0:
            raise ValueError(f"price {self.name!r}: a GPU option needs tokens_per_second > 0")


@dataclass
class PriceTable:
    """Named prices with the date they were valid."""

    date: str
    prices: dict[str, Price] = field(default_factory=dict)

    def with_overrides(self, *prices: Price, date: str | None = None) -> PriceTable:
        """A copy with some options added or replaced."""
        merged = dict(self.prices)
        merged.update({p.name: p for p in prices})
        return PriceTable(date or self.date, merged)


def default_prices() -> PriceTable:
    """The dated default table (USD): the case study's figures."""
    return PriceTable(
        PRICES_DATE,
        {
            p.name: p
            for p in (
                Price("gpt-4", "api", 30.0, 60.0, note="OpenAI GPT-4 (8k) list price"),
                Price("gpt-3.5-turbo", "api", 0.50, 1.50, note="OpenAI list price"),
                Price("mistral-7b-api", "api", 0.20, 0.20, note="untuned 7B through a hosted API"),
                Price(
                    "mistral-7b-finetuned-managed",
                    "api",
                    1.50,
                    1.50,
                    note="fine-tuned 7B via a managed service",
                ),
                Price(
                    "l4-7b",
                    "gpu",
                    per_hour=0.705,
                    tokens_per_second=1000.0,
                    note="one NVIDIA L4 on demand; 7B throughput is an assumption to measure",
                ),
                Price(
                    "a100-7b",
                    "gpu",
                    per_hour=3.67,
                    tokens_per_second=3000.0,
                    note="one A100 40GB on demand; throughput is an assumption to measure",
                ),
            )
        },
    )


@dataclass
class CostReport(ResultMixin):
    """Monthly cost per option for one traffic profile. ``table`` rows: option, kind, monthly_usd,
    gpus (GPU options: how many are needed for the traffic), required_tokens_per_second, capacity_ok."""

    input_tokens: float
    output_tokens: float
    peak_factor: float
    rows: list[dict]
    prices: PriceTable

    def summary_line(self) -> str:
        cheapest = min(self.rows, key=lambda r: r["monthly_usd"])
        return (
            f"{self.input_tokens / 1e6:.0f}M input + {self.output_tokens / 1e6:.0f}M output tokens a month; "
            f"cheapest: {cheapest['option']} at ${cheapest['monthly_usd']:,.0f} (prices of {self.prices.date})"
        )

    @property
    def table(self) -> Any:
        return self.to_pandas()

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.rows)

    def cost(self, option: str) -> float:
        """Monthly USD of one option."""
        for r in self.rows:
            if r["option"] == option:
                return float(r["monthly_usd"])
        raise KeyError(f"no option {option!r} in this report")

    def break_even(self, api_option: str, gpu_option: str) -> float:
        """Total monthly tokens (at this report's input/output mix) above which the GPU option is
        cheaper than the API option, assuming one GPU suffices at that volume; inf if never."""
        api, gpu = self.prices.prices[api_option], self.prices.prices[gpu_option]
        if api.kind != "api" or gpu.kind != "gpu":
            raise ValueError("break_even takes an API option and a GPU option")
        total = self.input_tokens + self.output_tokens
        share_in = self.input_tokens / total if total else 0.5
        per_token = (share_in * api.input_per_million + (1 - share_in) * api.output_per_million) / 1e6
        if per_token == 0:
            return math.inf
        return gpu.per_hour * HOURS_PER_MONTH / per_token


def monthly_cost(
    input_tokens: float,
    output_tokens: float,
    *,
    options: list[str] | None = None,
    prices: PriceTable | None = None,
    peak_factor: float = 1.0,
) -> CostReport:
    """Monthly cost of each option for the given monthly traffic.

    API: tokens x price per million. GPU: GPUs needed x hourly price x 730 h, where GPUs needed =
    ceil(required tokens/s / per-GPU throughput) and required tokens/s = (input + output) tokens
    a month / seconds in a month x ``peak_factor`` (peak over average traffic). ``capacity_ok`` says
    whether one GPU keeps up.
    """
    for name, v in (
        ("input_tokens", input_tokens),
        ("output_tokens", output_tokens),
        ("peak_factor", peak_factor),
    ):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    table = prices or default_prices()
    names = options or list(table.prices)
    seconds = HOURS_PER_MONTH * 3600.0
    required = (input_tokens + output_tokens) / seconds * max(peak_factor, 0.0)
    rows = []
    for name in names:
        if name not in table.prices:
            raise KeyError(f"no price for {name!r}; known: {sorted(table.prices)}")
        p = table.prices[name]
        if p.kind == "api":
            cost = input_tokens / 1e6 * p.input_per_million + output_tokens / 1e6 * p.output_per_million
            rows.append(
                {
                    "option": name,
                    "kind": "api",
                    "monthly_usd": cost,
                    "gpus": 0,
                    "required_tokens_per_second": required,
                    "capacity_ok": True,
                    "note": p.note,
                }
            )
        else:
            gpus = max(1, math.ceil(required / p.tokens_per_second)) if required > 0 else 1
            rows.append(
                {
                    "option": name,
                    "kind": "gpu",
                    "monthly_usd": gpus * p.per_hour * HOURS_PER_MONTH,
                    "gpus": gpus,
                    "required_tokens_per_second": required,
                    "capacity_ok": required <= p.tokens_per_second,
                    "note": p.note,
                }
            )
    return CostReport(float(input_tokens), float(output_tokens), peak_factor, rows, table)
