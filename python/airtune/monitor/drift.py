"""Drift of production traffic against the training data, with calibrated tests and a recommendation.

    report = airtune.monitor.drift(train_records, production_records, window="1D")
    report                  # short table: tests, shares, the recommendation
    report.plot()
    report.export("drift/", production_records)   # drifted rows: next curation + regression cases

What is measured (every test seeded and deterministic):

* **Embedding drift**: Gaussian-kernel MMD between training and production embeddings with a
  permutation p-value (C++, ``airtune._core.monitor.mmd_test``), on at most ``max_mmd_rows`` rows of
  each side.
* **Coverage**: the share of production rows far from every training row. The threshold is
  calibrated on held-out training rows (split conformal): ``calibration_share`` of the training rows
  are held out, their nearest-neighbour cosine distance to the remaining training rows gives the
  threshold at level ``far_alpha``, so in-distribution traffic is flagged at most ``far_alpha`` of
  the time (and at least ``far_alpha - 1/(m+1)`` for m held-out rows). An exact binomial test says
  whether the production share exceeds ``far_alpha``.
* **Clusters**: k-means over training and production embeddings together (:func:`airtune.monitor.gaps`),
  the population stability index (PSI) of the cluster shares, and the clusters production fills that
  training under-covers.
* **Labels, system prompts, lengths**: PSI of the label mix (when both sides have labels), the share of
  production rows whose system prompt training never saw, and a two-sample Kolmogorov-Smirnov test
  of the selected text lengths.
* **Windows**: with timestamps (``timestamps=`` or a metadata key), the embedding and coverage tests
  per window, so the report says when drift began.

PSI convention: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 major shift.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .. import _core
from .._inputs import as_float32_matrix
from .._results import ResultMixin, require

__all__ = ["DriftReport", "WindowDrift", "drift", "psi"]

_PSI_MODERATE = 0.1
_PSI_MAJOR = 0.25
_EPS = 1e-4  # share floor of the PSI (a category empty on one side)


def psi(expected: Any, actual: Any) -> float:
    """Population stability index of two distributions over the same categories (counts or shares)."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.shape != a.shape or e.ndim != 1 or e.size == 0:
        raise ValueError("psi: expected two 1-D arrays of the same length")
    if (e < 0).any() or (a < 0).any() or e.sum() <= 0 or a.sum() <= 0:
        raise ValueError("psi: counts must be >= 0 with a positive total on each side")
    e = np.maximum(e / e.sum(), _EPS)
    a = np.maximum(a / a.sum(), _EPS)
    return float(np.sum((a - e) * np.log(a / e)))


# --------------------------------------------------------------------------------------------
# inputs


def _is_records(obj: Any) -> bool:
    from ..io import Records

    return isinstance(obj, Records)


def _records_of(obj: Any) -> Any:
    from ..io.select import as_records

    return as_records(obj)


def _texts(data: Any, select: str | None, name: str) -> list[str]:
    """The text each row is compared on (a selector of records, see :mod:`airtune.io.select`, or
    the strings given), as Python strings for the embedder. ``select=None``: the last user turn of
    records, the strings themselves otherwise."""
    from ..io.select import stage_texts

    if select is None and _record_like(data):
        select = "last_user"
    texts, _ = stage_texts(data, select, name=name, stage="monitor", missing="empty")
    return texts.to_list() if hasattr(texts, "to_list") else ["" if t is None else str(t) for t in texts]


def _record_like(data: Any) -> bool:
    if _is_records(data) or hasattr(data, "columns") or hasattr(data, "column_names"):
        return True
    if isinstance(data, (list, tuple)):
        first = next((r for r in data if r is not None), None)
        return isinstance(first, (dict, list, tuple))
    return False


def _field(records: Any, select: str) -> list[str | None]:
    """One field of every record (``"label"``, ``"system"``, ``"metadata.<key>"``), None where absent
    (taken out in C++: ``airtune._core.records.select_text``)."""
    col = _core.records.select_text(records._batch, select)
    return [t if ok else None for t, ok in zip(col.to_list(), col.present.tolist())]


def _parse_time(v: Any, row: int) -> float:
    if v is None:
        raise ValueError(f"production row {row}: no timestamp")
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=timezone.utc)).timestamp()
    if hasattr(v, "timestamp"):  # pandas / numpy datetimes
        return float(v.timestamp())
    s = str(v).strip()
    try:
        return float(s)  # seconds since the epoch, as metadata text
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"production row {row}: timestamp {s!r} is not ISO 8601 or seconds since the epoch"
        ) from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()


_UNITS = {"s": 1, "min": 60, "h": 3600, "D": 86400, "W": 7 * 86400}


def _window_seconds(window: str | float) -> float:
    if isinstance(window, (int, float)):
        if window <= 0:
            raise ValueError("window must be > 0 seconds")
        return float(window)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)?\s*(s|min|h|D|W)\s*", str(window))
    if not m:
        raise ValueError(f"window: expected e.g. '1D', '6h', '30min', '1W' or seconds, got {window!r}")
    return float(m.group(1) or 1) * _UNITS[m.group(2)]


# --------------------------------------------------------------------------------------------
# statistics


def _binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), exactly (log-space sum)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    lp, lq = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq
        for i in range(k, n + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def _ks_2samp(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic D and its asymptotic two-sided p-value
    (Kolmogorov's limit distribution at sqrt(n m / (n + m)) D, scipy's ``kstwobign.sf``)."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    d = float(np.max(np.abs(cdf_a - cdf_b)))
    z = math.sqrt(a.size * b.size / (a.size + b.size)) * d
    if z < 0.2:  # the series converges slowly there; the tail is 1 to 15 digits
        return d, 1.0
    s = sum(2 * (-1) ** (j - 1) * math.exp(-2 * j * j * z * z) for j in range(1, 101))
    return d, float(min(1.0, max(0.0, s)))


def _conformal_threshold(calibration: np.ndarray, alpha: float) -> float:
    """The ceil((m + 1)(1 - alpha))-th smallest calibration score (inf when that exceeds m)."""
    m = calibration.size
    rank = math.ceil((m + 1) * (1 - alpha))
    if rank > m:
        return math.inf
    return float(np.sort(calibration)[rank - 1])


def _nn_distance(base: np.ndarray, query: np.ndarray) -> np.ndarray:
    sim, _, _ = _core.dedup.knn_cross_cosine(base, query, 1)
    return np.clip(1.0 - sim[:, 0].astype(np.float64), 0.0, 2.0)


def _subsample(n: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    return np.arange(n) if n <= cap else np.sort(rng.choice(n, size=cap, replace=False))


# --------------------------------------------------------------------------------------------
# the report


@dataclass
class WindowDrift:
    """The embedding and coverage tests on one time window of production."""

    start: float
    end: float
    n: int
    far_share: float
    far_p_value: float
    mmd2: float
    mmd_p_value: float
    drifted: bool

    @property
    def start_iso(self) -> str:
        return datetime.fromtimestamp(self.start, tz=timezone.utc).isoformat()


@dataclass(repr=False)
class DriftReport(ResultMixin):
    """Everything :func:`drift` found; ``recommendation`` is "retrain", "watch" or "no action"."""

    n_train: int
    n_production: int
    alpha: float
    mmd2: float
    mmd_p_value: float
    bandwidth: float
    far_alpha: float
    far_threshold: float
    far_share: float
    far_p_value: float
    calibration_far_share: float
    production_distance: np.ndarray
    far_rows: np.ndarray
    cluster_psi: float
    cluster_table: list[dict]
    new_clusters: list[dict]
    label_psi: float | None
    label_table: list[dict]
    system_prompt_unseen_share: float | None
    system_prompt_psi: float | None
    length_ks: float
    length_p_value: float
    length_medians: tuple[float, float]
    windows: list[WindowDrift]
    drift_began: str | None
    recommendation: str
    reasons: list[str]
    target_clusters: list[int]
    flags: dict[str, bool]
    mmd_null: np.ndarray = field(default_factory=lambda: np.zeros(0))
    production_cluster: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def summary_line(self) -> str:
        return (
            f"drift: {self.recommendation} ({self.n_production} production rows vs {self.n_train} training rows; "
            f"MMD p={self.mmd_p_value:.3g}, far from training {self.far_share:.1%} "
            f"(expected <= {self.far_alpha:.0%}), cluster PSI {self.cluster_psi:.3f})"
        )

    def __repr__(self) -> str:
        def yes(flag: str) -> str:
            return "DRIFT" if self.flags.get(flag) else "ok"

        rows = [
            ("embedding MMD^2", f"{self.mmd2:.4g}", f"p = {self.mmd_p_value:.3g}", yes("embedding")),
            (
                "far from training",
                f"{self.far_share:.1%}",
                f"threshold {self.far_threshold:.3f}, p = {self.far_p_value:.3g}",
                yes("coverage"),
            ),
            (
                "cluster shares PSI",
                f"{self.cluster_psi:.3f}",
                f"{len(self.new_clusters)} under-covered",
                yes("clusters"),
            ),
        ]
        if self.label_psi is not None:
            rows.append(("label mix PSI", f"{self.label_psi:.3f}", "", yes("labels")))
        if self.system_prompt_unseen_share is not None:
            rows.append(
                (
                    "unseen system prompts",
                    f"{self.system_prompt_unseen_share:.1%}",
                    f"PSI {self.system_prompt_psi:.3f}",
                    yes("system_prompt"),
                )
            )
        rows.append(
            (
                "length (KS)",
                f"{self.length_ks:.3f}",
                f"p = {self.length_p_value:.3g}, median {self.length_medians[0]:.0f} -> {self.length_medians[1]:.0f}",
                yes("length"),
            )
        )
        w = max(len(r[0]) for r in rows)
        lines = [self.summary_line()]
        lines += [f"  {a:<{w}}  {b:>8}  {c:<44} {d}" for a, b, c, d in rows]
        if self.windows:
            lines.append(
                f"  windows: {len(self.windows)}, drift began: {self.drift_began or 'not in these windows'}"
            )
        lines.append(
            f"  recommendation: {self.recommendation}"
            + (f" ({'; '.join(self.reasons)})" if self.reasons else "")
        )
        if self.target_clusters:
            lines.append(f"  clusters to target: {self.target_clusters}")
        return "\n".join(lines)

    def to_pandas(self) -> Any:
        pd = require("pandas", "data")
        if self.windows:
            return pd.DataFrame(
                [
                    {
                        "start": w.start_iso,
                        "n": w.n,
                        "far_share": w.far_share,
                        "far_p_value": w.far_p_value,
                        "mmd2": w.mmd2,
                        "mmd_p_value": w.mmd_p_value,
                        "drifted": w.drifted,
                    }
                    for w in self.windows
                ]
            )
        return pd.DataFrame(self.cluster_table)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_train": self.n_train,
            "n_production": self.n_production,
            "alpha": self.alpha,
            "recommendation": self.recommendation,
            "reasons": list(self.reasons),
            "flags": dict(self.flags),
            "embedding": {"mmd2": self.mmd2, "p_value": self.mmd_p_value, "bandwidth": self.bandwidth},
            "coverage": {
                "far_alpha": self.far_alpha,
                "threshold": None if math.isinf(self.far_threshold) else self.far_threshold,
                "far_share": self.far_share,
                "p_value": self.far_p_value,
                "calibration_far_share": self.calibration_far_share,
                "far_rows": int(self.far_rows.size),
            },
            "clusters": {
                "psi": self.cluster_psi,
                "table": self.cluster_table,
                "under_covered": self.new_clusters,
            },
            "labels": {"psi": self.label_psi, "table": self.label_table},
            "system_prompt": {"unseen_share": self.system_prompt_unseen_share, "psi": self.system_prompt_psi},
            "length": {
                "ks": self.length_ks,
                "p_value": self.length_p_value,
                "median_train": self.length_medians[0],
                "median_production": self.length_medians[1],
            },
            "windows": [
                {
                    "start": w.start_iso,
                    "n": w.n,
                    "far_share": w.far_share,
                    "far_p_value": w.far_p_value,
                    "mmd2": w.mmd2,
                    "mmd_p_value": w.mmd_p_value,
                    "drifted": w.drifted,
                }
                for w in self.windows
            ],
            "drift_began": self.drift_began,
            "target_clusters": list(self.target_clusters),
        }

    def drifted_rows(self) -> np.ndarray:
        """Production rows to look at: far from every training row, or in a cluster to target."""
        mask = np.zeros(self.n_production, dtype=bool)
        mask[self.far_rows] = True
        if self.target_clusters and self.production_cluster.size == self.n_production:
            mask |= np.isin(self.production_cluster, self.target_clusters)
        return np.flatnonzero(mask)

    def export(self, out_dir: str | os.PathLike, production: Any) -> dict[str, str]:
        """Write the drifted production rows for the next curation run (``candidates.jsonl``), the same
        rows as regression cases for the pytest plugin (``regression_cases.jsonl``: records whose last
        assistant turn, when present, is the reference answer) and the report (``drift.json``).
        Every file is written atomically. Returns the paths."""
        from ..io import write_jsonl

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        recs = _records_of(production)
        if len(recs) != self.n_production:
            raise ValueError(f"export: production has {len(recs)} rows, the report {self.n_production}")
        rows = self.drifted_rows()
        picked = recs.take(rows)
        paths = {
            "candidates": str(out / "candidates.jsonl"),
            "regression_cases": str(out / "regression_cases.jsonl"),
            "report": str(out / "drift.json"),
        }
        write_jsonl(picked, paths["candidates"])
        write_jsonl(picked, paths["regression_cases"], format="chat")
        payload = (
            json.dumps({**self.to_dict(), "drifted_rows": rows.tolist()}, indent=1, default=float) + "\n"
        )
        fd, tmp = tempfile.mkstemp(dir=out, prefix=".drift.json.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, paths["report"])
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return paths

    def plot(self, axes: Any = None) -> Any:
        plt = require("matplotlib.pyplot", "plot")
        if axes is None:
            _, axes = plt.subplots(1, 3, figsize=(14, 3.8))
        ax0, ax1, ax2 = axes
        if self.mmd_null.size:
            ax0.hist(self.mmd_null, bins=30, color="lightgrey", label="permutations")
        ax0.axvline(self.mmd2, color="tab:red", label=f"observed (p={self.mmd_p_value:.3g})")
        ax0.set_title("embedding MMD^2")
        ax0.legend()
        ax1.hist(self.production_distance, bins=40, color="tab:blue", alpha=0.8)
        if not math.isinf(self.far_threshold):
            ax1.axvline(
                self.far_threshold, color="tab:red", linestyle="--", label=f"threshold ({self.far_alpha:.0%})"
            )
            ax1.legend()
        ax1.set_title(f"distance to training ({self.far_share:.1%} far)")
        if self.windows:
            xs = [datetime.fromtimestamp(w.start, tz=timezone.utc) for w in self.windows]
            ax2.plot(xs, [w.far_share for w in self.windows], marker="o", label="far share")
            ax2.axhline(self.far_alpha, color="grey", linestyle=":")
            for x, w in zip(xs, self.windows):
                if w.drifted:
                    ax2.axvline(x, color="tab:red", alpha=0.2)
            ax2.set_title("far share per window")
            ax2.tick_params(axis="x", rotation=30)
        else:
            t = self.cluster_table
            ax2.bar(np.arange(len(t)) - 0.2, [r["train_share"] for r in t], width=0.4, label="train")
            ax2.bar(
                np.arange(len(t)) + 0.2, [r["production_share"] for r in t], width=0.4, label="production"
            )
            ax2.set_title(f"cluster shares (PSI {self.cluster_psi:.3f})")
            ax2.legend()
        return axes


# --------------------------------------------------------------------------------------------
# the test


def drift(
    train: Any,
    production: Any,
    *,
    select: str | None = None,
    embedder: Any = None,
    train_embeddings: Any = None,
    production_embeddings: Any = None,
    train_labels: Any = None,
    production_labels: Any = None,
    timestamps: Any = None,
    time_key: str = "timestamp",
    window: str | float | None = None,
    alpha: float = 0.05,
    far_alpha: float = 0.05,
    calibration_share: float = 0.2,
    max_mmd_rows: int = 1000,
    permutations: int = 500,
    k: int | None = None,
    seed: int = 0,
) -> DriftReport:
    """Compare production traffic with the training data (see the module docstring).

    ``train`` / ``production``: records (the text ``select`` names is compared, any selector of
    :mod:`airtune.io.select`; default the last user turn) or lists of strings. Embeddings come from
    ``embedder`` (default :class:`airtune.embed.HashedNgramEmbedder`) unless given. Labels: given, or
    the records' ``label`` field when both sides have them. Timestamps: given (one per production row:
    seconds, ISO 8601 strings or datetimes) or read from each record's ``metadata[time_key]``; with a
    ``window`` ("1D", "6h", "1W" or seconds) the tests run per window.
    """
    from ..embed import HashedNgramEmbedder, embed
    from .gaps import gaps

    for name, v in (("alpha", alpha), ("far_alpha", far_alpha), ("calibration_share", calibration_share)):
        if not 0 < v < 1:
            raise ValueError(f"{name} must be in (0, 1), got {v!r}")
    tr_texts = _texts(train, select, "train")
    pr_texts = _texts(production, select, "production")
    n_tr, n_pr = len(tr_texts), len(pr_texts)
    if n_tr < 10:
        raise ValueError(f"train has {n_tr} rows: drift needs at least 10")
    if n_pr < 2:
        raise ValueError(f"production has {n_pr} rows: drift needs at least 2 (an empty window?)")
    emb = embedder or HashedNgramEmbedder()
    xt = (
        as_float32_matrix(train_embeddings, "train_embeddings")
        if train_embeddings is not None
        else embed(tr_texts, emb)
    )
    xp = (
        as_float32_matrix(production_embeddings, "production_embeddings")
        if production_embeddings is not None
        else embed(pr_texts, emb)
    )
    if xt.shape[0] != n_tr or xp.shape[0] != n_pr:
        raise ValueError("embeddings: one row per train / production row expected")
    if xt.shape[1] != xp.shape[1]:
        raise ValueError(f"embeddings: train has {xt.shape[1]} dimensions, production {xp.shape[1]}")
    xt = xt / np.linalg.norm(xt, axis=1, keepdims=True).clip(1e-12)
    xp = xp / np.linalg.norm(xp, axis=1, keepdims=True).clip(1e-12)
    xt, xp = np.ascontiguousarray(xt, np.float32), np.ascontiguousarray(xp, np.float32)
    rng = np.random.default_rng(seed)

    # Coverage: split conformal threshold on held-out training rows.
    perm = rng.permutation(n_tr)
    m = max(1, int(round(calibration_share * n_tr)))
    cal, ref = np.sort(perm[:m]), np.sort(perm[m:])
    cal_dist = _nn_distance(xt[ref], xt[cal])
    threshold = _conformal_threshold(cal_dist, far_alpha)
    prod_dist = _nn_distance(xt[ref], xp)
    far = prod_dist > threshold
    far_share = float(far.mean())
    far_p = _binom_sf(int(far.sum()), n_pr, far_alpha)

    # Embedding MMD on subsamples.
    it, ip = _subsample(n_tr, max_mmd_rows, rng), _subsample(n_pr, max_mmd_rows, rng)
    mmd = _core.monitor.mmd_test(xt[it], xp[ip], 0.0, int(permutations), int(seed))

    # Clusters over both sides (gaps): shares and the under-covered ones.
    g = gaps(tr_texts, pr_texts, embeddings=xt, reference_embeddings=xp, k=k, seed=seed, embedder=emb)
    tr_counts = np.asarray(g.train_counts, dtype=np.float64)
    pr_counts = np.asarray(g.reference_counts if g.reference_counts is not None else g.reference_share * n_pr)
    cluster_psi = psi(tr_counts, pr_counts)
    tr_share, pr_share = tr_counts / tr_counts.sum(), pr_counts / pr_counts.sum()
    table: list[dict[str, Any]] = []
    for c, cat in enumerate(g.categories):
        a, b = max(tr_share[c], _EPS), max(pr_share[c], _EPS)
        table.append(
            {
                "cluster": int(cat) if isinstance(cat, (int, np.integer)) else cat,
                "train_share": float(tr_share[c]),
                "production_share": float(pr_share[c]),
                "psi_term": float((b - a) * math.log(b / a)),
                "examples": list(g.examples.get(cat, []))[:3],
            }
        )
    under = set(g.under)
    new_clusters = [r for r in table if r["cluster"] in under and r["production_share"] > r["train_share"]]
    prod_cluster = np.asarray(g.reference_assign, dtype=np.int64)

    # Labels.
    label_psi, label_table = None, []
    if train_labels is None and _is_records(train):
        train_labels = _field(train, "label")
    if production_labels is None and _is_records(production):
        production_labels = _field(production, "label")
    if train_labels is not None and production_labels is not None:
        tl = [x for x in train_labels if x is not None]
        pl = [x for x in production_labels if x is not None]
        if tl and pl:
            cats = sorted(set(map(str, tl)) | set(map(str, pl)))
            ct = np.array([sum(1 for x in tl if str(x) == c) for c in cats], dtype=np.float64)
            cp = np.array([sum(1 for x in pl if str(x) == c) for c in cats], dtype=np.float64)
            label_psi = psi(ct, cp)
            label_table = [
                {
                    "label": c,
                    "train_share": float(ct[i] / ct.sum()),
                    "production_share": float(cp[i] / cp.sum()),
                }
                for i, c in enumerate(cats)
            ]

    # System prompts.
    unseen, sp_psi = None, None
    if _is_records(train) and _is_records(production):
        ts = _field(train, "system")
        ps = _field(production, "system")
        if any(s is not None for s in ts) or any(s is not None for s in ps):
            seen = {s for s in ts}
            unseen = float(np.mean([s not in seen for s in ps]))
            cats = sorted({s or "" for s in ts} | {s or "" for s in ps})
            index = {c: i for i, c in enumerate(cats)}
            ct = np.bincount([index[s or ""] for s in ts], minlength=len(cats)).astype(np.float64)
            cp = np.bincount([index[s or ""] for s in ps], minlength=len(cats)).astype(np.float64)
            sp_psi = psi(ct, cp)

    # Lengths of the compared text.
    lt = np.array([len(t) for t in tr_texts], dtype=np.float64)
    lp = np.array([len(t) for t in pr_texts], dtype=np.float64)
    ks, ks_p = _ks_2samp(lt, lp)

    # Windows over time.
    windows: list[WindowDrift] = []
    began = None
    if window is not None:
        if timestamps is None:
            if not _is_records(production):
                raise ValueError("window: give timestamps= (one per production row) or records with metadata")
            timestamps = _field(production, f"metadata.{time_key}")
        times = np.array([_parse_time(v, i) for i, v in enumerate(timestamps)], dtype=np.float64)
        if times.size != n_pr:
            raise ValueError(f"timestamps: {times.size} values for {n_pr} production rows")
        width = _window_seconds(window)
        t0 = math.floor(times.min() / width) * width
        slot = np.floor((times - t0) / width).astype(np.int64)
        for s in np.unique(slot).tolist():
            rows = np.flatnonzero(slot == s)
            if rows.size < 2:
                continue
            wf = far[rows]
            wp = _binom_sf(int(wf.sum()), rows.size, far_alpha)
            sub = (
                rows
                if rows.size <= max_mmd_rows
                else np.sort(rng.choice(rows, size=max_mmd_rows, replace=False))
            )
            wm = _core.monitor.mmd_test(
                xt[it], xp[sub], mmd.bandwidth, int(permutations), int(seed) + int(s) + 1
            )
            drifted = (wp < alpha and float(wf.mean()) > 2 * far_alpha) or wm.p_value < alpha / 2
            windows.append(
                WindowDrift(
                    float(t0 + s * width),
                    float(t0 + (s + 1) * width),
                    int(rows.size),
                    float(wf.mean()),
                    wp,
                    wm.mmd2,
                    wm.p_value,
                    bool(drifted),
                )
            )
        began = next((w.start_iso for w in windows if w.drifted), None)

    flags = {
        "embedding": mmd.p_value < alpha,
        "coverage": far_p < alpha and far_share > 2 * far_alpha,
        "clusters": cluster_psi > _PSI_MAJOR,
        "labels": label_psi is not None and label_psi > _PSI_MAJOR,
        "system_prompt": unseen is not None and (unseen > 0.2 or (sp_psi or 0) > _PSI_MAJOR),
        "length": ks_p < alpha and ks > 0.1,
    }
    reasons = []
    if flags["coverage"]:
        reasons.append(
            f"{far_share:.1%} of production rows are far from training (calibrated rate {far_alpha:.0%})"
        )
    if flags["clusters"]:
        reasons.append(f"cluster shares moved (PSI {cluster_psi:.2f} > {_PSI_MAJOR})")
    if flags["labels"]:
        reasons.append(f"label mix moved (PSI {label_psi:.2f} > {_PSI_MAJOR})")
    if flags["embedding"]:
        reasons.append(f"embedding distributions differ (MMD p = {mmd.p_value:.3g})")
    if flags["system_prompt"]:
        reasons.append(f"{unseen:.0%} of production rows carry a system prompt training never saw")
    if flags["length"]:
        reasons.append(f"lengths differ (KS {ks:.2f}, p = {ks_p:.3g})")
    if flags["coverage"] or flags["clusters"] or flags["labels"]:
        recommendation = "retrain"
    elif any(flags.values()):
        recommendation = "watch"
    else:
        recommendation = "no action"
    target = sorted(
        (r["cluster"] for r in new_clusters),
        key=lambda c: -next(r["production_share"] for r in table if r["cluster"] == c),
    )
    return DriftReport(
        n_train=n_tr,
        n_production=n_pr,
        alpha=alpha,
        mmd2=mmd.mmd2,
        mmd_p_value=mmd.p_value,
        bandwidth=mmd.bandwidth,
        far_alpha=far_alpha,
        far_threshold=threshold,
        far_share=far_share,
        far_p_value=far_p,
        calibration_far_share=float((cal_dist > threshold).mean()),
        production_distance=prod_dist,
        far_rows=np.flatnonzero(far),
        cluster_psi=cluster_psi,
        cluster_table=table,
        new_clusters=new_clusters,
        label_psi=label_psi,
        label_table=label_table,
        system_prompt_unseen_share=unseen,
        system_prompt_psi=sp_psi,
        length_ks=ks,
        length_p_value=ks_p,
        length_medians=(float(np.median(lt)), float(np.median(lp))),
        windows=windows,
        drift_began=began,
        recommendation=recommendation,
        reasons=reasons,
        target_clusters=target if recommendation == "retrain" else [],
        flags=flags,
        mmd_null=np.asarray(mmd.null),
        production_cluster=prod_cluster,
    )
