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
    per_s = 5e9 / (730 * 3600)  # input and output tokens/s each
    busy = (per_s / 4000.0 + per_s / 1000.0) * 2.0  # prefill 4000, decode 1000 tokens/s per L4
    assert heavy.rows[0]["gpus"] == math.ceil(busy) and not heavy.rows[0]["capacity_ok"]
    assert heavy.rows[0]["load"] == pytest.approx(busy / math.ceil(busy))
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


def test_price_table_rows_have_dates_and_sources() -> None:
    table = C.default_prices()
    assert len(table.prices) >= 12
    for p in table.prices.values():
        assert p.date and p.source, p.name
    assert {"gpt-4o", "gpt-4o-mini", "gpt-4.1"} <= set(table.prices)
    assert table.date == max(p.date for p in table.prices.values())
    assert "2024-01" in C.default_prices()["gpt-4"].describe()


def test_overrides_with_plain_dicts() -> None:
    table = C.default_prices().with_overrides(
        {
            "gpt-4o": {"input_per_million": 2.0, "date": "2026-12"},
            "local-h200": {"kind": "gpu", "per_hour": 3.5, "tokens_per_second": 9000},
        }
    )
    assert table["gpt-4o"].input_per_million == 2.0 and table["gpt-4o"].output_per_million == 10.0
    assert table["gpt-4o"].date == "2026-12"
    assert table["local-h200"].decode_rate == 9000
    with pytest.raises(ValueError, match="needs a kind"):
        C.default_prices().with_overrides({"new-one": {"per_hour": 1.0}})
    with pytest.raises(ValueError, match="unknown fields"):
        C.default_prices().with_overrides({"gpt-4o": {"input_price": 1.0}})
    with pytest.raises(ValueError, match="tokens_per_second"):
        C.default_prices().with_overrides(
            {"l4-7b": {"prefill_tokens_per_second": 0.0, "tokens_per_second": 0.0}}
        )


def test_csv_errors_name_the_row_and_column(tmp_path) -> None:
    bad = tmp_path / "prices.csv"
    bad.write_text("name,kind,input_per_million\nok,api,1\nbroken,api,cheap\n")
    with pytest.raises(ValueError, match=r"prices.csv: row 3: input_per_million = 'cheap' is not a number"):
        C.PriceTable.from_csv(bad)
    bad.write_text("name,kind,colour\nx,api,red\n")
    with pytest.raises(ValueError, match="unknown column 'colour'"):
        C.PriceTable.from_csv(bad)
    bad.write_text("name,kind\nx,api\nx,api\n")
    with pytest.raises(ValueError, match="appears twice"):
        C.PriceTable.from_csv(bad)


def test_replacement_payback_and_break_even_by_hand() -> None:
    one = C.OneTimeCosts.estimate(
        training_hours=2.0,
        training_option="a100-7b",
        eval_items=1000,
        eval_tokens_per_item=(500, 100),
        curation_hours=1.0,
    )
    assert one.training_usd == pytest.approx(2 * 3.67)
    assert one.evaluation_usd == pytest.approx(1000 * (500 * 30 + 100 * 60) / 1e6)
    assert one.curation_usd == pytest.approx(1.428)
    plan = C.replacement("gpt-4", "l4-7b", 100e6, 100e6, one_time=one)
    assert plan.api_monthly_usd == pytest.approx(9000.0)
    assert plan.self_monthly_usd == pytest.approx(0.705 * 730)
    assert plan.monthly_savings == pytest.approx(9000.0 - 0.705 * 730)
    assert plan.payback_months == pytest.approx(one.total / plan.monthly_savings)
    assert plan.break_even_tokens_per_month == pytest.approx(0.705 * 730 / (45.0 / 1e6))
    text = repr(plan)
    assert "payback" in text and "break-even volume" in text and "assumed" in text and "training: 2 h" in text
    d = plan.to_dict()
    assert d["one_time_usd"]["total"] == pytest.approx(one.total) and d["machines"] == 1
    months, api, own = plan.cumulative()
    assert api[12] == pytest.approx(12 * 9000.0) and own[0] == pytest.approx(one.total)
    # Low traffic: no savings, no payback, but a finite break-even volume (one H100 at 50/50 mix).
    cheap = C.replacement("gpt-4o-mini", "h100-7b", 1e6, 1e6, one_time=one)
    assert cheap.break_even_tokens_per_month == pytest.approx(2.99 * 730 / (0.375 / 1e6))
    assert math.isinf(cheap.payback_months) and "never" in cheap.summary_line()
    # An API cheaper than a fully loaded machine never breaks even (CPU: 200/40 tokens/s).
    never = C.replacement("gpt-4o-mini", "cpu-7b", 1e6, 1e6)
    assert math.isinf(never.break_even_tokens_per_month) and "never" in repr(never)
    with pytest.raises(ValueError, match="self-hosted"):
        C.replacement("gpt-4", "gpt-4o", 1, 1)


def test_utilisation_and_cpu_option() -> None:
    r = C.monthly_cost(1e9, 2e8, options=["cpu-7b", "l4-7b"], utilisation=0.5)
    per_in, per_out = 1e9 / (730 * 3600), 2e8 / (730 * 3600)
    cpu = r.table.set_index("option").loc["cpu-7b"]
    assert cpu.gpus == math.ceil((per_in / 200 + per_out / 40) / 0.5)
    with pytest.raises(ValueError, match="utilisation"):
        C.monthly_cost(1, 1, utilisation=0)
    assert "l4-7b" in repr(r) and "load" in repr(r)


def test_plots_render() -> None:
    import matplotlib

    matplotlib.use("Agg")
    C.monthly_cost(100e6, 100e6).plot()
    C.replacement("gpt-4", "l4-7b", 100e6, 100e6, one_time=C.OneTimeCosts(training_usd=40)).plot()
