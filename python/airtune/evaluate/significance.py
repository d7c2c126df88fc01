"""Statistics over per-item scores: seeded bootstrap intervals, paired bootstrap, approximate
randomisation, non-inferiority at a margin, Wilcoxon signed-rank (= scipy)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._core import metrics as _m
from .._results import ResultMixin
from ..metrics._result import DEFAULT_SEED, MetricResult


@dataclass
class SignificanceResult(ResultMixin):
    """Two systems compared on the same items: observed difference (b - a), p-value, CI of the difference."""

    test: str
    metric: str
    score_a: float
    score_b: float
    difference: float
    p_value: float
    ci: tuple[float, float]
    n_samples: int
    seed: int

    def summary_line(self) -> str:
        return (
            f"{self.test} on {self.metric}: {self.score_a:.4f} -> {self.score_b:.4f} "
            f"(diff {self.difference:+.4f}, p = {self.p_value:.4g})"
        )

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    k: getattr(self, k)
                    for k in (
                        "test",
                        "metric",
                        "score_a",
                        "score_b",
                        "difference",
                        "p_value",
                        "n_samples",
                        "seed",
                    )
                }
                | {"ci_low": self.ci[0], "ci_high": self.ci[1]}
            ]
        )


def _check_result(r: MetricResult, name: str) -> MetricResult:
    if not isinstance(r, MetricResult):
        raise TypeError(f"{name}: expected a MetricResult (e.g. from airtune.metrics.bleu)")
    return r


def bootstrap_ci(
    result: MetricResult, *, n_samples: int = 1000, seed: int = DEFAULT_SEED, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap CI of a corpus score, resampling items (per-item statistics, seeded)."""
    _check_result(result, "result")
    scores = _m.bootstrap(result.stats, result.aggregate, result.options, n_samples, seed)
    lo, hi = np.quantile(scores, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def _pair(a: MetricResult, b: MetricResult) -> None:
    _check_result(a, "a")
    _check_result(b, "b")
    if a.stats.shape != b.stats.shape:
        raise ValueError(f"the two results cover different items: {a.stats.shape} vs {b.stats.shape}")
    if a.aggregate != b.aggregate or a.options != b.options:
        raise ValueError("the two results were computed with different metric options")


def paired_bootstrap(
    a: MetricResult, b: MetricResult, *, n_samples: int = 1000, seed: int = DEFAULT_SEED, level: float = 0.95
) -> SignificanceResult:
    """Paired bootstrap (sacreBLEU / Koehn 2004): both systems on the same resamples.

    p-value as sacreBLEU: (c + 1) / (N + 1) with c = #resamples whose centred |difference| reaches
    the observed one (>=, so a system compared with itself gets p = 1; sacreBLEU counts only >). The CI is the percentile interval of the resampled difference b - a.
    """
    _pair(a, b)
    sc = _m.paired_bootstrap(a.stats, b.stats, a.aggregate, a.options, n_samples, seed)
    diffs = sc[1] - sc[0]
    real = b.score - a.score
    abs_d = np.abs(diffs)
    c = int(np.sum((abs_d - abs_d.mean()) >= abs(real)))
    lo, hi = np.quantile(diffs, [(1 - level) / 2, 1 - (1 - level) / 2])
    return SignificanceResult(
        "paired_bootstrap",
        a.name,
        a.score,
        b.score,
        real,
        (c + 1) / (n_samples + 1),
        (float(lo), float(hi)),
        n_samples,
        seed,
    )


def approximate_randomization(
    a: MetricResult, b: MetricResult, *, n_trials: int = 10000, seed: int = DEFAULT_SEED
) -> SignificanceResult:
    """Paired two-sided approximate randomisation test (sacreBLEU's ``--paired-ar``).

    Each trial swaps each item's outputs between the systems with probability 1/2; p = (c + 1) /
    (N + 1) with c = #trials whose |score difference| reaches the observed one (>=, as MultEval
    intends; sacreBLEU's > gives identical systems p = 1/(N+1)).
    """
    _pair(a, b)
    sc = _m.approximate_randomization(a.stats, b.stats, a.aggregate, a.options, n_trials, seed)
    real = b.score - a.score
    c = int(np.sum(np.abs(sc[0] - sc[1]) >= abs(real)))
    return SignificanceResult(
        "approximate_randomization",
        a.name,
        a.score,
        b.score,
        real,
        (c + 1) / (n_trials + 1),
        (float("nan"), float("nan")),
        n_trials,
        seed,
    )


@dataclass
class NonInferiorityResult(ResultMixin):
    """Can the candidate replace the baseline? True when the lower confidence bound of
    (candidate - baseline) is at least -margin (one-sided test at ``alpha``; identical systems pass
    with margin 0)."""

    metric: str
    baseline: float
    candidate: float
    difference: float
    lower_bound: float
    margin: float
    alpha: float
    non_inferior: bool
    superior: bool
    n_items: int

    def summary_line(self) -> str:
        verdict = "can replace" if self.non_inferior else "cannot be shown to replace"
        return (
            f"candidate {verdict} the baseline on {self.metric}: diff {self.difference:+.4f}, "
            f"{100 * (1 - self.alpha):.0f}% lower bound {self.lower_bound:+.4f} vs margin -{self.margin}"
        )

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame([self.__dict__])


def non_inferiority(
    candidate: MetricResult,
    baseline: MetricResult,
    *,
    margin: float,
    alpha: float = 0.05,
    n_samples: int = 2000,
    seed: int = DEFAULT_SEED,
) -> NonInferiorityResult:
    """Non-inferiority by paired bootstrap: the one-sided (1 - alpha) lower bound of candidate -
    baseline must be at least -margin. ``superior`` when that bound is above 0."""
    if margin < 0 or not math.isfinite(margin):
        raise ValueError("margin must be a finite number >= 0")
    _pair(baseline, candidate)
    sc = _m.paired_bootstrap(
        baseline.stats, candidate.stats, baseline.aggregate, baseline.options, n_samples, seed
    )
    diffs = sc[1] - sc[0]
    lower = float(np.quantile(diffs, alpha))
    diff = candidate.score - baseline.score
    return NonInferiorityResult(
        candidate.name,
        baseline.score,
        candidate.score,
        diff,
        lower,
        margin,
        alpha,
        lower >= -margin,
        lower > 0,
        len(candidate.per_item),
    )


def wilcoxon(
    x: Sequence[float],
    y: Sequence[float] | None = None,
    *,
    zero_method: str = "wilcox",
    correction: bool = False,
    alternative: str = "two-sided",
    method: str = "auto",
) -> dict:
    """Wilcoxon signed-rank test on paired scores (e.g. Likert), as ``scipy.stats.wilcoxon``.

    method "exact" (no ties / zeros), "asymptotic" (normal approximation with tie correction), or
    "auto": exact when n <= 50 and no ties or zeros, else asymptotic. zero_method: wilcox (drop
    zero differences), pratt (rank them, then drop), zsplit (split their ranks). Returns statistic
    (W = the smaller rank sum for two-sided, else r+), p_value, n (pairs used), zeros.
    """
    d = np.asarray(x, dtype=np.float64)
    if y is not None:
        yy = np.asarray(y, dtype=np.float64)
        if yy.shape != d.shape:
            raise ValueError(f"x and y differ in length: {d.shape[0]} vs {yy.shape[0]}")
        d = d - yy
    if np.isnan(d).any():
        raise ValueError(f"row {int(np.argmax(np.isnan(d)))} has a NaN score")
    if zero_method not in ("wilcox", "pratt", "zsplit"):
        raise ValueError("zero_method must be wilcox, pratt or zsplit")
    zeros = int((d == 0).sum())
    if zero_method == "wilcox":
        d = d[d != 0]
    n_all = len(d)
    if n_all == 0:
        raise ValueError("wilcoxon: every difference is zero")
    ranks = _rankdata(np.abs(d))
    r_plus = float(ranks[d > 0].sum())
    r_minus = float(ranks[d < 0].sum())
    if zero_method == "zsplit":
        r_zero = float(ranks[d == 0].sum())
        r_plus += r_zero / 2
        r_minus += r_zero / 2
    stat = min(r_plus, r_minus) if alternative == "two-sided" else r_plus
    has_ties = len(np.unique(np.abs(d[d != 0]))) < int((d != 0).sum())
    if method == "auto":
        method = "exact" if (n_all <= 50 and zeros == 0 and not has_ties) else "asymptotic"
    if method == "exact":
        if zeros and zero_method != "wilcox" or has_ties:
            raise ValueError("the exact method needs no ties and no zero differences")
        p = _wilcoxon_exact(r_plus, n_all, alternative)
    else:
        n = n_all
        mn = n * (n + 1) * 0.25
        se = n * (n + 1) * (2 * n + 1)
        if zero_method == "pratt":
            nz = int((d == 0).sum())
            mn -= nz * (nz + 1) * 0.25
            se -= nz * (nz + 1) * (2 * nz + 1)
        tie_ranks = ranks[d != 0] if zero_method == "pratt" else ranks  # zeros excluded, as scipy
        _, counts = np.unique(tie_ranks, return_counts=True)
        se -= 0.5 * float((counts * (counts * counts - 1)).sum())
        se = math.sqrt(se / 24)
        z = (r_plus - mn) / se if se > 0 else 0.0
        if correction:
            if alternative == "two-sided":
                z -= 0.5 * np.sign(z)
            elif alternative == "less":
                z += 0.5
            else:
                z -= 0.5
        if alternative == "two-sided":
            p = math.erfc(abs(z) / math.sqrt(2))
        elif alternative == "greater":
            p = 0.5 * math.erfc(z / math.sqrt(2))
        else:
            p = 0.5 * math.erfc(-z / math.sqrt(2))
    return {
        "statistic": stat,
        "p_value": min(1.0, p),
        "n": n_all,
        "zeros": zeros,
        "method": method,
        "r_plus": r_plus,
        "r_minus": r_minus,
    }


def _rankdata(a: np.ndarray) -> np.ndarray:
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(len(a), dtype=np.float64)
    sa = a[order]
    i = 0
    while i < len(a):
        j = i
        while j + 1 < len(a) and sa[j + 1] == sa[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _wilcoxon_exact(r_plus: float, n: int, alternative: str) -> float:
    # Distribution of the signed-rank sum under H0: counts of subsets of {1..n} by sum.
    total = n * (n + 1) // 2
    counts = np.zeros(total + 1, dtype=np.float64)
    counts[0] = 1
    for k in range(1, n + 1):
        counts[k:] = counts[k:] + counts[: total + 1 - k].copy()
    pmf = counts / 2.0**n
    r = int(round(r_plus))
    if alternative == "greater":
        return float(pmf[r:].sum())
    if alternative == "less":
        return float(pmf[: r + 1].sum())
    r = max(r, total - r)
    return float(min(1.0, 2 * pmf[r:].sum()))
