"""System-prompt overfitting check: exact and near-duplicate system prompts, concentration, entropy,
repeated user-prompt scaffolds and a risk level with its reason."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._results import ResultMixin, require
from ._common import _P, _prompts_and_users


@dataclass
class PromptGroup:
    text: str
    rows: int
    share: float  # of the rows with a system prompt
    near_group: int
    first_row: int


@dataclass
class SystemPromptReport(ResultMixin):
    """Concentration of a dataset's system prompts and repeated user-prompt scaffolds.

    ``shares`` are fractions of the rows that have a system prompt. ``entropy_bits`` is the Shannon
    entropy of the exact-prompt distribution; ``effective_prompts`` = 2 ** entropy.
    """

    n_rows: int
    n_with_system: int
    distinct: int
    near_groups: int
    top_share: float
    top_k_share: dict[int, float]
    near_top_share: float
    entropy_bits: float
    normalized_entropy: float
    effective_prompts: float
    risk: str
    reason: str
    groups: list[PromptGroup]
    near: list[dict[str, Any]]
    scaffolds: list[dict[str, Any]]
    near_threshold: float
    near_truncated: bool = False

    def summary_line(self) -> str:
        return (
            f"system prompts: {self.n_with_system}/{self.n_rows} rows, {self.distinct} distinct, "
            f"{self.near_groups} near-groups, top share {self.top_share:.1%}, "
            f"entropy {self.entropy_bits:.2f} bits | risk {self.risk.upper()}: {self.reason}"
        )

    def __str__(self) -> str:
        return self.summary_line()

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    def to_pandas(self) -> Any:
        pd = require("pandas", "data")
        return pd.DataFrame(
            [
                {
                    "text": g.text,
                    "rows": g.rows,
                    "share": g.share,
                    "near_group": g.near_group,
                    "first_row": g.first_row,
                }
                for g in self.groups
            ]
        )

    def scaffolds_frame(self) -> Any:
        pd = require("pandas", "data")
        return pd.DataFrame(self.scaffolds)

    def plot(self, ax: Any = None, top: int = 10) -> Any:
        """Bar chart of the top exact prompts' shares, coloured by near-duplicate group."""
        plt = require("matplotlib.pyplot", "plot")
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        gs = self.groups[:top]
        labels = [(g.text[:40] + "...") if len(g.text) > 40 else g.text for g in gs]
        cmap = plt.get_cmap("tab10")
        ax.barh(range(len(gs)), [g.share for g in gs], color=[cmap(g.near_group % 10) for g in gs])
        ax.set_yticks(range(len(gs)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("share of rows with a system prompt")
        ax.set_title(f"system prompts (risk: {self.risk})")
        return ax


def _entropy_bits(counts: np.ndarray) -> float:
    total = counts.sum()
    if total <= 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum())


def _risk(n_sys: int, n_rows: int, near_top: float, effective: float, distinct: int) -> tuple[str, str]:
    if n_sys == 0:
        return "none", "no row has a system prompt"
    few = f" (only {n_sys} rows: a small sample)" if n_sys < 20 else ""
    if near_top >= 0.9:
        return "high", (
            f"one system prompt (with its near-duplicates) is on {near_top:.0%} of the {n_sys} rows that "
            f"have one: a model tuned on this will depend on its exact wording; add variations "
            f"(airtune.prompts.diversify){few}"
        )
    if near_top >= 0.5 or effective < 3.0:
        return "medium", (
            f"the most common system prompt covers {near_top:.0%} of rows and the effective number "
            f"of prompts is {effective:.1f}; consider variations{few}"
        )
    return "low", f"{distinct} distinct system prompts, none above {near_top:.0%} of rows{few}"


def system_prompt_report(
    records: Any,
    near_threshold: float = 0.8,
    shingle: int = 5,
    top_k: Sequence[int] = (1, 3, 5),
    scaffold_min_chars: int = 20,
    scaffold_min_rows: int = 3,
    max_distinct: int = 5000,
    examples: int = 3,
) -> SystemPromptReport:
    """Group a dataset's system prompts exactly and by near-duplicate similarity; flag concentration.

    ``records``: :class:`airtune.io.Records`, a list of record dicts (any layout ``airtune.io``
    reads), a DataFrame/Arrow table/HF dataset of records, or a list of system-prompt strings
    (``None`` for rows without one). Near-duplicates: exact Jaccard similarity of character
    ``shingle``-grams (lower-cased, whitespace collapsed) >= ``near_threshold``, joined
    transitively. Risk: ``high`` when one near-duplicate group has >= 90% of the rows with a
    system prompt, ``medium`` when >= 50% or the effective number of prompts (2 ** entropy) is
    below 3, ``low`` otherwise, ``none`` without system prompts. Scaffolds: user prompts that
    share a prefix or suffix template of >= ``scaffold_min_chars`` characters across >=
    ``scaffold_min_rows`` rows (only for record input).
    """
    system, users, _ = _prompts_and_users(records)
    n = len(system)
    g = _P.group_prompts(system, float(near_threshold), int(shingle), int(max_distinct))
    counts = np.asarray(g.count, dtype=np.int64)
    first_row = np.asarray(g.first_row)
    near_of = np.asarray(g.near_of_distinct)
    n_sys = int(counts.sum())
    order = np.argsort(-counts, kind="stable")
    groups = [
        PromptGroup(
            system[int(first_row[i])] or "",  # a distinct prompt is never a missing one
            int(counts[i]),
            float(counts[i] / n_sys),
            int(near_of[i]),
            int(first_row[i]),
        )
        for i in order
    ]
    near_counts = (
        np.bincount(near_of, weights=counts, minlength=int(g.n_near)).astype(np.int64)
        if len(counts)
        else np.zeros(0, np.int64)
    )
    near = []
    for gid in np.argsort(-near_counts, kind="stable"):
        members = np.flatnonzero(near_of == gid)
        members = members[np.argsort(-counts[members], kind="stable")]
        near.append(
            {
                "near_group": int(gid),
                "rows": int(near_counts[gid]),
                "share": float(near_counts[gid] / n_sys),
                "distinct": int(len(members)),
                "example": system[int(first_row[members[0]])],
                "variants": [system[int(first_row[m])] for m in members[:examples]],
            }
        )
    top_share = float(counts.max() / n_sys) if n_sys else 0.0
    sorted_counts = np.sort(counts)[::-1]
    top_k_share = {int(k): float(sorted_counts[:k].sum() / n_sys) if n_sys else 0.0 for k in top_k}
    near_top = float(near_counts.max() / n_sys) if n_sys else 0.0
    h = _entropy_bits(counts)
    d = len(counts)
    risk, reason = _risk(n_sys, n, near_top, 2.0**h, d)
    scaffolds: list[dict[str, Any]] = []
    if users:
        idx = [i for i, u in enumerate(users) if u]
        texts = [users[i] for i in idx]
        if len(texts) >= scaffold_min_rows:
            for suffix in (False, True):
                for s in _P.find_scaffolds(texts, suffix, int(scaffold_min_chars), int(scaffold_min_rows)):
                    rows = [idx[int(m)] for m in s.members]
                    scaffolds.append(
                        {
                            "kind": "suffix" if suffix else "prefix",
                            "text": s.text,
                            "rows": s.rows,
                            "share": s.rows / n,
                            "distinct": s.distinct,
                            "example_rows": rows[:examples],
                        }
                    )
            scaffolds.sort(key=lambda s: (-s["rows"], s["kind"], s["text"]))
    return SystemPromptReport(
        n_rows=n,
        n_with_system=n_sys,
        distinct=d,
        near_groups=int(g.n_near),
        top_share=top_share,
        top_k_share=top_k_share,
        near_top_share=near_top,
        entropy_bits=h,
        normalized_entropy=float(h / math.log2(d)) if d > 1 else 0.0,
        effective_prompts=float(2.0**h),
        risk=risk,
        reason=reason,
        groups=groups,
        near=near,
        scaffolds=scaffolds,
        near_threshold=float(near_threshold),
        near_truncated=bool(g.near_truncated),
    )
