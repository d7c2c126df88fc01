"""The evaluation report: tables, comparisons, verdicts, per-group scores; its text form (a short
table), markdown, notebook HTML and a self-contained HTML page; plots in ``evaluate/plots.py``."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import metrics as M
from .._results import ResultMixin

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em; color: #222; }
table.at { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 13px; }
table.at th, table.at td { border-bottom: 1px solid #ddd; padding: 3px 9px; text-align: right; }
table.at th { background: #f4f4f4; } table.at td.l, table.at th.l { text-align: left; }
.v-replaceable { color: #1a7f37; font-weight: 600; } .v-not { color: #c0392b; font-weight: 600; }
.v-inconclusive { color: #9a6700; font-weight: 600; } .muted { color: #777; }
img { max-width: 100%; height: auto; display: block; margin: 0.8em 0; }
"""


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _verdict_class(outcome: str) -> str:
    return {"replaceable": "v-replaceable", "not replaceable": "v-not", "inconclusive": "v-inconclusive"}.get(
        outcome, ""
    )


@dataclass
class EvalReport(ResultMixin):
    """Everything :func:`evaluate` found.

    ``table``: one row per (model, metric) with score, CI (Wilson for 0/1 metrics, else the
    bootstrap of the metric's own statistic), n, the statistic computed and its kind (per-item
    mean, 0/1 mean, corpus), invalid answers and per-item errors. ``per_item``: one row per item
    with every model's per-item score for each metric. ``comparisons``: each pair of models per
    metric (paired bootstrap, approximate randomisation, exact McNemar for 0/1 metrics, Wilcoxon
    for judge scores). ``verdicts``: the three-way outcome per (candidate, metric) when margins
    were given, with the minimum detectable effect, the items that would settle it and a reading
    in words. ``groups``: scores per group when ``evaluate(by=...)``. ``judge``: Likert histograms
    (with an "unparsed" bucket holding every answer without a score: unparsed, off-scale or failed;
    ``off_scale`` and ``errors`` count those), means with CIs and medians per model.
    ``pairwise``: pairwise-judge comparisons with the baseline; ``judge_agreement``: agreement
    between judges; ``errors``: every counted failure (row, message). ``results`` keeps the
    :class:`~airtune.metrics.MetricResult` objects (``results[model][metric]``).

    ``print(report)`` shows a short table; notebooks render ``_repr_html_``; ``to_html(path)``
    writes a self-contained page (styles and plots inline).
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
    pairwise: Any = None
    judge_agreement: Any = None
    errors: Any = None

    # -- small helpers -------------------------------------------------------------------------

    def summary_line(self) -> str:
        return f"evaluation of {len(self.models)} models on {len(self.per_item)} items; baseline {self.baseline!r}"

    def to_pandas(self) -> Any:
        return self.table

    def _verdict(self, model: str, metric: str) -> Any:
        if self.verdicts is None or not len(self.verdicts):
            return None
        v = self.verdicts[(self.verdicts.model == model) & (self.verdicts.metric == metric)]
        return None if v.empty else v.iloc[0]

    def _difference(self, model: str, metric: str) -> Any:
        c = self.comparisons
        if c is None or not len(c) or model == self.baseline:
            return None
        row = c[(c.model == model) & (c.metric == metric) & (c.baseline == self.baseline)]
        return None if row.empty else row.iloc[0]

    def _rows(self) -> list[dict]:
        """One display row per (metric, model): score, CI, difference with the baseline, verdict."""
        out = []
        order = {m: k for k, m in enumerate(self.metrics)}
        rows = sorted(
            self.table.itertuples(), key=lambda r: (order.get(r.metric, 0), self.models.index(r.model))
        )
        for r in rows:
            cmp = self._difference(r.model, r.metric)
            v = self._verdict(r.model, r.metric)
            out.append(
                {
                    "metric": r.metric,
                    "model": r.model,
                    "score": r.score,
                    "ci": f"[{r.ci_low:.4f}, {r.ci_high:.4f}]",
                    "n": r.n,
                    "diff": "" if cmp is None else f"{cmp.difference:+.4f}",
                    "invalid": int(getattr(r, "invalid", 0) or 0),
                    "verdict": "" if v is None else v.outcome,
                }
            )
        return out

    # -- text ----------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return self.text()

    def __str__(self) -> str:
        return self.text()

    def text(self) -> str:
        """The short text form: one line per (metric, model), then the verdicts in words."""
        rows = self._rows()
        head = ["metric", "model", "score", "95% CI", "n", "vs baseline", "invalid", "verdict"]
        body = [
            [
                r["metric"],
                r["model"],
                f"{r['score']:.4f}",
                r["ci"],
                str(r["n"]),
                r["diff"],
                str(r["invalid"]) if r["invalid"] else "",
                r["verdict"],
            ]
            for r in rows
        ]
        widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
        right = {2, 4, 5, 6}

        def line(cells: list[str]) -> str:
            return "  ".join(
                c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
            ).rstrip()

        out = [
            f"EvalReport: {len(self.models)} models on {len(self.per_item)} items, baseline {self.baseline!r}",
            line(head),
        ]
        out += [line(b) for b in body]
        if self.verdicts is not None and len(self.verdicts):
            out.append("verdicts:")
            out += [f"  {v.model} on {v.metric}: {v.reading}" for v in self.verdicts.itertuples()]
        if self.errors is not None and len(self.errors):
            out.append(f"errors: {len(self.errors)} counted failures (report.errors)")
        return "\n".join(out)

    def to_markdown(self) -> str:
        """A markdown report: scores with CIs, comparisons with the baseline, verdicts."""
        lines = [
            f"# Evaluation ({len(self.per_item)} items, baseline `{self.baseline}`)",
            "",
            "| model | metric | score | 95% CI | n | invalid |",
            "|---|---|---:|---|---:|---:|",
        ]
        for r in self.table.itertuples():
            lines.append(
                f"| {r.model} | {r.metric} | {r.score:.4f} | [{r.ci_low:.4f}, {r.ci_high:.4f}] | {r.n} | "
                f"{int(getattr(r, 'invalid', 0) or 0)} |"
            )
        if len(self.comparisons):
            lines += [
                "",
                "| model | against | metric | difference | p (bootstrap) | p (AR) | p (McNemar) | p (Wilcoxon) |",
                "|---|---|---|---:|---:|---:|---:|---:|",
            ]
            for r in self.comparisons.itertuples():
                w = _fmt(getattr(r, "p_wilcoxon", float("nan")))
                mc = getattr(r, "p_mcnemar", float("nan"))
                mc = "" if mc is None or (isinstance(mc, float) and math.isnan(mc)) else f"{mc:.4g}"
                w = "" if not w else f"{float(w):.4g}"
                lines.append(
                    f"| {r.model} | {r.baseline} | {r.metric} | {r.difference:+.4f} | {r.p_bootstrap:.4g} | "
                    f"{r.p_ar:.4g} | {mc} | {w} |"
                )
        if len(self.verdicts):
            level = 100 * (1 - 2 * self.settings.get("alpha", 0.05))
            lines += [
                "",
                f"| model | metric | margin | difference | {level:.0f}% CI | outcome | can replace baseline | reading |",
                "|---|---|---:|---:|---|---|---|---|",
            ]
            for r in self.verdicts.itertuples():
                yes = {"replaceable": "yes", "not replaceable": "no"}.get(r.outcome, "cannot tell")
                lines.append(
                    f"| {r.model} | {r.metric} | {r.margin} | {r.difference:+.4f} | "
                    f"[{r.lower_bound:+.4f}, {r.upper_bound:+.4f}] | {r.outcome} | {yes} | {r.reading} |"
                )
        if self.judge:
            lines += [
                "",
                "| model | judge | 1 | 2 | 3 | 4 | 5 | no score | of which off-scale | of which failed | mean | "
                "median | sample sd |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for model, info in self.judge.items():
                per = info if "histogram" not in info else {"judge": info}
                for crit, summary in per.items():
                    h = summary["histogram"]
                    sd = summary.get("spread", {}).get("sd", float("nan"))
                    lines.append(
                        f"| {model} | {crit} | "
                        + " | ".join(str(h.get(k, 0)) for k in range(1, 6))
                        + f" | {h['unparsed']} | {summary.get('off_scale', 0)} | {summary.get('errors', 0)} | "
                        f"{summary['mean']:.3f} | {summary['median']:.1f} | {_fmt(sd, 3)} |"
                    )
        if self.pairwise is not None and len(self.pairwise):
            lines += [
                "",
                "| model | against | criterion | wins | losses | ties | win rate | 95% CI | first position chosen |",
                "|---|---|---|---:|---:|---:|---:|---|---:|",
            ]
            for r in self.pairwise.itertuples():
                lines.append(
                    f"| {r.model} | {r.baseline} | {r.criterion} | {r.wins} | {r.losses} | {r.ties} | "
                    f"{r.win_rate:.3f} | [{r.ci_low:.3f}, {r.ci_high:.3f}] | {r.first_position_rate:.0%} |"
                )
        sigs = {k: v for k, v in self.settings.get("signatures", {}).items() if v}
        if sigs:
            lines += [""] + [f"- `{k}`: `{v}`" for k, v in sigs.items()]
        lines.append(
            f"- resampling: {self.settings.get('n_samples')} bootstrap samples, "
            f"{self.settings.get('ar_trials')} AR trials, seed {self.settings.get('seed')}"
        )
        return "\n".join(lines) + "\n"

    # -- HTML ----------------------------------------------------------------------------------

    def _summary_html(self) -> str:
        head = "".join(
            f'<th class="{"l" if i < 2 else ""}">{h}</th>'
            for i, h in enumerate(
                ["metric", "model", "score", "95% CI", "n", "vs baseline", "invalid", "verdict"]
            )
        )
        body = []
        for r in self._rows():
            body.append(
                "<tr>"
                f'<td class="l">{html.escape(r["metric"])}</td><td class="l">{html.escape(r["model"])}</td>'
                f"<td>{r['score']:.4f}</td><td>{r['ci']}</td><td>{r['n']}</td><td>{r['diff']}</td>"
                f"<td>{r['invalid'] or ''}</td>"
                f'<td class="l {_verdict_class(r["verdict"])}">{html.escape(r["verdict"])}</td></tr>'
            )
        parts = [f'<table class="at"><tr>{head}</tr>{"".join(body)}</table>']
        if self.verdicts is not None and len(self.verdicts):
            items = "".join(
                f"<li><b>{html.escape(v.model)}</b> on {html.escape(v.metric)}: "
                f'<span class="{_verdict_class(v.outcome)}">{html.escape(v.reading)}</span></li>'
                for v in self.verdicts.itertuples()
            )
            parts.append(f"<ul>{items}</ul>")
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html(full=False)

    def to_html(self, path: str | Path | None = None, *, full: bool = True) -> str:
        """The report as HTML: the summary with verdicts, the tables, and (``full``) the plots inline.
        With ``path`` writes a self-contained page (inline styles, plots as data URIs, no script
        and no external resource), atomically."""
        parts = [
            f"<style>{_CSS}</style>" if path is None else "",
            f"<h3>{html.escape(self.summary_line())}</h3>",
            self._summary_html(),
        ]
        if full:
            parts += ["<h4>Scores</h4>", self.table.to_html(index=False, float_format="%.4f", classes="at")]
        if len(self.comparisons):
            parts += [
                "<h4>Against the baseline</h4>",
                self.comparisons.to_html(index=False, float_format="%.4g", classes="at"),
            ]
        if len(self.verdicts):
            parts += [
                "<h4>Verdicts</h4>",
                self.verdicts.to_html(index=False, float_format="%.4f", classes="at"),
            ]
        for title, frame in (
            ("By group", self.groups),
            ("Pairwise judge", self.pairwise),
            ("Agreement between judges", self.judge_agreement),
            ("Counted failures", self.errors),
        ):
            if frame is not None and len(frame):
                parts += [f"<h4>{title}</h4>", frame.to_html(index=False, float_format="%.4f", classes="at")]
        if full:
            parts += self._plots_html()
        out = "<div>" + "\n".join(p for p in parts if p) + "</div>"
        if path is not None:
            page = (
                "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
                f"<title>{html.escape(self.summary_line())}</title><style>{_CSS}</style></head>"
                f"<body>{out}</body></html>"
            )
            from .._atomic import write_text_atomic

            write_text_atomic(Path(path), page)
        return out

    def _plots_html(self) -> list[str]:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            return []
        import matplotlib.pyplot as plt

        from .plots import figure_to_data_uri

        out = []
        for metric in self.metrics:
            fig = self.plot(metric)
            out.append(f'<img alt="{html.escape(metric)}" src="{figure_to_data_uri(fig)}"/>')
            plt.close(fig)
        return out

    def plot(self, metric: str | None = None, kind: str = "auto") -> Any:
        """A figure that fits ``metric`` (default: the first). ``kind``: "auto" (bars with
        intervals, plus a confusion matrix per model for label metrics, the per-model score
        distributions on shared axes for judges, the paired outcomes against the baseline for other
        0/1 metrics, overlaid per-item histograms otherwise, and per-group bars when
        ``evaluate(by=...)``), or one of "bars", "distributions", "confusion", "groups", "both"
        (bars and distributions)."""
        from .plots import plot_report

        return plot_report(self, metric or self.metrics[0], kind)
