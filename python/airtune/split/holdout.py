"""Holdout split: deterministic, stratified, duplicates never straddle the two sides."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _core
from .._results import ResultMixin

#: The normalisation of the holdout's duplicate groups: the one of exact dedup (NFKC, case folding,
#: whitespace; C++ core/normalize), with punctuation and symbols also folded, so that every group of
#: exact duplicates (and more) stays on one side.
GROUP_FLAGS: dict[str, Any] = {
    "lowercase": True,
    "collapse_whitespace": True,
    "strip_punctuation": True,
    "digits_to_zero": False,
    "unicode": "NFKC",
}


def _group_hashes(texts: Any) -> list[str]:
    options = _core.dedup.NormalizeOptions(**GROUP_FLAGS)
    return [f"{h:016x}" for h in _core.dedup.exact_hashes(texts, options).tolist()]


def normalized_hash(text: str) -> str:
    """Hash (XXH64, hex) of a text after the shared normalisation (NFKC, Unicode case folding,
    punctuation and whitespace differences dropped: :data:`GROUP_FLAGS`).

    Two texts with the same normalised hash are treated as duplicates by :func:`holdout_split`.
    The normalisation is the C++ one of :func:`airtune.dedup.exact_duplicates` and
    :func:`airtune.split.leakage`; MinHash near-duplicate groups from ``airtune.dedup`` plug in
    through ``holdout_split(groups=...)``.
    """
    return _group_hashes([text])[0]


def _stable_hash(seed: int, key: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}\x1f{key}".encode(), digest_size=8).digest(), "big")


def _record_text(rec: Any, text_key: str | Sequence[str] | None) -> str:
    if isinstance(rec, str):
        return rec
    if isinstance(rec, Mapping):
        if text_key is None:
            return json.dumps(rec, sort_keys=True, ensure_ascii=False, default=str)
        keys = [text_key] if isinstance(text_key, str) else list(text_key)
        return "\n".join(str(rec.get(k, "")) for k in keys)
    return str(rec)


def _as_records(records: Any) -> list:
    mod = type(records).__module__.split(".")[0]
    if mod == "pandas" and hasattr(records, "to_dict"):
        return records.to_dict("records") if hasattr(records, "columns") else records.tolist()
    if mod == "datasets":
        return [dict(r) for r in records]
    if mod == "pyarrow" and hasattr(records, "to_pylist"):
        return records.to_pylist()
    return list(records)


@dataclass
class SplitResult(ResultMixin):
    """Train and test rows of a holdout split, with its manifest.

    ``train_index`` / ``test_index`` are positions in the input; ``strata`` lists, per stratum,
    the counts on each side; ``singletons`` the strata too small to split (kept in train);
    ``duplicate_groups`` the number of groups of duplicate texts kept on one side. For
    :class:`airtune.io.Records` input, ``train`` and ``test`` are Records (every field kept).
    """

    train: Any
    test: Any
    train_index: np.ndarray
    test_index: np.ndarray
    strata: list[dict]
    singletons: list
    duplicate_groups: int
    seed: int
    fraction: float

    def summary_line(self) -> str:
        return (
            f"holdout split: {len(self.train)} train / {len(self.test)} test ({len(self.strata)} strata, "
            f"{len(self.singletons)} singleton strata kept in train, {self.duplicate_groups} duplicate groups)"
        )

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.strata)

    def manifest(self) -> dict:
        """What to store next to the metrics: seed, fraction and the test positions."""
        return {
            "seed": self.seed,
            "fraction": self.fraction,
            "test_index": self.test_index.tolist(),
            "n": len(self.train) + len(self.test),
        }


def holdout_split(
    records: Any,
    fraction: float = 0.1,
    *,
    stratify: str | Callable[[Any], Any] | Sequence | None = None,
    seed: int = 0,
    id_key: str | None = None,
    text_key: str | Sequence[str] | None = None,
    dedup: bool = True,
    groups: Sequence | None = None,
    select: str = "conversation",
) -> SplitResult:
    """Deterministic, stratified holdout split with no duplicates across the two sides.

    Items are grouped first (duplicates after :func:`normalized_hash` of ``text_key``'s text when
    ``dedup``, or the ``groups`` labels you pass, e.g. MinHash clusters from ``airtune.dedup``);
    each group goes wholly to one side. In each stratum (``stratify``: a key, a callable on the
    record, or a sequence of labels) round(fraction * groups) groups go to test, chosen by a
    seeded hash of the group's id (``id_key`` if given, else its text), so the choice is stable as
    data grows. Strata with a single group stay in train and are reported in ``singletons``: no
    error where scikit-learn's stratified split raises one.

    :class:`airtune.io.Records`: duplicates are grouped on the ``select``-ed text (the whole
    conversation by default, taken out in C++); ``stratify`` may be a selector (``"label"``,
    ``"metadata.<key>"``) and ``id_key="id"`` uses the record ids.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    from ..io import Records

    if isinstance(records, Records):
        return _split_records(records, fraction, stratify, seed, id_key, dedup, groups, select)
    recs = _as_records(records)
    n = len(recs)
    if groups is not None and len(groups) != n:
        raise ValueError(f"groups has {len(groups)} labels for {n} records")
    if stratify is None:
        labels: list = [None] * n
    elif isinstance(stratify, str):
        labels = []
        for i, r in enumerate(recs):
            if not isinstance(r, Mapping) or stratify not in r:
                raise ValueError(f"records: row {i} has no field {stratify!r} to stratify on")
            labels.append(r[stratify])
    elif callable(stratify):
        labels = [stratify(r) for r in recs]
    else:
        labels = list(stratify)
        if len(labels) != n:
            raise ValueError(f"stratify has {len(labels)} labels for {n} records")
    keys = []
    for i, r in enumerate(recs):
        if id_key is not None:
            if not isinstance(r, Mapping) or id_key not in r:
                raise ValueError(f"records: row {i} has no field {id_key!r}")
            keys.append(str(r[id_key]))
        else:
            keys.append(_record_text(r, text_key))
    # Groups: caller's labels, else duplicates by normalised hash, else every item alone.
    if groups is not None:
        gkey = [f"g:{g}" for g in groups]
    elif dedup:
        gkey = _group_hashes([_record_text(r, text_key) for r in recs])
    else:
        gkey = [f"i:{i}" for i in range(n)]
    train_idx, test_idx, strata, singletons, dup_groups = _assign(gkey, labels, keys, fraction, seed)
    return SplitResult(
        [recs[i] for i in train_idx],
        [recs[i] for i in test_idx],
        train_idx,
        test_idx,
        strata,
        singletons,
        dup_groups,
        seed,
        fraction,
    )


def _split_records(
    records: Any,
    fraction: float,
    stratify: Any,
    seed: int,
    id_key: str | None,
    dedup: bool,
    groups: Sequence | None,
    select: str,
) -> SplitResult:
    from ..io.select import is_selector, select_text

    n = len(records)
    if groups is not None and len(groups) != n:
        raise ValueError(f"groups has {len(groups)} labels for {n} records")
    text = select_text(records, select, stage="split", missing="empty")
    if stratify is None:
        labels: list = [None] * n
    elif isinstance(stratify, str):
        if not is_selector(stratify):
            stratify = f"metadata.{stratify}"
        col = select_text(records, stratify, stage="split (stratify)", missing="empty")
        if n and not col.present.any():
            raise ValueError(f"split: stratify={stratify!r} names no field of any of the {n} records")
        labels = [
            t if p else None for t, p in zip(col.to_list(), col.present.tolist())
        ]  # absent: own stratum
    elif callable(stratify):
        labels = [stratify(r) for r in records]
    else:
        labels = list(stratify)
        if len(labels) != n:
            raise ValueError(f"stratify has {len(labels)} labels for {n} records")
    if id_key is None:
        keys = _group_hashes(text)
    elif id_key == "id":
        keys = records.ids
    else:
        keys = select_text(
            records, id_key if is_selector(id_key) else f"metadata.{id_key}", stage="split"
        ).to_list()
    if groups is not None:
        gkey = [f"g:{g}" for g in groups]
    elif dedup:
        gkey = _group_hashes(text)
    else:
        gkey = [f"i:{i}" for i in range(n)]
    train_idx, test_idx, strata, singletons, dup_groups = _assign(gkey, labels, keys, fraction, seed)
    return SplitResult(
        records.take(train_idx),
        records.take(test_idx),
        train_idx,
        test_idx,
        strata,
        singletons,
        dup_groups,
        seed,
        fraction,
    )


def _assign(
    gkey: list[str], labels: list, keys: list[str], fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, list[dict], list, int]:
    """Groups to sides: per stratum, round(fraction * groups) groups to test by a seeded hash."""
    n = len(gkey)
    members: dict[str, list[int]] = {}
    for i, g in enumerate(gkey):
        members.setdefault(g, []).append(i)
    dup_groups = sum(1 for m in members.values() if len(m) > 1)
    by_stratum: dict[Any, list[str]] = {}
    for g, idx in members.items():
        by_stratum.setdefault(_label_key(labels[idx[0]]), []).append(g)
    test_groups: set[str] = set()
    strata, singletons = [], []
    for label, glist in sorted(by_stratum.items(), key=lambda kv: str(kv[0])):
        ordered = sorted(glist, key=lambda g: (_stable_hash(seed, keys[members[g][0]]), g))
        k = int(math.floor(fraction * len(ordered) + 0.5)) if len(ordered) > 1 else 0
        if len(ordered) == 1:
            singletons.append(label)
        k = min(k, len(ordered) - 1) if len(ordered) > 1 else 0
        chosen = ordered[:k]
        test_groups.update(chosen)
        n_test = sum(len(members[g]) for g in chosen)
        n_all = sum(len(members[g]) for g in ordered)
        strata.append({"stratum": label, "n": n_all, "train": n_all - n_test, "test": n_test})
    is_test = np.zeros(n, dtype=bool)
    for g in test_groups:
        is_test[members[g]] = True
    test_idx = np.flatnonzero(is_test)
    train_idx = np.flatnonzero(~is_test)
    return train_idx, test_idx, strata, singletons, dup_groups


def _label_key(label: Any) -> Any:
    if isinstance(label, float) and math.isnan(label):
        return None
    return label if isinstance(label, (str, int, float, bool, type(None), tuple)) else str(label)
