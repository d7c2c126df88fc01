"""Shared pieces of the dedup stages: text normalisation flags, input adapters, survivor rules, the result mixin."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .._results import ResultMixin, require
from ..stage import StageResult, row_names

_c = _core.dedup


def _norm_flags(
    lowercase: bool, whitespace: bool, punctuation: bool, digits: bool, nfkc: bool = True
) -> _core.dedup.NormalizeOptions:
    """The options of the one text normalisation (C++, ``core/normalize.h``), as the bindings take them."""
    return _c.NormalizeOptions(
        lowercase=bool(lowercase),
        collapse_whitespace=bool(whitespace),
        strip_punctuation=bool(punctuation),
        digits_to_zero=bool(digits),
        unicode="NFKC" if nfkc else None,
    )


def normalize(
    text: str,
    *,
    lowercase: bool = True,
    whitespace: bool = True,
    punctuation: bool = False,
    digits: bool = False,
    nfkc: bool = True,
) -> str:
    """The normalised form of ``text`` used for hashing (see :func:`exact_duplicates`): NFKC (utf8proc),
    full Unicode case folding, whitespace collapsed, optionally punctuation/symbols removed and
    digits folded to 0. The same C++ function serves exact dedup, holdout grouping, leakage and
    the MinHash index."""
    return _c.normalize(text, _norm_flags(lowercase, whitespace, punctuation, digits, nfkc))


def _conversation_text(row: Any) -> str:
    """One string for a structured row: a conversation (list of {role, content} / ShareGPT
    {from, value} messages, or a dict holding one) as "role: content" lines (the C++ selector),
    any other dict or list as canonical JSON (sorted keys)."""
    from ..io.select import _mixed_texts

    return _mixed_texts([row], "row")[0]


def _texts(
    obj: Any, column: str | None, name: str = "texts", select: str | None = None, stage: str = ""
) -> tuple[Any, Any]:
    """(texts, records or None) for a stage: records and chat rows through the C++ selector
    (``select``, default the whole conversation), text columns as they are, other structured rows
    as canonical JSON (see :func:`airtune.io.select.stage_texts`)."""
    from ..io.select import stage_texts

    return stage_texts(obj, select, column, name=name, stage=stage)


def _scores_array(scores: Any, n: int, name: str) -> np.ndarray:
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name}: expected {n} values, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name}: row {int(bad[0])} is NaN or infinite")
    return arr


def _survivor_args(keep: str, scores: Any, priority: Any, n: int) -> tuple[str, np.ndarray | None]:
    if priority is not None:
        if scores is not None:
            raise ValueError("pass scores or priority, not both")
        return "score", -_scores_array(priority, n, "priority")
    if keep in ("score", "priority") and scores is None:
        raise ValueError(f"keep={keep!r} needs scores= (or priority=)")
    if scores is not None:
        return ("score" if keep in ("first", "score") else keep), _scores_array(scores, n, "scores")
    return keep, None


def _cluster_list(cluster: np.ndarray, size: np.ndarray) -> list[list[int]]:
    rows = np.flatnonzero(size > 1)
    if rows.size == 0:
        return []
    order = rows[np.argsort(cluster[rows], kind="stable")]
    groups = np.split(order, np.flatnonzero(np.diff(cluster[order])) + 1)
    return [g.tolist() for g in groups]


class _RowsMixin(StageResult, ResultMixin):
    keep: np.ndarray
    cluster: np.ndarray
    cluster_size: np.ndarray
    ids: list[str] | None
    reason_label = "duplicate"
    stage = "dedup"

    @property
    def reason(self) -> list[str]:
        """Per row: '' when kept, else '<stage>_duplicate_of:<id of the survivor>' (its row number
        when the input had no ids)."""
        out = [""] * self.n_rows
        dropped = np.flatnonzero(~self.keep)
        names = row_names(self.ids, self.cluster[dropped])
        for i, n in zip(dropped.tolist(), names):
            out[i] = f"{self.stage}_duplicate_of:{n}"
        conflict = getattr(self, "conflict_dropped", None)
        if conflict is not None:  # on_conflict="drop": the whole group went, survivor included
            rows = np.flatnonzero(conflict)
            for i, n in zip(rows.tolist(), row_names(self.ids, self.cluster[rows])):
                out[i] = f"label_conflict:{self.stage}_group_of:{n}"
        return out

    @property
    def n_rows(self) -> int:
        return int(self.keep.shape[0])

    @property
    def n_kept(self) -> int:
        return int(self.keep.sum())

    @property
    def n_removed(self) -> int:
        return self.n_rows - self.n_kept

    def clusters(self) -> list[list[int]]:
        """Clusters of two or more rows, each a sorted list of row indices (survivor included)."""
        return _cluster_list(self.cluster, self.cluster_size)

    def reasons(self) -> list[str]:
        """Per row: '' for kept rows, else '<label> of row <survivor>'."""
        return [
            "" if k else f"{self.reason_label} of row {c}"
            for k, c in zip(self.keep.tolist(), self.cluster.tolist())
        ]

    def to_pandas(self) -> Any:
        pd = require("pandas", "pandas")
        return pd.DataFrame(
            {
                "keep": self.keep,
                "cluster": self.cluster,
                "cluster_size": self.cluster_size,
                "reason": self.reasons(),
            }
        )

    def plot(self, ax: Any = None) -> Any:
        """Histogram of cluster sizes (clusters of two or more rows)."""
        plt = require("matplotlib.pyplot", "plot")
        ax = ax or plt.subplots()[1]
        sizes = [len(c) for c in self.clusters()]
        ax.hist(sizes, bins=min(50, max(1, len(set(sizes)))))
        ax.set_xlabel("cluster size")
        ax.set_ylabel("clusters")
        ax.set_title(self.summary_line())
        return ax


_EXACT_FLAGS = _norm_flags(True, True, False, False, True)


_CONFLICT_RULES = ("first", "majority", "drop")


def _labels_of(records: Any, labels: Any, n: int) -> list | None:
    """Per row the label duplicates are compared on: ``labels=`` if given, else the records' labels."""
    if labels is not None:
        vals = list(labels)
        if len(vals) != n:
            raise ValueError(f"labels: expected {n} values, got {len(vals)}")
        return vals
    if records is None:
        return None
    col = _core.records.select_text(records._batch, "label")
    present = col.present
    if not present.any():
        return None
    texts = col.to_list()
    return [t if p else None for t, p in zip(texts, present.tolist())]


def _resolve_conflicts(
    keep: np.ndarray, cluster: np.ndarray, size: np.ndarray, labels: list | None, rule: str
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]], np.ndarray]:
    """Duplicate groups whose rows carry different labels: reported, and settled by ``rule``:
    ``"first"`` keeps the survivor chosen by the survivor rule, ``"majority"`` keeps the best row of
    the most common label (ties: the label of the earliest row), ``"drop"`` drops the whole group.
    Returns (keep, cluster, conflicts, dropped_for_conflict)."""
    if rule not in _CONFLICT_RULES:
        raise ValueError(f"on_conflict: expected one of {_CONFLICT_RULES}, got {rule!r}")
    conflict_drop = np.zeros(keep.shape[0], dtype=bool)
    if labels is None:
        return keep, cluster, [], conflict_drop
    keep, cluster = keep.copy(), cluster.copy()
    conflicts = []
    for group in _cluster_list(cluster, size):
        labs = [labels[i] for i in group]
        distinct = {lab for lab in labs if lab is not None}
        if len(distinct) < 2:
            continue
        counts: dict[Any, int] = {}
        for lab in labs:
            if lab is not None:
                counts[lab] = counts.get(lab, 0) + 1
        survivor = int(cluster[group[0]])
        entry = {"rows": group, "labels": counts, "survivor": survivor, "resolution": rule}
        if rule == "majority":
            best = max(counts.values())
            winner = next(lab for lab in labs if lab is not None and counts[lab] == best)
            if labels[survivor] != winner:
                # the survivor rule's choice among the rows of the winning label: the earliest
                new = next(i for i in group if labels[i] == winner)
                keep[group] = False
                keep[new] = True
                cluster[group] = new
                survivor = new
            entry["survivor"], entry["label"] = survivor, winner
        elif rule == "drop":
            keep[group] = False
            conflict_drop[group] = True
            entry["survivor"] = -1
        conflicts.append(entry)
    return keep, cluster, conflicts, conflict_drop
