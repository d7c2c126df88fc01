"""Robustness of a model to prompt variations: the metric on each variant, spread and worst case."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._results import ResultMixin, progress, require
from ..prompts._common import _first_of_role, _to_records
from ..prompts.variations import variations


@dataclass
class RobustnessReport(ResultMixin):
    """A metric under the original system prompt and under K variants of it."""

    scores: list[float]  # index 0: original prompts, k: variant k
    labels: list[str]
    metric: str
    n_rows: int

    @property
    def original(self) -> float:
        return self.scores[0]

    @property
    def spread(self) -> float:
        return float(max(self.scores) - min(self.scores))

    @property
    def std(self) -> float:
        return float(np.std(self.scores[1:])) if len(self.scores) > 1 else 0.0

    @property
    def worst(self) -> float:
        return float(min(self.scores))

    def summary_line(self) -> str:
        return (
            f"robustness ({self.metric}, {self.n_rows} rows): original {self.original:.3f}, variants "
            f"{min(self.scores[1:], default=float('nan')):.3f}..{max(self.scores[1:], default=float('nan')):.3f}, "
            f"spread {self.spread:.3f}"
        )

    def to_pandas(self) -> Any:
        pd = require("pandas", "data")
        return pd.DataFrame({"prompt": self.labels, self.metric: self.scores})

    def plot(self, ax: Any = None) -> Any:
        plt = require("matplotlib.pyplot", "plot")
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3))
        ax.bar(range(len(self.scores)), self.scores, color=["C1"] + ["C0"] * (len(self.scores) - 1))
        ax.set_xticks(range(len(self.scores)), self.labels, rotation=45, fontsize=7)
        ax.set_ylabel(self.metric)
        ax.set_title(f"spread {self.spread:.3f}")
        return ax


def _exact_match(pred: str, ref: str) -> float:
    return float(" ".join(str(pred).split()).lower() == " ".join(str(ref).split()).lower())


def robustness(
    model_fn: Callable[[list[dict[str, Any]]], str],
    records: Any,
    n_variants: int = 5,
    metric: Callable[[str, str], float] | None = None,
    seed: int = 0,
    show_progress: bool = True,
    **variation_kwargs: Any,
) -> RobustnessReport:
    """Run ``model_fn(messages) -> str`` under the original system prompt and K variants of it.

    Each row's messages up to its last assistant turn go to the model, with the system prompt
    replaced by variant k of that prompt (the same k for every row); the reply is scored against
    the row's last assistant message by ``metric(prediction, reference)`` (default: exact match
    after whitespace and case normalisation). Rows without an assistant turn are skipped. When a
    prompt has fewer than K variants, they are reused in turn. A small spread shows the model no
    longer depends on one exact prompt. A progress bar counts model calls (``show_progress=False``
    turns it off).
    """
    recs = _to_records(records)
    metric_fn = metric or _exact_match
    name = getattr(metric, "__name__", "exact_match") if metric else "exact_match"
    dicts = recs.to_dicts(format="chat")
    system = _first_of_role(recs, "system")
    var_of: dict[str, list[str]] = {}
    for k, s in enumerate(dict.fromkeys(s for s in system if s and s.strip())):
        var_of[s] = variations(s, n=n_variants, seed=int(seed) * 1_000_003 + k, **variation_kwargs).variants
    rows = []
    for i, d in enumerate(dicts):
        msgs = d["messages"]
        last = max((j for j, m in enumerate(msgs) if m["role"] == "assistant"), default=-1)
        if last <= 0:
            continue
        rows.append((i, msgs[:last], msgs[last]["content"] or ""))
    scores, labels = [], []
    bar = progress(total=(n_variants + 1) * len(rows), desc="robustness", enabled=show_progress)
    for k in range(n_variants + 1):
        vals = []
        for i, ctx, ref in rows:
            sys_prompt = system[i]
            msgs = [dict(m) for m in ctx]
            if k > 0 and sys_prompt is not None and sys_prompt in var_of:
                pool = var_of[sys_prompt]
                if not pool:
                    continue
                for m in msgs:
                    if m["role"] == "system":
                        m["content"] = pool[(k - 1) % len(pool)]
                        break
            vals.append(float(metric_fn(model_fn(msgs), ref)))
            bar.update(1)
        scores.append(float(np.mean(vals)) if vals else float("nan"))
        labels.append("original" if k == 0 else f"variant {k}")
    bar.close()
    return RobustnessReport(scores=scores, labels=labels, metric=name, n_rows=len(rows))
