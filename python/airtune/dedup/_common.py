"""Shared pieces of the dedup stages: text normalisation flags, input adapters, survivor rules, the result mixin."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import numpy as np

from .. import _core
from .._inputs import as_str_list
from .._results import ResultMixin, require

_c = _core.dedup


def _norm_flags(lowercase: bool, whitespace: bool, punctuation: bool, digits: bool) -> dict[str, bool]:
    return {
        "lowercase": bool(lowercase),
        "collapse_whitespace": bool(whitespace),
        "strip_punctuation": bool(punctuation),
        "digits_to_zero": bool(digits),
    }


def _unicode_prep(texts: list, nfkc: bool, lowercase: bool) -> list:
    """NFKC and full Unicode lower-casing of non-ASCII rows (ASCII rows pass through untouched;
    the C++ pass lower-cases ASCII). None stays None (treated as empty)."""
    if not (nfkc or lowercase):
        return texts
    out = texts
    for i, t in enumerate(texts):
        if isinstance(t, str) and not t.isascii():
            if out is texts:
                out = list(texts)
            if nfkc:
                t = unicodedata.normalize("NFKC", t)
            if lowercase:
                t = t.lower()
            out[i] = t
    return out


def normalize(
    text: str,
    *,
    lowercase: bool = True,
    whitespace: bool = True,
    punctuation: bool = False,
    digits: bool = False,
    nfkc: bool = True,
) -> str:
    """The normalised form of ``text`` used for hashing (see :func:`exact_duplicates`)."""
    (prepped,) = _unicode_prep([text], nfkc, lowercase)
    return _c.normalize(prepped, _norm_flags(lowercase, whitespace, punctuation, digits))


def _conversation_text(row: Any) -> str:
    """One string for a structured row: a chat (list of {role, content} / ShareGPT {from, value}
    messages, or a dict holding one under "messages" / "conversations") becomes "role: content"
    lines; any other dict or list becomes canonical JSON (sorted keys)."""
    messages = row
    if isinstance(row, dict):
        for key in ("messages", "conversations", "conversation"):
            if isinstance(row.get(key), list):
                messages = row[key]
                break
    if isinstance(messages, list) and messages and all(isinstance(m, dict) for m in messages):
        lines = []
        for m in messages:
            role = m.get("role", m.get("from", ""))
            content = m.get("content", m.get("value", ""))
            if not isinstance(content, str):
                content = json.dumps(content, ensure_ascii=False, sort_keys=True)
            lines.append(f"{role}: {content}")
        return "\n".join(lines)
    return json.dumps(row, ensure_ascii=False, sort_keys=True, default=str)


def _texts(obj: Any, column: str | None, name: str = "texts") -> list:
    """as_str_list, plus whole conversations / structured rows (dict, list) turned into one string
    each; other non-text values are left for the C++ layer to reject (TypeError naming the row)."""
    rows = as_str_list(obj, name=name, column=column)
    if any(isinstance(r, (dict, list, tuple)) for r in rows):
        rows = [_conversation_text(r) if isinstance(r, (dict, list, tuple)) else r for r in rows]
    return rows


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


class _RowsMixin(ResultMixin):
    keep: np.ndarray
    cluster: np.ndarray
    cluster_size: np.ndarray
    reason_label = "duplicate"

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


_EXACT_FLAGS = _norm_flags(True, True, False, False)
