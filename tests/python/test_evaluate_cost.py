"""airtune.cost: the case study's monthly cost example, capacity and break-even."""

from __future__ import annotations

import math

import pytest
from airtune import cost as C


def test_reproduces_the_case_study_example() -> None:
    r = C.monthly_cost(100e6, 100e6)
    assert r.cost("gpt-4") == pytest.approx(9000.0)
    assert r.cost("mistral-7b-api") == pytest.approx(40.0)
    assert r.cost("mistral-7b-finetuned-managed") == pytest.approx(300.0)
    assert r.cost("l4-7b") == pytest.approx(515.0, abs=1.0)
    assert "cheapest: mistral-7b-api" in r.summary_line()
    assert len(r.table) == len(C.default_prices().prices)


def test_capacity_and_break_even() -> None:
    r = C.monthly_cost(100e6, 100e6, options=["gpt-4", "l4-7b"])
    row = r.table.set_index("option").loc["l4-7b"]
    assert row.required_tokens_per_second == pytest.approx(200e6 / (730 * 3600))
    assert bool(row.capacity_ok) and row.gpus == 1
    heavy = C.monthly_cost(5e9, 5e9, options=["l4-7b"], peak_factor=2.0)
    need = 10e9 / (730 * 3600) * 2.0
    assert heavy.rows[0]["gpus"] == math.ceil(need / 1000.0) and not heavy.rows[0]["capacity_ok"]
    be = r.break_even("gpt-4", "l4-7b")
    assert be == pytest.approx(0.705 * 730 / (45.0 / 1e6))
    at = C.monthly_cost(be / 2, be / 2, options=["gpt-4", "l4-7b"])
    assert at.cost("gpt-4") == pytest.approx(at.cost("l4-7b"))


def test_overrides_and_bad_input() -> None:
    table = C.default_prices().with_overrides(C.Price("my-api", "api", 1.0, 2.0), date="2026-11")
    r = C.monthly_cost(1e6, 1e6, options=["my-api"], prices=table)
    assert r.cost("my-api") == pytest.approx(3.0) and r.prices.date == "2026-11"
    with pytest.raises(ValueError, match="input_tokens"):
        C.monthly_cost(float("nan"), 1)
    with pytest.raises(KeyError, match="no price"):
        C.monthly_cost(1, 1, options=["nope"])
    with pytest.raises(ValueError, match="tokens_per_second"):
        C.Price("g", "gpu", per_hour=1.0)
