"""Quality floor of airtune.clean.html_to_text on the 181 real pages of the ScrapingHub benchmark.

Scored with benchmarks/clean_scorer.py (the data set's own metric). Floors are a little under the
figures reached when this test was written (main_content F1 0.971, P 0.958, R 0.983; full
recall 0.993; trafilatura 2.3.1 scores F1 0.953 on the same scorer), so a
regression in extraction quality fails here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import clean_scorer  # noqa: E402
from airtune import clean  # noqa: E402

DATA = clean_scorer.data_dir()
pytestmark = pytest.mark.skipif(DATA is None, reason="html-extraction benchmark data not available")


@pytest.fixture(scope="module")
def bench() -> tuple[list[str], list[bytes], dict[str, str]]:
    pages, truth = clean_scorer.load_pages(DATA)
    keys = list(pages)
    return keys, [pages[k] for k in keys], truth


def test_main_content_f1_floor(bench) -> None:
    keys, raw, truth = bench
    out = clean.html_to_text(raw, mode="main_content")
    s = clean_scorer.score(truth, dict(zip(keys, out)))
    assert s.pages == 181
    assert s.f1 >= 0.96, s
    assert s.precision >= 0.945 and s.recall >= 0.97, s


def test_full_mode_recall_floor(bench) -> None:
    keys, raw, truth = bench
    out = clean.html_to_text(raw, mode="full")
    s = clean_scorer.score(truth, dict(zip(keys, out)))
    assert s.recall >= 0.99, s
    # Full text is the whole page: far less precise than the main content.
    assert s.precision < 0.7, s


def test_str_and_bytes_inputs_agree_on_utf8_pages(bench) -> None:
    _, raw, _ = bench
    sample = raw[:20]
    as_str = [clean_scorer.decode_page(b) for b in sample]
    assert clean.html_to_text(sample) == clean.html_to_text(as_str)


def test_scorer_hand_computed() -> None:
    # truth has shingles {a b c d, b c d e}; pred has {a b c d, b c d x}: tp=1, fp=1, fn=1 per page.
    s = clean_scorer.score({"p": "a b c d e"}, {"p": "a b c d x"})
    assert s.precision == pytest.approx(0.5) and s.recall == pytest.approx(0.5) and s.f1 == pytest.approx(0.5)
    assert clean_scorer.score({"p": "one two"}, {"p": "one two"}).f1 == 1.0
    assert clean_scorer.score({"p": "x y z w v"}, {"p": ""}).recall == 0.0
    # Fewer than 4 words: the whole text is one shingle.
    assert clean_scorer.shingles("a b") == {"a b": 1}


def test_scorer_agrees_with_reference_trafilatura_outputs(bench) -> None:
    # The scorer is independent of airtune: trafilatura's own output scores near its published F1.
    trafilatura = pytest.importorskip("trafilatura")
    keys, raw, truth = bench
    sub = keys[:15]
    out = {k: trafilatura.extract(raw[keys.index(k)]) or "" for k in sub}
    s = clean_scorer.score({k: truth[k] for k in sub}, out)
    assert 0.85 <= s.f1 <= 1.0, s
