"""Exact duplicates: identical text after normalisation, hashed with XXH64 and confirmed byte for byte."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._common import _c, _norm_flags, _RowsMixin, _survivor_args, _texts, _unicode_prep


@dataclass(repr=False)
class ExactResult(_RowsMixin):
    """Exact duplicates. ``cluster[i]`` is the surviving row of row i's group."""

    keep: np.ndarray
    cluster: np.ndarray
    cluster_size: np.ndarray
    hashes: np.ndarray
    n_clusters: int
    hash_collisions: int
    survivor_rule: str
    reason_label = "exact duplicate"

    def summary_line(self) -> str:
        return (
            f"ExactResult: {self.n_rows} rows, {self.n_removed} exact duplicates removed in "
            f"{self.n_clusters} groups, {self.n_kept} kept (keep={self.survivor_rule})"
        )

    def __repr__(self) -> str:
        return self.summary_line()


def exact_duplicates(
    texts: Any,
    *,
    column: str | None = None,
    keep: str = "first",
    scores: Any = None,
    priority: Any = None,
    lowercase: bool = True,
    whitespace: bool = True,
    punctuation: bool = False,
    digits: bool = False,
    nfkc: bool = True,
) -> ExactResult:
    """Find rows whose normalised text is identical and keep one per group.

    ``texts``: list/numpy/pandas/pyarrow/HF column (``column=`` selects one from a table). Rows
    that are whole conversations (lists of ``{role, content}`` or ShareGPT ``{from, value}``
    messages, or dicts with ``messages``) are compared as "role: content" lines; other structured
    rows as canonical JSON.
    Normalisation: NFKC, lower-casing, whitespace collapsing, optional punctuation removal and
    digit folding (``digits=True`` maps every digit to 0). Survivor: ``keep="first"`` (smallest
    row), ``"longest"`` (most UTF-8 bytes), ``"score"`` (highest ``scores``), or ``priority=``
    (lowest value wins); ties go to the smallest row. Hash collisions are checked byte for byte.
    """
    rows = _texts(texts, column)
    rule, sc = _survivor_args(keep, scores, priority, len(rows))
    prepped = _unicode_prep(rows, nfkc, lowercase)
    r = _c.exact_duplicates(prepped, _norm_flags(lowercase, whitespace, punctuation, digits), rule, sc)
    return ExactResult(
        keep=r["keep"].astype(bool),
        cluster=r["cluster"],
        cluster_size=r["size"],
        hashes=r["hashes"],
        n_clusters=int(r["n_clusters"]),
        hash_collisions=int(r["hash_collisions"]),
        survivor_rule=rule if priority is None else "priority",
    )
