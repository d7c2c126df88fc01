"""Exact duplicates: identical text after normalisation, hashed with XXH64 and confirmed byte for byte."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._common import _c, _labels_of, _norm_flags, _resolve_conflicts, _RowsMixin, _survivor_args, _texts


@dataclass(repr=False)
class ExactResult(_RowsMixin):
    """Exact duplicates. ``cluster[i]`` is the surviving row of row i's group.

    ``conflicts``: duplicate groups whose rows carry different labels (rows, label counts, survivor,
    resolution), settled by ``on_conflict``. ``ids``: the record ids when the input had them.
    """

    keep: np.ndarray
    cluster: np.ndarray
    cluster_size: np.ndarray
    hashes: np.ndarray
    n_clusters: int
    hash_collisions: int
    survivor_rule: str
    conflicts: list = field(default_factory=list)
    on_conflict: str = "first"
    ids: list | None = None
    conflict_dropped: np.ndarray | None = None
    reason_label = "exact duplicate"
    stage = "exact"

    def summary_line(self) -> str:
        text = (
            f"ExactResult: {self.n_rows} rows, {self.n_removed} exact duplicates removed in "
            f"{self.n_clusters} groups, {self.n_kept} kept (keep={self.survivor_rule})"
        )
        if self.conflicts:
            text += f"; {len(self.conflicts)} groups with conflicting labels (on_conflict={self.on_conflict})"
        return text

    def __repr__(self) -> str:
        return self.summary_line()


def exact_duplicates(
    texts: Any,
    *,
    select: str | None = None,
    column: str | None = None,
    keep: str = "first",
    scores: Any = None,
    priority: Any = None,
    lowercase: bool = True,
    whitespace: bool = True,
    punctuation: bool = False,
    digits: bool = False,
    nfkc: bool = True,
    labels: Any = None,
    on_conflict: str = "first",
) -> ExactResult:
    """Find rows whose normalised text is identical and keep one per group.

    ``texts``: :class:`airtune.io.Records` (``select=`` the text compared: the whole
    ``"conversation"`` by default, ``"last_user"``, ``"metadata.question"``...), list/numpy/pandas/
    pyarrow/HF column (``select=``/``column=`` names a column of a table), or rows that are whole
    conversations (lists of ``{role, content}``, dicts with ``messages``), compared as
    "role: content" lines; other structured rows as canonical JSON.
    Normalisation (C++, utf8proc): NFKC, full Unicode case folding, whitespace collapsing, optional
    punctuation removal and digit folding (``digits=True`` maps every digit to 0). Survivor:
    ``keep="first"`` (smallest row), ``"longest"`` (most UTF-8 bytes), ``"score"`` (highest
    ``scores``), or ``priority=`` (lowest value wins); ties go to the smallest row. Hash collisions
    are checked byte for byte.

    Labels: duplicates whose labels differ (the records' labels, or ``labels=``) are reported in
    ``conflicts`` and settled by ``on_conflict``: ``"first"`` (the survivor rule's row),
    ``"majority"`` (a row of the most common label) or ``"drop"`` (the whole group).
    ``result.apply(records)`` gives the kept records and the dropped ones with their reasons.
    """
    rows, records = _texts(texts, column, select=select, stage="exact")
    rule, sc = _survivor_args(keep, scores, priority, len(rows))
    r = _c.exact_duplicates(rows, _norm_flags(lowercase, whitespace, punctuation, digits, nfkc), rule, sc)
    keep_mask, cluster, size = r.clusters.keep.astype(bool), r.clusters.cluster, r.clusters.size
    labs = _labels_of(records, labels, len(rows))
    keep_mask, cluster, conflicts, dropped = _resolve_conflicts(keep_mask, cluster, size, labs, on_conflict)
    return ExactResult(
        keep=keep_mask,
        cluster=cluster,
        cluster_size=size,
        hashes=r.hashes,
        n_clusters=int(r.clusters.n_clusters),
        hash_collisions=int(r.hash_collisions),
        survivor_rule=rule if priority is None else "priority",
        conflicts=conflicts,
        on_conflict=on_conflict,
        ids=records.ids if records is not None else None,
        conflict_dropped=dropped if dropped.any() else None,
    )
