"""Scorer of the ScrapingHub/Zyte article-extraction benchmark (181 pages in shared/data/html-extraction).

The metric, as the data set's README states it: both texts are tokenised with the Unicode regex
``\\w+``; each becomes a multiset of word 4-gram shingles (a text of fewer than 4 words is one
shingle). Per page: tp = sum of min(true, pred) counts, fp = excess in pred, fn = excess in true, the
three divided by their sum so every page weighs the same. Precision is the mean over pages with
tp + fp > 0 of tp / (tp + fp), recall the mean over pages with tp + fn > 0 of tp / (tp + fn), with 1.0
for both when fp and fn are 0; F1 = 2PR / (P + R) of the two means.

Shared by ``benchmarks/clean.py`` and ``tests/python/test_clean_extraction.py``; standard library only.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

TOKEN_RE = re.compile(r"\w+", re.UNICODE)
DEFAULT_DATA = Path(
    os.environ.get(
        "AIRTUNE_HTML_BENCH", Path(__file__).resolve().parents[1] / "shared" / "data" / "html-extraction"
    )
)
# shared/ lies beside the checkout (CI and sessions); /work/shared is where sessions find it.
BESIDE_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "html-extraction"
FALLBACK_DATA = Path("/work/shared/data/html-extraction")


def data_dir() -> Path | None:
    """The benchmark folder (``AIRTUNE_HTML_BENCH``, ``<repo>/shared/...``, ``<repo>/../shared/...``
    or ``/work/shared/...``)."""
    for cand in (DEFAULT_DATA, BESIDE_DATA, FALLBACK_DATA):
        if (cand / "ground-truth.json").exists():
            return cand
    return None


def shingles(text: str, n: int = 4) -> Counter:
    """Multiset of word n-gram shingles of ``text`` (one shingle when it has fewer than n words)."""
    tokens = TOKEN_RE.findall(text or "")
    grams = [" ".join(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1))]
    return Counter(g for g in grams if g)


def page_counts(truth: str, pred: str) -> tuple[float, float, float]:
    """Normalised (tp, fp, fn) of one page; (0, 0, 0) when both texts have no words."""
    t, p = shingles(truth), shingles(pred)
    tp = sum((t & p).values())
    fp = sum((p - t).values())
    fn = sum((t - p).values())
    total = tp + fp + fn
    if total == 0:
        return 0.0, 0.0, 0.0
    return tp / total, fp / total, fn / total


@dataclass
class Score:
    precision: float
    recall: float
    f1: float
    pages: int

    def as_dict(self) -> dict[str, float]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "pages": self.pages}


def score(truth: Mapping[str, str], predictions: Mapping[str, str]) -> Score:
    """Macro precision/recall and their F1 over the pages of ``truth`` (missing predictions are empty)."""
    precisions, recalls = [], []
    for key, true_text in truth.items():
        tp, fp, fn = page_counts(true_text, predictions.get(key, "") or "")
        if fp == 0 and fn == 0:
            precisions.append(1.0)
            recalls.append(1.0)
            continue
        if tp + fp > 0:
            precisions.append(tp / (tp + fp))
        if tp + fn > 0:
            recalls.append(tp / (tp + fn))
    p = sum(precisions) / len(precisions) if precisions else 0.0
    r = sum(recalls) / len(recalls) if recalls else 0.0
    f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return Score(p, r, f1, len(truth))


def load_pages(folder: Path | None = None) -> tuple[dict[str, bytes], dict[str, str]]:
    """(raw page bytes by id, decompressed in memory; ground-truth article bodies by id)."""
    folder = folder or data_dir()
    if folder is None:
        raise FileNotFoundError("html-extraction benchmark not found; set AIRTUNE_HTML_BENCH")
    truth_raw = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    truth = {k: v["articleBody"] for k, v in truth_raw.items()}
    pages = {k: gzip.decompress((folder / "html" / f"{k}.html.gz").read_bytes()) for k in sorted(truth)}
    return pages, truth


def decode_page(raw: bytes) -> str:
    """Defensive decoding for peers that want str: UTF-8, else cp1252 (as browsers fall back)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def evaluate(extract: Callable[[list[bytes]], list[str]], folder: Path | None = None) -> Score:
    """Score an extractor that maps a list of page bytes to a list of texts."""
    pages, truth = load_pages(folder)
    keys = list(pages)
    texts = extract([pages[k] for k in keys])
    return score(truth, dict(zip(keys, texts)))


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps({"data": str(data_dir())}))
