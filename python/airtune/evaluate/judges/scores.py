"""LLM-judge scores: parsing with unparsed and off-scale buckets, Likert summaries, Krippendorff's alpha,
agreement."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from ..._core import metrics as _m
from ..._inputs import as_str_list
from ...metrics._result import DEFAULT_SEED
from ...metrics.labels import cohen_kappa

_JUDGE_PATTERNS = (
    re.compile(r"\[\[(\d+(?:\.\d+)?)\]\]"),
    re.compile(r"(?i)\b(?:score|rating)\s*[:=]?\s*\**\s*(\d+(?:\.\d+)?)"),
    re.compile(r"\[(\d+(?:\.\d+)?)\]"),
    re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*\d+)?\s*$"),
)


#: Status of one judge answer: a score on the scale, a number off the scale, no score found, or no
#: answer at all (the judge call failed after its retries).
JUDGE_STATUSES = ("ok", "off-scale", "unparsed", "error")


def parse_judge_outputs(outputs: Any, *, low: int = 1, high: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Scores and statuses of judge answers (see :func:`parse_judge_scores` for the formats).

    Returns (scores, status): scores NaN unless status is "ok"; status "off-scale" when a score
    pattern matched a number outside [low, high] (e.g. "Score: 7" on a 1-5 scale), "unparsed" when
    none matched, "error" for None (a failed judge call). When a pattern occurs several times the
    last occurrence counts (a judge that reasons first gives its grade at the end).
    """
    rows = as_str_list(outputs, "outputs")
    out = np.full(len(rows), np.nan)
    status = np.full(len(rows), "unparsed", dtype=object)
    v: float | None
    for i, text in enumerate(rows):
        if text is None:
            status[i] = "error"
            continue
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            v = float(text)
            if math.isnan(v):
                continue
        else:
            v = None
            for pat in _JUDGE_PATTERNS:
                found = pat.findall(str(text))
                if found:
                    v = float(found[-1])
                    break
            if v is None:
                continue
        if low <= v <= high:
            out[i] = v
            status[i] = "ok"
        else:
            status[i] = "off-scale"
    return out, status


def parse_judge_scores(outputs: Any, *, low: int = 1, high: int = 5) -> np.ndarray:
    """Scores from judge outputs: ``[[4]]`` (MT-Bench), ``Score: 4``, ``[4]`` or a bare ``4``/``4/5``.

    Outputs that match none of these, or whose value is outside [low, high], become NaN: they are
    counted as "unparsed" by :func:`likert_summary`, never silently dropped
    (:func:`parse_judge_outputs` tells off-scale answers from unparsed ones).
    """
    return parse_judge_outputs(outputs, low=low, high=high)[0]


def likert_summary(
    scores: Any, *, low: int = 1, high: int = 5, n_samples: int = 1000, seed: int = DEFAULT_SEED
) -> dict:
    """Histogram (1..5 plus "unparsed"), mean with a seeded 95% bootstrap CI, median, unparsed rate."""
    s = np.asarray(scores, dtype=np.float64)
    valid = s[~np.isnan(s)]
    hist: dict[int | str, int] = {k: int((np.round(valid) == k).sum()) for k in range(low, high + 1)}
    hist["unparsed"] = int(np.isnan(s).sum())
    out = {"n": len(s), "histogram": hist, "unparsed_rate": hist["unparsed"] / len(s) if len(s) else 0.0}
    if len(valid):
        boot = _m.bootstrap(valid.reshape(-1, 1), "mean", {"column": 0}, n_samples, seed)
        out.update(
            mean=float(valid.mean()),
            median=float(np.median(valid)),
            ci=(float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))),
        )
    else:
        out.update(mean=float("nan"), median=float("nan"), ci=(float("nan"), float("nan")))
    return out


def krippendorff_alpha(data: Any, *, level: str = "interval") -> float:
    """Krippendorff's alpha for a raters x units matrix (NaN = missing rating).

    level: "nominal", "ordinal", "interval" or "ratio" (Krippendorff 2011, coincidence matrix).
    """
    m = np.asarray(data, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError("data: expected a raters x units matrix")
    values = np.unique(m[~np.isnan(m)])
    if len(values) < 2:
        return float("nan")
    idx = {v: k for k, v in enumerate(values)}
    v = len(values)
    o = np.zeros((v, v))
    for u in range(m.shape[1]):
        col = m[:, u]
        col = col[~np.isnan(col)]
        mu = len(col)
        if mu < 2:
            continue
        cnt = np.zeros(v)
        for x in col:
            cnt[idx[x]] += 1
        o += (np.outer(cnt, cnt) - np.diag(cnt)) / (mu - 1)
    n_c = o.sum(axis=0)
    n = n_c.sum()
    if level == "nominal":
        d = 1.0 - np.eye(v)
    elif level == "ordinal":
        d = np.zeros((v, v))
        for c in range(v):
            for k in range(v):
                if c != k:
                    lo, hi = min(c, k), max(c, k)
                    d[c, k] = (n_c[lo : hi + 1].sum() - (n_c[c] + n_c[k]) / 2) ** 2
    elif level == "interval":
        d = (values[:, None] - values[None, :]) ** 2
    elif level == "ratio":
        s = values[:, None] + values[None, :]
        d = np.where(s == 0, 0.0, ((values[:, None] - values[None, :]) / np.where(s == 0, 1, s)) ** 2)
    else:
        raise ValueError("level must be nominal, ordinal, interval or ratio")
    d_o = (o * d).sum()
    d_e = (np.outer(n_c, n_c) * d).sum() / (n - 1)
    return float(1 - d_o / d_e) if d_e > 0 else float("nan")


def judge_agreement(a: Any, b: Any) -> dict:
    """Agreement of two judges (or a judge and humans) on the same items' Likert scores.

    Items where either score is missing (NaN, e.g. unparsed) are left out and counted. Returns
    n, missing, exact (share of equal scores), within_1 (|a - b| <= 1), quadratic- and
    linear-weighted Cohen's kappa, and Krippendorff's alpha (ordinal and interval; alpha uses
    every item, missing ratings included).
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"the two judges scored different numbers of items: {len(x)} vs {len(y)}")
    both = ~np.isnan(x) & ~np.isnan(y)
    xs, ys = x[both], y[both]
    out: dict[str, float] = {"n": int(both.sum()), "missing": int((~both).sum())}
    if not both.any():
        raise ValueError("no item was scored by both judges")
    out["exact"] = float((xs == ys).mean())
    out["within_1"] = float((np.abs(xs - ys) <= 1).mean())
    labels = sorted(set(xs.tolist()) | set(ys.tolist()))
    out["kappa_quadratic"] = cohen_kappa(xs.tolist(), ys.tolist(), weights="quadratic", labels=labels)
    out["kappa_linear"] = cohen_kappa(xs.tolist(), ys.tolist(), weights="linear", labels=labels)
    out["alpha_ordinal"] = krippendorff_alpha(np.vstack([x, y]), level="ordinal")
    out["alpha_interval"] = krippendorff_alpha(np.vstack([x, y]), level="interval")
    return out
