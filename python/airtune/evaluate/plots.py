"""Plots of an evaluation report that fit the metric: bars with intervals, a confusion matrix for
labels (with the invalid column), score distributions of every model on shared axes for Likert
judges, paired outcomes against the baseline for 0/1 metrics, histograms for continuous scores,
per-group bars with intervals. matplotlib is imported lazily (extra ``plot``)."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from .._results import require

PANELS = ("bars", "distributions", "confusion", "groups")
_COLORS = ["#4C78A8", "#F58518", "#54A24B", "#B279A2", "#E45756", "#72B7B2", "#EECA3B", "#9D755D"]


def figure_to_data_uri(fig: Any, dpi: int = 90) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _is_label(report: Any, metric: str) -> bool:
    return all("confusion" in report.results[m][metric].details for m in report.models)


def _has_groups(report: Any, metric: str) -> bool:
    g = report.groups
    return g is not None and len(g) > 0 and bool((g.metric == metric).any())


def _panels(report: Any, metric: str, kind: str) -> list[str]:
    if kind == "auto":
        panels = ["bars", "confusion" if _is_label(report, metric) else "distributions"]
        if _has_groups(report, metric):
            panels.append("groups")
        return panels
    if kind == "both":
        return ["bars", "distributions"]
    if kind not in PANELS:
        raise ValueError(f"kind: expected 'auto', 'both' or one of {PANELS}, got {kind!r}")
    if kind == "confusion" and not _is_label(report, metric):
        raise ValueError(f"metric {metric!r} is not a label metric: it has no confusion matrix")
    if kind == "groups" and not _has_groups(report, metric):
        raise ValueError(f"no per-group scores for {metric!r}: run evaluate(..., by='field')")
    return [kind]


def plot_report(report: Any, metric: str, kind: str = "auto") -> Any:
    plt = require("matplotlib.pyplot", "plot")
    if metric not in report.metrics:
        raise ValueError(f"metric {metric!r} is not in the report ({report.metrics})")
    panels = _panels(report, metric, kind)
    slots = [(p, m) for p in panels for m in (report.models if p == "confusion" else [None])]
    cols = min(len(slots), 3)
    rows = (len(slots) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.9 * rows), squeeze=False)
    flat = list(axes.flat)
    for ax, (panel, model) in zip(flat, slots):
        if panel == "bars":
            _bars(ax, report, metric)
        elif panel == "confusion":
            _confusion(ax, report, metric, model)
        elif panel == "groups":
            _groups(ax, report, metric)
        else:
            _distributions(ax, report, metric)
    for ax in flat[len(slots) :]:
        ax.remove()
    fig.tight_layout()
    return fig


def _bars(ax: Any, report: Any, metric: str) -> None:
    rows = report.table[report.table.metric == metric]
    err = np.vstack([rows.score - rows.ci_low, rows.ci_high - rows.score]).clip(min=0)
    colors = [_COLORS[report.models.index(m) % len(_COLORS)] for m in rows.model]
    ax.bar(list(rows.model), rows.score, yerr=err, capsize=4, color=colors)
    method = rows.ci_method.iloc[0] if "ci_method" in rows and len(rows) else "bootstrap"
    ax.set_title(f"{metric}: score with 95% CI ({method})")
    ax.tick_params(axis="x", rotation=20)


def _confusion(ax: Any, report: Any, metric: str, model: str | None) -> None:
    d = report.results[model][metric].details
    labels = [str(x) for x in d["labels"]]
    conf = np.asarray(d["confusion"], dtype=np.float64)
    if not conf[:, -1].any():
        conf = conf[:, :-1]
        cols = labels
    else:
        cols = labels + ["invalid"]
    share = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    short = [c if len(c) <= 18 else c[:17] + "…" for c in cols]
    ax.set_xticks(range(len(cols)), short, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(labels)), short[: len(labels)], fontsize=7)
    if conf.shape[0] <= 12:
        for i in range(conf.shape[0]):
            for j in range(conf.shape[1]):
                if conf[i, j]:
                    ax.text(
                        j,
                        i,
                        int(conf[i, j]),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if share[i, j] > 0.6 else "black",
                    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{model}: {metric} ({d.get('invalid', 0)} invalid)")


def _distributions(ax: Any, report: Any, metric: str) -> None:
    results = {m: report.results[m][metric] for m in report.models}
    if metric.startswith("judge"):
        _likert(ax, results, metric)
    elif all(r.is_binary for r in results.values()):
        _paired_outcomes(ax, report, results, metric)
    else:
        _histograms(ax, report, results, metric)


def _likert(ax: Any, results: dict, metric: str) -> None:
    # Every model's share of items at each score on the same axes (candidate and baseline points
    # side by side), with a bucket for answers without a score.
    xs = np.arange(1, 7)
    width = 0.8 / max(len(results), 1)
    for k, (model, r) in enumerate(results.items()):
        v = np.asarray(r.per_item, dtype=np.float64)
        n = max(len(v), 1)
        valid = np.round(v[~np.isnan(v)])
        shares = [float((valid == s).sum()) / n for s in range(1, 6)] + [float(np.isnan(v).sum()) / n]
        offset = (k - (len(results) - 1) / 2) * width
        mean = float(valid.mean()) if len(valid) else float("nan")
        color = _COLORS[k % len(_COLORS)]
        ax.plot(xs + offset, shares, "o-", color=color, label=f"{model} (mean {mean:.2f})", alpha=0.9)
        ax.vlines(xs + offset, 0, shares, color=color, alpha=0.35)
    ax.set_xticks(xs, ["1", "2", "3", "4", "5", "no score"])
    ax.set_ylabel("share of items")
    ax.set_title(f"{metric}: score distribution per model")
    ax.legend(fontsize=8)


def _paired_outcomes(ax: Any, report: Any, results: dict, metric: str) -> None:
    # For 0/1 outcomes the informative picture is where the models disagree (McNemar's pairs).
    base = results[report.baseline].item_values()
    others = [m for m in report.models if m != report.baseline] or [report.baseline]
    cats = [
        ("both right", "#54A24B"),
        ("only this model", "#4C78A8"),
        ("only baseline", "#E45756"),
        ("both wrong", "#BBBBBB"),
    ]
    for y, model in enumerate(others):
        v = results[model].item_values()
        counts = [
            ((v == 1) & (base == 1)).sum(),
            ((v == 1) & (base == 0)).sum(),
            ((v == 0) & (base == 1)).sum(),
            ((v == 0) & (base == 0)).sum(),
        ]
        left = 0
        for (label, color), c in zip(cats, counts):
            ax.barh(y, c, left=left, color=color, label=label if y == 0 else None)
            if c:
                ax.text(left + c / 2, y, int(c), ha="center", va="center", fontsize=8)
            left += c
    ax.set_yticks(range(len(others)), others)
    ax.set_xlabel("items")
    ax.set_title(f"{metric}: paired outcomes against {report.baseline}")
    ax.legend(fontsize=7, loc="lower right")


def _histograms(ax: Any, report: Any, results: dict, metric: str) -> None:
    from .significance import _bootstrap_scores

    per_item = all(not np.isnan(np.asarray(r.per_item, dtype=np.float64)).all() for r in results.values())
    for k, (model, r) in enumerate(results.items()):
        if per_item:
            vals = np.asarray(r.per_item, dtype=np.float64)
            vals = vals[~np.isnan(vals)]
        else:  # a corpus statistic without per-item scores: its bootstrap distribution
            vals = _bootstrap_scores(r, 300, report.settings.get("seed", 0))
        ax.hist(vals, bins=20, alpha=0.45, label=model, density=True, color=_COLORS[k % len(_COLORS)])
    ax.set_title(f"per-item {metric}" if per_item else f"{metric}: bootstrap distribution")
    ax.legend(fontsize=8)


def _groups(ax: Any, report: Any, metric: str) -> None:
    g = report.groups[report.groups.metric == metric]
    by = [c for c in g.columns if c not in ("model", "metric", "score", "ci_low", "ci_high", "n")][0]
    groups = list(dict.fromkeys(g[by]))
    width = 0.8 / max(len(report.models), 1)
    for k, model in enumerate(report.models):
        sub = g[g.model == model].set_index(by).reindex(groups)
        x = np.arange(len(groups)) + (k - (len(report.models) - 1) / 2) * width
        err = np.vstack([sub.score - sub.ci_low, sub.ci_high - sub.score]).clip(min=0)
        ax.bar(x, sub.score, width, yerr=err, capsize=2, label=model, color=_COLORS[k % len(_COLORS)])
    ns = g.drop_duplicates(by).set_index(by).reindex(groups).n
    ax.set_xticks(range(len(groups)), [f"{str(x)[:16]}\nn={n}" for x, n in zip(groups, ns)], fontsize=7)
    ax.set_title(f"{metric} by {by} (95% CI)")
    ax.legend(fontsize=7)
