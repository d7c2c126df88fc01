"""Distribution gaps: clusters (labels or k-means) of a reference set that the training data under-covers,
and filling them from a pool of candidates."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _core
from .._inputs import as_float32_matrix, as_str_list
from .._results import ResultMixin, require
from ..prompts._common import _P, _first_of_role, _looks_like_texts, _to_records


def _texts_of(data: Any, name: str) -> list[str]:
    if _looks_like_texts(data):
        return [str(t) if t is not None else "" for t in as_str_list(data, name)]
    recs = _to_records(data)
    users = _first_of_role(recs, "user")
    texts = _first_of_role(recs, "text")
    return [u if u is not None else (t or "") for u, t in zip(users, texts)]


@dataclass
class GapReport(ResultMixin):
    """Training vs reference distribution over clusters or labels, with the under-represented ones.

    ``table`` rows: category, train rows/share, reference rows/share, ratio (train share / reference
    share), deficit (rows the training set lacks to match the reference share), under (bool),
    examples (training texts nearest the centroid, else reference texts).
    """

    method: str  # "kmeans" or "labels"
    categories: list[Any]
    train_counts: np.ndarray
    reference_share: np.ndarray
    reference_counts: np.ndarray | None
    under: list[Any]
    examples: dict[Any, list[str]]
    coverage: dict[str, float]
    min_ratio: float
    train_assign: np.ndarray
    centroids: np.ndarray | None = None
    embedder: Any = None
    train_texts: list[str] = field(default_factory=list, repr=False)
    train_embeddings: np.ndarray | None = field(default=None, repr=False)
    labels: list[Any] | None = field(default=None, repr=False)
    #: k-means only: the cluster of each reference row (None without a reference).
    reference_assign: np.ndarray | None = field(default=None, repr=False)

    @property
    def train_share(self) -> np.ndarray:
        tot = self.train_counts.sum()
        return self.train_counts / tot if tot else self.train_counts.astype(float)

    def summary_line(self) -> str:
        c = self.coverage
        return (
            f"gaps ({self.method}, {len(self.categories)} categories): {len(self.under)} under-represented; "
            f"reference covered {c['reference_covered']:.1%}, balanced {c['reference_balanced']:.1%}"
        )

    def to_pandas(self) -> Any:
        pd = require("pandas", "data")
        n_train = int(self.train_counts.sum())
        rows = []
        for k, cat in enumerate(self.categories):
            ts = float(self.train_share[k])
            rs = float(self.reference_share[k])
            rows.append(
                {
                    "category": cat,
                    "train_rows": int(self.train_counts[k]),
                    "train_share": ts,
                    "reference_rows": int(self.reference_counts[k])
                    if self.reference_counts is not None
                    else None,
                    "reference_share": rs,
                    "ratio": ts / rs if rs > 0 else float("inf"),
                    "deficit": max(0, int(round(rs * n_train - self.train_counts[k]))),
                    "under": cat in self.under,
                    "examples": self.examples.get(cat, []),
                }
            )
        return pd.DataFrame(rows)

    def plot(self, ax: Any = None) -> Any:
        """Training vs reference share per category; under-represented ones marked."""
        plt = require("matplotlib.pyplot", "plot")
        if ax is None:
            _, ax = plt.subplots(figsize=(max(5, 0.45 * len(self.categories)), 3.5))
        x = np.arange(len(self.categories))
        ax.bar(x - 0.2, self.train_share, 0.4, label="train")
        ax.bar(x + 0.2, self.reference_share, 0.4, label="reference")
        for k, cat in enumerate(self.categories):
            if cat in self.under:
                ax.annotate(
                    "gap",
                    (x[k], max(self.train_share[k], self.reference_share[k])),
                    ha="center",
                    fontsize=7,
                    color="C3",
                )
        ax.set_xticks(x, [str(c) for c in self.categories], rotation=45, fontsize=7)
        ax.set_ylabel("share")
        ax.legend()
        return ax


def _kmeans(x: np.ndarray, k: int, niter: int, seed: int, nredo: int) -> _core.prompts.KMeansResult:
    return _P.kmeans(np.ascontiguousarray(x, dtype=np.float32), int(k), int(niter), int(seed), int(nredo))


def gaps(
    train: Any,
    reference: Any = None,
    labels: Sequence[Any] | None = None,
    embeddings: Any = None,
    *,
    reference_labels: Sequence[Any] | None = None,
    reference_embeddings: Any = None,
    target_mix: dict[Any, float] | None = None,
    k: int | None = None,
    embedder: Any = None,
    min_ratio: float = 0.5,
    examples: int = 3,
    niter: int = 20,
    nredo: int = 3,
    seed: int = 0,
) -> GapReport:
    """Under-represented clusters or labels of the training data against a reference distribution.

    With ``labels`` (one per training row) the categories are the labels and the reference is
    ``reference_labels``, a ``target_mix`` ({label: share}) or, by default, a uniform mix.
    Otherwise the texts (user prompts of records, or the strings given) are embedded
    (``embeddings`` / ``reference_embeddings``, or ``embedder``, default ``HashedNgramEmbedder``)
    and clustered with airtune's deterministic k-means (L2, k-means++ init; ``k`` default
    ~ sqrt(n/2), 2..50; the best of ``nredo`` runs) over training and reference together, so
    regions that only the reference reaches form their own clusters; the reference share per
    cluster comes from the reference rows (uniform without a reference). A category is
    under-represented when its training share / reference share < ``min_ratio``. Coverage:
    ``reference_covered`` = share of reference mass in categories with any training row;
    ``reference_balanced`` = share of reference mass in categories that are not under-represented.
    """
    from ..embed import HashedNgramEmbedder, embed

    if not 0 < min_ratio <= 1:
        raise ValueError("min_ratio must be in (0, 1]")
    train_texts = _texts_of(train, "train")
    n = len(train_texts)
    if n == 0:
        raise ValueError("train is empty")
    ref_texts = _texts_of(reference, "reference") if reference is not None else []
    if labels is not None:
        labels = list(labels)
        if len(labels) != n:
            raise ValueError(f"labels has {len(labels)} entries for {n} training rows")
        ref_lab = list(reference_labels) if reference_labels is not None else None
        cats = sorted(set(labels) | set(ref_lab or []) | set((target_mix or {}).keys()), key=str)
        index = {c: i for i, c in enumerate(cats)}
        assign = np.array([index[x] for x in labels], dtype=np.int64)
        counts = np.bincount(assign, minlength=len(cats))
        ref_counts = None
        if ref_lab is not None:
            ref_counts = np.bincount([index[x] for x in ref_lab], minlength=len(cats))
            ref_share = ref_counts / max(1, ref_counts.sum())
        elif target_mix is not None:
            tot = sum(target_mix.values())
            if tot <= 0:
                raise ValueError("target_mix shares must sum to > 0")
            ref_share = np.array([target_mix.get(c, 0.0) / tot for c in cats])
        else:
            ref_share = np.full(len(cats), 1.0 / len(cats))
        ex = {}
        for c in cats:
            rows = np.flatnonzero(assign == index[c])[:examples]
            ex[c] = [train_texts[i] for i in rows]
            if not ex[c] and ref_lab is not None:
                ex[c] = [ref_texts[i] for i, x in enumerate(ref_lab) if x == c][:examples]
        method, centroids, emb_t, ref_assign = "labels", None, None, None
    else:
        emb_model = embedder if embedder is not None else HashedNgramEmbedder()
        emb_t = (
            as_float32_matrix(embeddings, "embeddings")
            if embeddings is not None
            else embed(train_texts, emb_model)
        )
        if emb_t.shape[0] != n:
            raise ValueError(f"embeddings has {emb_t.shape[0]} rows for {n} training rows")
        if reference is not None or reference_embeddings is not None:
            emb_r = (
                as_float32_matrix(reference_embeddings, "reference_embeddings")
                if reference_embeddings is not None
                else embed(ref_texts, emb_model)
            )
            if emb_r.shape[1] != emb_t.shape[1]:
                raise ValueError("reference embeddings have a different dimension from the training ones")
        else:
            emb_r = np.zeros((0, emb_t.shape[1]), dtype=np.float32)
        allx = np.vstack([emb_t, emb_r])
        if k is None:
            k = int(min(50, max(2, round(math.sqrt(len(allx) / 2)))))
        k = int(min(k, len(allx)))
        km = _kmeans(allx, k, niter, seed, nredo)
        assign_all = np.asarray(km.assign)
        dist_all = np.asarray(km.distance)
        assign = assign_all[:n]
        cats = list(range(k))
        counts = np.bincount(assign, minlength=k)
        if len(emb_r):
            ref_counts = np.bincount(assign_all[n:], minlength=k)
            ref_share = ref_counts / ref_counts.sum()
        else:
            ref_counts = None
            ref_share = np.full(k, 1.0 / k)
        ex = {}
        for c in cats:
            rows = np.flatnonzero(assign == c)
            if len(rows):
                rows = rows[np.argsort(dist_all[:n][rows], kind="stable")][:examples]
                ex[c] = [train_texts[i] for i in rows]
            elif len(emb_r):
                rr = np.flatnonzero(assign_all[n:] == c)
                rr = rr[np.argsort(dist_all[n:][rr], kind="stable")][:examples]
                ex[c] = [ref_texts[i] for i in rr]
            else:
                ex[c] = []
        method, centroids = "kmeans", np.asarray(km.centroids)
        ref_assign = assign_all[n:] if len(emb_r) else None
        embedder = emb_model
        ref_lab = None
    tshare = counts / counts.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ref_share > 0, tshare / np.where(ref_share > 0, ref_share, 1), np.inf)
    under_idx = [i for i in range(len(cats)) if ref_share[i] > 0 and ratio[i] < min_ratio]
    under_idx.sort(key=lambda i: ratio[i])
    coverage = {
        "reference_covered": float(ref_share[counts > 0].sum()),
        "reference_balanced": float(ref_share[[i for i in range(len(cats)) if i not in under_idx]].sum()),
        "train_categories": float((counts > 0).sum()),
        "categories": float(len(cats)),
    }
    return GapReport(
        method=method,
        categories=cats,
        train_counts=counts,
        reference_share=np.asarray(ref_share, float),
        reference_counts=ref_counts,
        under=[cats[i] for i in under_idx],
        examples=ex,
        coverage=coverage,
        min_ratio=float(min_ratio),
        train_assign=assign,
        centroids=centroids,
        embedder=embedder,
        train_texts=train_texts,
        train_embeddings=emb_t,
        labels=list(labels) if labels is not None else None,
        reference_assign=ref_assign,
    )


@dataclass
class FillReport(ResultMixin):
    """What fill_gaps added and rejected, per gap."""

    added: list[dict[str, Any]]
    rejected: list[dict[str, Any]]

    def summary_line(self) -> str:
        return f"fill_gaps: {len(self.added)} added, {len(self.rejected)} rejected"

    @property
    def texts(self) -> list[str]:
        return [a["text"] for a in self.added]

    def to_pandas(self) -> Any:
        pd = require("pandas", "data")
        return pd.DataFrame(
            [{**a, "kept": True} for a in self.added] + [{**r, "kept": False} for r in self.rejected]
        )


def fill_gaps(
    gap_report: GapReport,
    generator: Callable[[list[str], int, Any], Sequence[str]],
    n_per_gap: int | None = None,
    *,
    duplicate_threshold: float = 0.9,
    validate: Callable[[str], bool] | None = None,
) -> FillReport:
    """Ask ``generator(examples, n, category) -> list[str]`` for new examples of each gap; validate.

    ``n_per_gap`` defaults to each gap's deficit (at most 50). A candidate is kept when it is a
    non-empty string passing ``validate`` (format check, optional), is not a duplicate (embedding
    cosine < ``duplicate_threshold`` to every training text and every kept candidate), and, for
    k-means gaps, its nearest centroid is the gap's cluster. Rejections carry their reason.
    """
    from ..embed import HashedNgramEmbedder, embed

    emb_model = gap_report.embedder if gap_report.embedder is not None else HashedNgramEmbedder()
    base = gap_report.train_embeddings
    if base is None:
        base = embed(gap_report.train_texts, emb_model)
    base = base / np.maximum(np.linalg.norm(base, axis=1, keepdims=True), 1e-12)
    kept_emb: list[np.ndarray] = []
    added, rejected = [], []
    frame = gap_report.to_pandas()
    for cat in gap_report.under:
        row = frame[frame["category"] == cat].iloc[0]
        want = int(n_per_gap) if n_per_gap is not None else max(1, min(50, int(row["deficit"])))
        cands = list(generator(list(gap_report.examples.get(cat, [])), want, cat) or [])
        good = []
        for c in cands:
            if not isinstance(c, str) or not c.strip():
                rejected.append({"category": cat, "text": repr(c), "reason": "empty or not a string"})
            elif validate is not None and not validate(c):
                rejected.append({"category": cat, "text": c, "reason": "failed validate()"})
            else:
                good.append(c)
        if not good:
            continue
        e = embed(good, emb_model)
        e_raw = e.copy()
        e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        for j, c in enumerate(good):
            sims = base @ e[j]
            if kept_emb:
                sims = np.concatenate([sims, np.stack(kept_emb) @ e[j]])
            if len(sims) and float(sims.max()) >= duplicate_threshold:
                rejected.append(
                    {"category": cat, "text": c, "reason": f"duplicate (cosine {float(sims.max()):.3f})"}
                )
                continue
            if gap_report.method == "kmeans" and gap_report.centroids is not None:
                d = ((gap_report.centroids - e_raw[j]) ** 2).sum(axis=1)
                nearest = int(np.argmin(d))
                if nearest != cat:
                    rejected.append(
                        {"category": cat, "text": c, "reason": f"nearest cluster is {nearest}, not {cat}"}
                    )
                    continue
            kept_emb.append(e[j])
            added.append({"category": cat, "text": c, "reason": ""})
    return FillReport(added=added, rejected=rejected)
