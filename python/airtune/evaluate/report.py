"""The evaluation report: tables, comparisons, verdicts, per-group scores, markdown/HTML and plots."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import metrics as M
from .._results import ResultMixin, require


@dataclass
class EvalReport(ResultMixin):
    """Everything :func:`evaluate` found.

    ``table``: one row per (model, metric) with score, CI and n. ``per_item``: one row per item with
    every model's per-item score for each metric. ``comparisons``: each model against the baseline
    per metric (paired bootstrap, approximate randomisation, Wilcoxon for judge scores).
    ``verdicts``: non-inferiority per (model, metric) when margins were given. ``groups``: scores per
    group when ``evaluate(by=...)``. ``judge``: Likert histograms (with an "unparsed" bucket),
    means with CIs and medians per model. ``results`` keeps the
    :class:`~airtune.metrics.MetricResult` objects (``results[model][metric]``).
    """

    models: list[str]
    metrics: list[str]
    baseline: str
    results: dict[str, dict[str, M.MetricResult]]
    table: Any
    per_item: Any
    comparisons: Any
    verdicts: Any
    predictions: dict[str, list[str]]
    judge: dict[str, dict] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    groups: Any = None

    def summary_line(self) -> str:
        return f"evaluation of {len(self.models)} models on {len(self.per_item)} items; baseline {self.baseline!r}"

    def to_pandas(self) -> Any:
        return self.table

    def _repr_html_(self) -> str:
        return self.to_html(full=False)

    def to_markdown(self) -> str:
        """A markdown report: scores with CIs, comparisons with the baseline, verdicts."""
        lines = [
            f"# Evaluation ({len(self.per_item)} items, baseline `{self.baseline}`)",
            "",
            "| model | metric | score | 95% CI | n |",
            "|---|---|---:|---|---:|",
        ]
        for r in self.table.itertuples():
            lines.append(
                f"| {r.model} | {r.metric} | {r.score:.4f} | [{r.ci_low:.4f}, {r.ci_high:.4f}] | {r.n} |"
            )
        if len(self.comparisons):
            lines += [
                "",
                "| model | against | metric | difference | p (bootstrap) | p (AR) | p (Wilcoxon) |",
                "|---|---|---|---:|---:|---:|---:|",
            ]
            for r in self.comparisons.itertuples():
                w = (
                    ""
                    if r.p_wilcoxon is None or (isinstance(r.p_wilcoxon, float) and math.isnan(r.p_wilcoxon))
                    else f"{r.p_wilcoxon:.4g}"
                )
                lines.append(
                    f"| {r.model} | {r.baseline} | {r.metric} | {r.difference:+.4f} | {r.p_bootstrap:.4g} | "
                    f"{r.p_ar:.4g} | {w} |"
                )
        if len(self.verdicts):
            lines += [
                "",
                "| model | metric | margin | lower bound | can replace baseline |",
                "|---|---|---:|---:|---|",
            ]
            for r in self.verdicts.itertuples():
                lines.append(
                    f"| {r.model} | {r.metric} | {r.margin} | {r.lower_bound:+.4f} | "
                    f"{'yes' if r.non_inferior else 'no'} |"
                )
        if self.judge:
            lines += [
                "",
                "| model | judge | 1 | 2 | 3 | 4 | 5 | unparsed | mean | median |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for model, info in self.judge.items():
                per = info if "histogram" not in info else {"judge": info}
                for crit, summary in per.items():
                    h = summary["histogram"]
                    lines.append(
                        f"| {model} | {crit} | "
                        + " | ".join(str(h.get(k, 0)) for k in range(1, 6))
                        + f" | {h['unparsed']} | {summary['mean']:.3f} | {summary['median']:.1f} |"
                    )
        sigs = {k: v for k, v in self.settings.get("signatures", {}).items() if v}
        if sigs:
            lines += [""] + [f"- `{k}`: `{v}`" for k, v in sigs.items()]
        lines.append(
            f"- resampling: {self.settings.get('n_samples')} bootstrap samples, "
            f"{self.settings.get('ar_trials')} AR trials, seed {self.settings.get('seed')}"
        )
        return "\n".join(lines) + "\n"

    def to_html(self, path: str | Path | None = None, *, full: bool = True) -> str:
        """The report as HTML (tables, and the plots inline when matplotlib is available)."""
        parts = [
            f"<h3>{html.escape(self.summary_line())}</h3>",
            self.table.to_html(index=False, float_format="%.4f"),
        ]
        if len(self.comparisons):
            parts += [
                "<h4>Against the baseline</h4>",
                self.comparisons.to_html(index=False, float_format="%.4g"),
            ]
        if len(self.verdicts):
            parts += ["<h4>Non-inferiority</h4>", self.verdicts.to_html(index=False, float_format="%.4f")]
        if self.groups is not None and len(self.groups):
            parts += ["<h4>By group</h4>", self.groups.to_html(index=False, float_format="%.4f")]
        if full:
            try:
                import base64
                import io

                fig = self.plot()
                buf = io.BytesIO()
                fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
                parts.append(
                    f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}"/>'
                )
                import matplotlib.pyplot as plt

                plt.close(fig)
            except ImportError:
                pass
        out = "<div>" + "\n".join(parts) + "</div>"
        if path is not None:
            Path(path).write_text(
                f"<!doctype html><meta charset='utf-8'><body>{out}</body>", encoding="utf-8"
            )
        return out

    def plot(self, metric: str | None = None, kind: str = "both") -> Any:
        """Bars with 95% intervals per model and overlaid per-item score distributions (``kind``:
        "bars", "distributions" or "both") for ``metric`` (default: the first)."""
        plt = require("matplotlib.pyplot", "plot")
        metric = metric or self.metrics[0]
        panels = ["bars", "distributions"] if kind == "both" else [kind]
        fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.6), squeeze=False)
        rows = self.table[self.table.metric == metric]
        for ax, panel in zip(axes[0], panels):
            if panel == "bars":
                err = np.vstack([rows.score - rows.ci_low, rows.ci_high - rows.score])
                ax.bar(rows.model, rows.score, yerr=err, capsize=4, color="#4C78A8")
                ax.set_title(f"{metric} with 95% CI")
                ax.tick_params(axis="x", rotation=20)
            else:
                for model in self.models:
                    vals = np.asarray(self.results[model][metric].per_item, dtype=float)
                    vals = vals[~np.isnan(vals)]
                    if metric.startswith("judge"):
                        bins = np.arange(0.5, 6.5, 1.0)
                    else:
                        bins = 20
                    ax.hist(vals, bins=bins, alpha=0.45, label=model, density=True)
                ax.set_title(f"per-item {metric}")
                ax.legend()
        fig.tight_layout()
        return fig
