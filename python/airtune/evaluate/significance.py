"""Statistics over per-item statistics: seeded bootstrap intervals, paired bootstrap, approximate
randomisation, the three-way non-inferiority verdict at a margin (with the test set's minimum
detectable effect and the items that would settle it), exact McNemar and Wilson intervals for 0/1
outcomes (= statsmodels), Wilcoxon signed-rank (= scipy).

Every test resamples items and recomputes the metric's own statistic on each resample: a mean for
per-item metrics, BLEU/chrF/macro-F1/hierarchical F1 from their per-item sufficient statistics (in
C++), a declared Python corpus metric by calling it (:func:`airtune.metrics.corpus_metric`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._core import metrics as _m
from .._results import ResultMixin
from ..metrics._result import DEFAULT_SEED, MetricResult
from .power import paired_sd, sample_size, z_quantile


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
    scores = _bootstrap_scores(result, n_samples, seed)
    lo, hi = np.quantile(scores, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


_CHUNK = 64  # resamples of a Python corpus metric drawn at a time (bounded memory: 64 x n indices)


def _index_chunks(n: int, n_samples: int, seed: int) -> Any:
    for first in range(0, n_samples, _CHUNK):
        count = min(_CHUNK, n_samples - first)
        yield first, _m.resample_indices(n, first, count, seed)


def _bootstrap_scores(r: MetricResult, n_samples: int, seed: int) -> np.ndarray:
    if r.aggregate != "python":
        return _m.bootstrap(r.stats, r.aggregate, r.options, n_samples, seed)
    out = np.empty(n_samples)
    for first, idx in _index_chunks(len(r.per_item), n_samples, seed):
        for j, row in enumerate(idx):
            out[first + j] = r.resample.score(row, f"bootstrap resample {first + j}")
    return out


def _paired_scores(a: MetricResult, b: MetricResult, n_samples: int, seed: int) -> np.ndarray:
    """2 x B scores of both systems on the same resamples (a's row first)."""
    if a.aggregate != "python":
        return _m.paired_bootstrap(a.stats, b.stats, a.aggregate, a.options, n_samples, seed)
    out = np.empty((2, n_samples))
    for first, idx in _index_chunks(len(a.per_item), n_samples, seed):
        for j, row in enumerate(idx):
            what = f"bootstrap resample {first + j}"
            out[0, first + j] = a.resample.score(row, what)
            out[1, first + j] = b.resample.score(row, what)
    return out


def _ar_scores(a: MetricResult, b: MetricResult, n_trials: int, seed: int) -> np.ndarray:
    if a.aggregate != "python":
        return _m.approximate_randomization(a.stats, b.stats, a.aggregate, a.options, n_trials, seed)
    rng = np.random.default_rng(seed)
    out = np.empty((2, n_trials))
    for t in range(n_trials):
        swap = rng.integers(0, 2, len(a.per_item)).astype(bool)
        out[:, t] = a.resample.swapped(b.resample, swap, f"randomisation trial {t}")
    return out


def _pair(a: MetricResult, b: MetricResult) -> None:
    _check_result(a, "a")
    _check_result(b, "b")
    if a.stats.shape != b.stats.shape:
        raise ValueError(f"the two results cover different items: {a.stats.shape} vs {b.stats.shape}")
    if a.aggregate != b.aggregate or a.options != b.options:
        raise ValueError("the two results were computed with different metric options")
    if a.aggregate == "python" and (
        a.resample is None or b.resample is None or a.resample.fn is not b.resample.fn
    ):
        raise ValueError("the two results come from different Python corpus metrics")


def paired_bootstrap(
    a: MetricResult, b: MetricResult, *, n_samples: int = 1000, seed: int = DEFAULT_SEED, level: float = 0.95
) -> SignificanceResult:
    """Paired bootstrap (sacreBLEU / Koehn 2004): both systems on the same resamples.

    p-value as sacreBLEU: (c + 1) / (N + 1) with c = #resamples whose centred |difference| reaches
    the observed one (>=, so a system compared with itself gets p = 1; sacreBLEU counts only >). The CI is the percentile interval of the resampled difference b - a.
    """
    _pair(a, b)
    sc = _paired_scores(a, b, n_samples, seed)
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
    sc = _ar_scores(a, b, n_trials, seed)
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


#: The three outcomes of a verdict against the baseline.
OUTCOMES = ("replaceable", "not replaceable", "inconclusive")


@dataclass
class NonInferiorityResult(ResultMixin):
    """Can the candidate replace the baseline? Three outcomes at ``margin``, from the (1 - 2 alpha)
    paired-bootstrap interval [lower_bound, upper_bound] of candidate - baseline:

    * "replaceable" (``non_inferior``): lower_bound >= -margin (identical systems pass with margin 0);
    * "not replaceable": upper_bound < -margin, inferior beyond the margin;
    * "inconclusive": the interval straddles -margin: these items cannot tell.

    ``mde``: the minimum detectable effect of this test set at ``power``: how far the true
    difference must lie from -margin (either side) for a test of ``n_items`` items to settle it
    with that probability, (z_{1-alpha} + z_{power}) * sd / sqrt(n). ``n_needed``: the items that
    would settle it at ``power`` if the true difference is the observed one,
    ((z_{1-alpha} + z_{power}) * sd / (difference + margin))^2 (inf when the difference sits on the
    margin). ``sd`` is the per-item standard deviation of the paired differences: from the
    discordance rate for 0/1 outcomes (sqrt(psi - delta^2), psi = share of items where exactly one
    system is right; Connor 1987), the paired per-item differences for other per-item scores, and
    sqrt(n) x the bootstrap standard error for corpus statistics (BLEU, macro-F1). ``sd_method``
    says which. ``superior`` when the lower bound is above 0.
    """

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
    upper_bound: float = float("nan")
    outcome: str = ""
    power: float = 0.8
    mde: float = float("nan")
    n_needed: float = float("nan")
    sd: float = float("nan")
    sd_method: str = ""

    @property
    def level(self) -> float:
        """Coverage of the two-sided interval [lower_bound, upper_bound]."""
        return 1 - 2 * self.alpha

    @property
    def reading(self) -> str:
        """The verdict in words, e.g. "97 items cannot tell; about 412 would"."""
        ci = f"{100 * self.level:.0f}% CI [{self.lower_bound:+.4g}, {self.upper_bound:+.4g}]"
        if self.outcome == "replaceable":
            return f"replaceable: difference {self.difference:+.4g}, {ci} stays above -{self.margin:g}"
        if self.outcome == "not replaceable":
            return f"not replaceable: difference {self.difference:+.4g}, {ci} lies below -{self.margin:g}"
        if not math.isfinite(self.n_needed):
            return (
                f"{self.n_items} items cannot tell; the observed difference sits on the margin, "
                "so no number of items would settle it unless the true difference is elsewhere"
            )
        side = "replaceable" if self.difference > -self.margin else "not replaceable"
        return (
            f"{self.n_items} items cannot tell; about {int(self.n_needed):,} would "
            f"({100 * self.power:.0f}% power to show it {side} if the true difference is {self.difference:+.4g})"
        )

    def summary_line(self) -> str:
        return f"{self.metric}: {self.reading}"

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame([self.__dict__ | {"reading": self.reading}])


def non_inferiority(
    candidate: MetricResult,
    baseline: MetricResult,
    *,
    margin: float,
    alpha: float = 0.05,
    n_samples: int = 2000,
    seed: int = DEFAULT_SEED,
    power: float = 0.8,
) -> NonInferiorityResult:
    """The three-way verdict by paired bootstrap (see :class:`NonInferiorityResult`): the one-sided
    (1 - alpha) lower bound of candidate - baseline against -margin, the upper bound for "not
    replaceable", and the minimum detectable effect and items needed at ``power``."""
    if margin < 0 or not math.isfinite(margin):
        raise ValueError("margin must be a finite number >= 0")
    if not 0 < alpha < 0.5:
        raise ValueError("alpha must be in (0, 0.5)")
    if not 0 < power < 1:
        raise ValueError("power must be in (0, 1)")
    _pair(baseline, candidate)
    sc = _paired_scores(baseline, candidate, n_samples, seed)
    diffs = sc[1] - sc[0]
    lower, upper = (float(x) for x in np.quantile(diffs, [alpha, 1 - alpha]))
    diff = candidate.score - baseline.score
    n = len(candidate.per_item)
    sd, sd_method = paired_sd(candidate, baseline, diffs)
    if lower >= -margin:
        outcome = "replaceable"
    elif upper < -margin:
        outcome = "not replaceable"
    else:
        outcome = "inconclusive"
    k = z_quantile(1 - alpha) + z_quantile(power)
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
        n,
        upper_bound=upper,
        outcome=outcome,
        power=power,
        mde=k * sd / math.sqrt(n) if n else float("nan"),
        n_needed=sample_size(sd, diff, margin, alpha=alpha, power=power),
        sd=sd,
        sd_method=sd_method,
    )


def wilson_interval(successes: int, n: int, *, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (= statsmodels ``proportion_confint(method="wilson")``)."""
    if n <= 0:
        raise ValueError("wilson_interval: n must be positive")
    if not 0 <= successes <= n:
        raise ValueError(f"wilson_interval: successes must be in [0, {n}], got {successes}")
    z = z_quantile(1 - (1 - level) / 2)
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return center - half, center + half


def mcnemar(a: Any, b: Any) -> dict:
    """Exact McNemar test of two systems' 0/1 outcomes on the same items (= statsmodels
    ``mcnemar(table, exact=True)``): two-sided p from Binomial(b + c, 1/2) on the discordant pairs.

    ``a``, ``b``: MetricResults of a 0/1 metric or arrays of 0/1. Returns statistic (min(b, c)),
    p_value, a_only (items only a gets right), b_only, discordant, n.
    """
    x = np.asarray(a.per_item if isinstance(a, MetricResult) else a, dtype=np.float64)
    y = np.asarray(b.per_item if isinstance(b, MetricResult) else b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"the two systems cover different items: {len(x)} vs {len(y)}")
    for name, v in (("a", x), ("b", y)):
        bad = ~np.isin(v, (0.0, 1.0))
        if bad.any():
            raise ValueError(f"mcnemar: {name} row {int(np.argmax(bad))} is {v[bad][0]}, not a 0/1 outcome")
    a_only = int(((x == 1) & (y == 0)).sum())
    b_only = int(((x == 0) & (y == 1)).sum())
    k, m = min(a_only, b_only), a_only + b_only
    return {
        "statistic": k,
        "p_value": min(1.0, 2 * binom_cdf_half(k, m)) if m else 1.0,
        "a_only": a_only,
        "b_only": b_only,
        "discordant": m,
        "n": int(len(x)),
    }


def binom_cdf_half(k: int, m: int) -> float:
    """P(X <= k) for X ~ Binomial(m, 1/2), summed in log space (exact to rounding for any m)."""
    if k < 0:
        return 0.0
    if k >= m:
        return 1.0
    logs = [
        math.lgamma(m + 1) - math.lgamma(i + 1) - math.lgamma(m - i + 1) - m * math.log(2)
        for i in range(k + 1)
    ]
    top = max(logs)
    return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs))


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
        se = float(n * (n + 1) * (2 * n + 1))
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
