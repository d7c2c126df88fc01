"""Power of a paired comparison: the minimum detectable effect of a test set and the number of items
that would settle a verdict (Connor 1987 for paired 0/1 outcomes; the paired-difference standard
deviation for per-item scores; the bootstrap standard error for corpus statistics).

All for the one-sided test at ``alpha`` that the verdict runs (is the lower / upper bound of the
(1 - 2 alpha) interval of candidate - baseline beyond -margin?), which rejects with probability
``power`` when |true difference + margin| >= (z_{1-alpha} + z_{power}) * sd / sqrt(n).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

_NORMAL = NormalDist()


def z_quantile(p: float) -> float:
    """The standard normal quantile."""
    return _NORMAL.inv_cdf(p)


def paired_sd(candidate: Any, baseline: Any, boot_diffs: np.ndarray | None = None) -> tuple[float, str]:
    """Per-item standard deviation of candidate - baseline and how it was obtained.

    0/1 outcomes: sqrt(psi - delta^2) from the discordance rate psi (share of items where exactly
    one system is right) and delta = p10 - p01 ("discordance"); other per-item means: the sample
    standard deviation of the paired differences ("paired"); corpus statistics: sqrt(n) x the
    standard deviation of the bootstrap differences ``boot_diffs`` ("bootstrap").
    """
    n = len(candidate.per_item)
    if n == 0:
        return float("nan"), ""
    if candidate.aggregate == "mean" and baseline.aggregate == "mean":
        d = candidate.item_values() - baseline.item_values()
        if candidate.is_binary and baseline.is_binary:
            psi = float(np.mean(d != 0))
            delta = float(np.mean(d))
            return math.sqrt(max(psi - delta * delta, 0.0)), "discordance"
        return (float(np.std(d, ddof=1)) if n > 1 else 0.0), "paired"
    if boot_diffs is None or len(boot_diffs) < 2:
        raise ValueError("a corpus statistic needs the bootstrap differences to estimate its spread")
    return float(np.std(boot_diffs, ddof=1)) * math.sqrt(n), "bootstrap"


def minimum_detectable_effect(sd: float, n: int, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """(z_{1-alpha} + z_{power}) * sd / sqrt(n): the distance between the true difference and
    -margin that ``n`` items detect with probability ``power``."""
    if n <= 0:
        return float("nan")
    return (z_quantile(1 - alpha) + z_quantile(power)) * sd / math.sqrt(n)


def sample_size(
    sd: float, difference: float, margin: float, *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Items that settle the verdict with probability ``power`` when the true difference is
    ``difference``: ((z_{1-alpha} + z_{power}) * sd / (difference + margin))^2, rounded up
    (inf when the difference sits on the margin; at least 1)."""
    gap = abs(difference + margin)
    if not math.isfinite(sd):
        return float("nan")
    if sd == 0:
        return 1.0
    if gap < 1e-12 * max(1.0, sd):
        return float("inf")
    n = ((z_quantile(1 - alpha) + z_quantile(power)) * sd / gap) ** 2
    return float(max(1, math.ceil(n))) if n < 1e15 else float("inf")


def mcnemar_sample_size(p10: float, p01: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Connor's (1987) items for McNemar's two-sided test at ``alpha`` to detect p10 != p01 with
    probability ``power``: (z_{1-alpha/2} sqrt(psi) + z_{power} sqrt(psi - delta^2))^2 / delta^2,
    psi = p10 + p01, delta = p10 - p01 (p10: share of items only the first system gets right)."""
    psi, delta = p10 + p01, p10 - p01
    if not (0 <= p10 <= 1 and 0 <= p01 <= 1 and psi <= 1):
        raise ValueError("p10 and p01 must be shares with p10 + p01 <= 1")
    if delta == 0:
        return float("inf")
    n = (z_quantile(1 - alpha / 2) * math.sqrt(psi) + z_quantile(power) * math.sqrt(psi - delta * delta)) ** 2
    return float(math.ceil(n / (delta * delta)))
