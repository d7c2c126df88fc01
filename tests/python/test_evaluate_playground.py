"""The playground: several models side by side, word-level differences marked, the HTML page rendered in
headless Chromium (screenshot kept in the test's tmp dir; a console message fails the test)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from airtune import evaluate as E

pytest.importorskip("pandas")


def _rebuild(diff: list[tuple[str, str]]) -> tuple[str, str]:
    old = "".join(t for op, t in diff if op in ("equal", "delete"))
    new = "".join(t for op, t in diff if op in ("equal", "insert"))
    return old, new


def test_word_diff_reconstructs_both_sides() -> None:
    assert E.word_diff("the cat sat", "the dog sat down") == [
        ("equal", "the "),
        ("delete", "cat"),
        ("insert", "dog"),
        ("equal", " sat"),
        ("insert", " down"),
    ]
    rng = random.Random(1)
    words = ["a", "b", "c", "dé", "<x>", "&", "\n", "  "]
    for _ in range(200):
        old = " ".join(rng.choice(words) for _ in range(rng.randint(0, 12)))
        new = " ".join(rng.choice(words) for _ in range(rng.randint(0, 12)))
        d = E.word_diff(old, new)
        assert _rebuild(d) == (old, new)
        assert all(op == "equal" for op, _ in d) == (old == new)


def test_playground_table_and_marks() -> None:
    def tuned(s: str) -> str:
        return s.replace("refund", "full refund")

    pg = E.playground(
        {"api": lambda s: s, "tuned": tuned, "down": lambda s: 1 / 0},
        ["issue a refund <now>", "track my order"],
        references=["refund", "tracking"],
    )
    assert pg["api"].tolist() == ["issue a refund <now>", "track my order"]
    assert list(pg.table.columns) == ["input", "reference", "api", "tuned", "down"]
    assert set(pg.errors["down"]) == {0, 1}
    html = pg._repr_html_()
    assert "issue a <ins>full </ins>refund &lt;now&gt;" in html  # escaped, inserted words marked
    assert "same as api" in html and "error: ZeroDivisionError" in html
    with pytest.raises(ValueError, match="baseline 'x'"):
        E.playground({"a": str.upper}, ["a"], baseline="x")


def test_playground_page_renders_in_chromium(tmp_path: Path) -> None:
    from browser import render

    pg = E.playground(
        {
            "base": lambda s: f"Answer: {s}",
            "cand": lambda s: f"Answer: {s}" if "same" in s else f"Reply: {s}!",
        },
        ["same input", "other input", 'a <b>bold</b> & quoted "input"'],
    )
    page = tmp_path / "playground.html"
    pg.to_html(page)
    text = page.read_text(encoding="utf-8")
    for attr in ('src="http', 'href="http', "<link", "@import"):
        assert attr not in text
    out = render(page, tmp_path)
    assert out.console == [], out.console
    assert 'data-ready="1"' in out.dom and "2 of 3 inputs differ" in out.dom
    assert "<del>Answer:</del><ins>Reply:</ins>" in out.dom
    assert out.screenshot.parent == tmp_path and out.screenshot.stat().st_size > 5000


def test_console_errors_are_caught(tmp_path: Path) -> None:
    # The check above can fail: a page whose script throws is reported.
    from browser import render

    page = tmp_path / "broken.html"
    page.write_text(
        "<!doctype html><body><p>x</p><script>undefined_function();</script></body>", encoding="utf-8"
    )
    out = render(page, tmp_path)
    assert any("undefined_function" in line for line in out.console)
