"""Several models side by side on a few inputs, with the words where each differs from the baseline
model marked: a notebook table and the same as a self-contained HTML page."""

from __future__ import annotations

import difflib
import html
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._results import ResultMixin, require
from .cache import PredictionCache
from .callables import call_all

_TOKEN = re.compile(r"\s+|[^\s]+")

_CSS = """
.pg { border-collapse: collapse; font: 13px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
.pg th, .pg td { border: 1px solid #ddd; padding: 6px 9px; vertical-align: top; text-align: left;
  white-space: pre-wrap; max-width: 42em; }
.pg th { background: #f4f4f4; } .pg td.in { color: #555; background: #fafafa; }
.pg ins { background: #d4f7d4; text-decoration: none; } .pg del { background: #fbd6d6; color: #933; }
.pg .same { color: #888; font-size: 11px; } .pg .err { color: #c0392b; }
"""

_SCRIPT = """
(function () {
  var rows = document.querySelectorAll("tr[data-differs]");
  var differ = 0;
  rows.forEach(function (r) { if (r.dataset.differs === "1") differ += 1; });
  document.getElementById("pg-count").textContent = differ + " of " + rows.length + " inputs differ";
  document.getElementById("pg-only").addEventListener("change", function (e) {
    rows.forEach(function (r) { r.style.display = e.target.checked && r.dataset.differs === "0" ? "none" : ""; });
  });
  document.body.dataset.ready = "1";
})();
"""


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """Word-level differences of ``new`` against ``old``: (op, text) pieces with op "equal",
    "insert" (only in new) or "delete" (only in old); whitespace is kept as its own tokens."""
    a, b = _TOKEN.findall(old or ""), _TOKEN.findall(new or "")
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("equal", "".join(b[j1:j2])))
        else:
            if i2 > i1:
                out.append(("delete", "".join(a[i1:i2])))
            if j2 > j1:
                out.append(("insert", "".join(b[j1:j2])))
    return out


def _diff_html(old: str, new: str) -> str:
    parts = []
    for op, text in word_diff(old, new):
        t = html.escape(text)
        parts.append(t if op == "equal" else f"<ins>{t}</ins>" if op == "insert" else f"<del>{t}</del>")
    return "".join(parts)


@dataclass
class Playground(ResultMixin):
    """Outputs of several models on the same inputs. ``table`` (also ``to_pandas()``, and
    ``pg["model"]`` for one column): one row per input. In notebooks and in :meth:`to_html` each
    model's answer is shown with the words that differ from ``baseline``'s answer marked
    (inserted / removed); ``errors``: model -> {row: message} for calls that failed."""

    inputs: list
    outputs: dict[str, list[str | None]]
    baseline: str
    references: list | None = None
    errors: dict[str, dict[int, str]] = field(default_factory=dict)

    @property
    def models(self) -> list[str]:
        return list(self.outputs)

    @property
    def table(self) -> Any:
        pd = require("pandas", "data")
        data: dict[str, list] = {"input": [str(x) for x in self.inputs]}
        if self.references is not None:
            data["reference"] = list(self.references)
        data.update(self.outputs)
        return pd.DataFrame(data)

    def to_pandas(self) -> Any:
        return self.table

    def __getitem__(self, key: str) -> Any:
        return self.table[key]

    def __len__(self) -> int:
        return len(self.inputs)

    def differs(self, row: int) -> bool:
        """True when some model's answer on ``row`` differs from another's."""
        return len({self.outputs[m][row] for m in self.models}) > 1

    def summary_line(self) -> str:
        n = sum(self.differs(i) for i in range(len(self.inputs)))
        return (
            f"playground: {len(self.models)} models on {len(self.inputs)} inputs, {n} with differing answers"
        )

    def __repr__(self) -> str:
        return f"Playground({self.summary_line()})"

    def _cell(self, model: str, row: int) -> str:
        if row in self.errors.get(model, {}):
            return f'<span class="err">error: {html.escape(self.errors[model][row])}</span>'
        text = self.outputs[model][row] or ""
        if model == self.baseline:
            return html.escape(text)
        base = self.outputs[self.baseline][row] or ""
        if text == base:
            return (
                html.escape(text) + '<br><span class="same">same as ' + html.escape(self.baseline) + "</span>"
            )
        return _diff_html(base, text)

    def _table_html(self) -> str:
        cols = (
            ["input"]
            + (["reference"] if self.references is not None else [])
            + [m + (" (baseline)" if m == self.baseline else "") for m in self.models]
        )
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        rows = []
        for i, inp in enumerate(self.inputs):
            cells = [f'<td class="in">{html.escape(str(inp))}</td>']
            if self.references is not None:
                cells.append(f'<td class="in">{html.escape(str(self.references[i]))}</td>')
            cells += [f"<td>{self._cell(m, i)}</td>" for m in self.models]
            rows.append(f'<tr data-differs="{int(self.differs(i))}">{"".join(cells)}</tr>')
        return f'<table class="pg"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'

    def _repr_html_(self) -> str:
        return f"<style>{_CSS}</style><p><b>{html.escape(self.summary_line())}</b></p>{self._table_html()}"

    def to_html(self, path: str | Path | None = None) -> str:
        """A self-contained page (inline style and script, no external resource): the table with
        the differences marked, and a switch to show only the inputs where the models differ.
        Written atomically when ``path`` is given."""
        page = (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.summary_line())}</title><style>{_CSS}\nbody {{ margin: 1.5em; font: 14px system-ui, -apple-system, 'Segoe UI', sans-serif; }}</style>"
            f"</head><body><p><b>{html.escape(self.summary_line())}</b> · "
            f'<label><input type="checkbox" id="pg-only"> only inputs where the models differ</label> · '
            f'<span id="pg-count"></span></p>{self._table_html()}<script>{_SCRIPT}</script></body></html>'
        )
        if path is not None:
            from .._atomic import write_text_atomic

            write_text_atomic(path, page)
        return page


def _is_model_spec(m: Any) -> bool:
    from .models import GenerativeModel

    return isinstance(m, (str, os.PathLike, Mapping)) or (
        isinstance(m, GenerativeModel) and not isinstance(m, type)
    )


def playground(
    models: Mapping[str, Callable[[Any], Any] | Sequence[str]],
    inputs: Sequence[Any],
    *,
    baseline: str | None = None,
    references: Sequence[Any] | None = None,
    cache: str | Path | PredictionCache | None = None,
    max_workers: int = 4,
    retries: int = 0,
) -> Playground:
    """Several models on a few sample inputs, side by side.

    ``models``: name -> callable(input) -> text (or precomputed outputs). ``baseline``: the model
    the others are diffed against (default: the first). ``references``: shown beside the inputs.
    ``cache``: the prediction cache (as in :func:`evaluate`). A call that fails is shown as an
    error in its cell, not raised. Returns a :class:`Playground` (a table in notebooks, an HTML
    page with :meth:`Playground.to_html`).
    """
    inputs = list(inputs)
    if not models:
        raise ValueError("models: give at least one model")
    names = list(models)
    base = baseline if baseline is not None else names[0]
    if base not in models:
        raise ValueError(f"baseline {base!r} is not one of the models {names}")
    if references is not None and len(references) != len(inputs):
        raise ValueError(f"references: {len(references)} for {len(inputs)} inputs")
    store = PredictionCache(cache) if isinstance(cache, (str, Path)) else cache
    outputs: dict[str, list[str | None]] = {}
    errors: dict[str, dict[int, str]] = {}
    try:
        for name in names:
            m = models[name]
            if not callable(m) and _is_model_spec(m):  # folders, adapters, endpoints: airtune generates
                from .models import resolve_model
                from .predict import predict

                got = predict(resolve_model(m, name), inputs, cache=store, show_progress=False, desc=name)
                outputs[name] = got.outputs
                if got.failures:
                    errors[name] = {i: "generation failed" for i, o in enumerate(got.outputs) if o is None}
            elif callable(m):
                outputs[name], failures = call_all(
                    name, m, inputs, cache=store, max_workers=max_workers, retries=retries
                )
                if failures:
                    errors[name] = failures
            else:
                outs = list(m)
                if len(outs) != len(inputs):
                    raise ValueError(f"model {name!r} has {len(outs)} outputs for {len(inputs)} inputs")
                outputs[name] = [None if o is None else str(o) for o in outs]
    finally:
        if isinstance(cache, (str, Path)) and store is not None:
            store.close()
    return Playground(inputs, outputs, base, None if references is None else list(references), errors)
