"""Cleaning web and production text: HTML to text, garbage stripping, unicode repair, quality filters.

All the work runs in C++ (``airtune._core.clean``) in parallel with the GIL released; this module
normalises inputs (list, numpy, pandas, pyarrow, Hugging Face datasets) and wraps results.

- :func:`html_to_text` extracts the text of HTML pages, the whole visible text (``mode="full"``) or
  the main content (``mode="main_content"``: navigation, headers, footers, sidebars, cookie banners,
  share widgets, comments and related-article lists removed).
- :func:`strip_garbage` removes leaked markup, entities, JavaScript, base64 blobs and tracking
  parameters from plain-text fields and reports what it removed.
- :func:`fix_text` repairs mojibake (UTF-8 read as cp1252/latin-1), removes control and zero-width
  characters, normalises line breaks, whitespace and Unicode (NFC).
- :func:`quality_filter` applies the C4, Gopher and FineWeb heuristic filters with their published
  thresholds and says which rule dropped each row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _core
from ._inputs import as_str_list
from ._results import ResultMixin, progress

__all__ = [
    "GarbageReport",
    "QualityResult",
    "fix_text",
    "html_to_text",
    "quality_filter",
    "quality_presets",
    "strip_garbage",
]

_MODES = ("main_content", "full")


_CHUNK = 4096  # rows per C++ call when a progress bar is shown
_PROGRESS_MIN_ROWS = 20_000  # below this a call is short: no bar


def _chunked(fn: Any, rows: list, show: bool, desc: str) -> Any:
    """fn(rows) in one call, or chunk by chunk with a progress bar for long inputs (same result)."""
    if not show or len(rows) < _PROGRESS_MIN_ROWS:
        return [fn(rows)]
    out = []
    bar = progress(total=len(rows), desc=desc)
    try:
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            out.append(fn(chunk))
            bar.update(len(chunk))
    finally:
        bar.close()
    return out


def html_to_text(
    docs: Any,
    mode: str = "main_content",
    *,
    links: bool = False,
    alt_texts: bool = False,
    headings: str = "plain",
    list_bullets: bool = True,
    keep_hidden: bool = False,
    column: str | None = None,
    show_progress: bool = True,
) -> list[str]:
    """Text of each HTML page.

    Args:
        docs: pages as str (already decoded) or bytes (raw; the charset is sniffed from the BOM or
            ``<meta charset>``, falling back to windows-1252 for undeclared non-UTF-8 bytes). Any
            column-like container is accepted; None rows give "".
        mode: ``"main_content"`` (the article body: boilerplate, the ``<h1>`` title, captions and
            bylines removed) or ``"full"`` (all visible text).
        links: write links as ``[text](url)`` (``javascript:`` URLs are never written).
        alt_texts: include the alt text of images.
        headings: ``"plain"`` or ``"markdown"`` (``## Heading``).
        list_bullets: prefix list items with ``•`` (or their number in ordered lists).
        keep_hidden: keep elements hidden with ``hidden``, ``aria-hidden`` or inline ``display:none``.
        column: the column to read when ``docs`` is a DataFrame, Arrow table or dataset.
        show_progress: show a progress bar for long inputs (20,000 pages or more).

    Returns:
        One str per page: paragraphs separated by blank lines, valid UTF-8 whatever the input.
    """
    if mode not in _MODES:
        raise ValueError(f"mode: expected one of {_MODES}, got {mode!r}")
    rows = as_str_list(docs, "docs", column)

    def run(chunk: list) -> list[str]:
        return _core.clean.html_to_text(
            chunk,
            mode=mode,
            links=bool(links),
            alt_texts=bool(alt_texts),
            headings=headings,
            list_bullets=bool(list_bullets),
            keep_hidden=bool(keep_hidden),
        )

    parts = _chunked(run, rows, show_progress, "html_to_text")
    return parts[0] if len(parts) == 1 else [t for part in parts for t in part]


def fix_text(
    texts: Any,
    *,
    unescape_html: str | bool = "auto",
    fix_encoding: bool = True,
    fix_c1_controls: bool = True,
    remove_control_chars: bool = True,
    remove_zero_width: bool = True,
    fix_line_breaks: bool = True,
    fix_latin_ligatures: bool = True,
    uncurl_quotes: bool = False,
    normalize_whitespace: bool = True,
    normalization: str | None = "NFC",
    column: str | None = None,
    show_progress: bool = True,
) -> list[str]:
    """Repair the Unicode of each text.

    Mojibake (UTF-8 read as windows-1252 or latin-1, also twice), leftover C1 controls, control and
    zero-width characters, line breaks (CR LF, U+2028...), Latin ligatures, optionally curly quotes,
    whitespace (exotic spaces, trailing spaces, runs of blank lines) and finally Unicode
    normalisation (``normalization``: "NFC", "NFKC", "NFD", "NFKD" or None). ``unescape_html="auto"``
    decodes character references only in texts without a ``<`` (ftfy's rule); True/False force it.
    Bytes rows are read as UTF-8 with invalid sequences replaced. ``show_progress`` shows a bar for
    20,000 rows or more.
    """
    if normalization not in (None, "NFC", "NFKC", "NFD", "NFKD"):
        raise ValueError(f"normalization: expected NFC, NFKC, NFD, NFKD or None, got {normalization!r}")
    mode = {True: "yes", False: "no"}.get(unescape_html, unescape_html)  # type: ignore[call-overload]
    rows = as_str_list(texts, "texts", column)

    def run(chunk: list) -> list[str]:
        return _core.clean.fix_text(
            chunk,
            unescape_html=mode,
            fix_encoding=fix_encoding,
            fix_c1_controls=fix_c1_controls,
            remove_control_chars=remove_control_chars,
            remove_zero_width=remove_zero_width,
            fix_line_breaks=fix_line_breaks,
            fix_latin_ligatures=fix_latin_ligatures,
            uncurl_quotes=uncurl_quotes,
            normalize_whitespace=normalize_whitespace,
            normalization=normalization or "none",
        )

    return [t for part in _chunked(run, rows, show_progress, "fix_text") for t in part]


@dataclass
class GarbageReport(ResultMixin):
    """Result of :func:`strip_garbage`: the cleaned texts and, per row, what was removed.

    ``counts`` maps each kind (script_blocks, tags, entities, js_lines, base64, tracking_params,
    bytes_removed) to an int64 array with one entry per row.
    """

    texts: list[str]
    counts: dict[str, np.ndarray]

    KINDS = ("script_blocks", "tags", "entities", "js_lines", "base64", "tracking_params")

    @property
    def changed(self) -> np.ndarray:
        """Rows where anything was removed or decoded."""
        total = sum(self.counts[k] for k in self.KINDS)
        return np.asarray(total > 0) if len(self.texts) else np.zeros(0, dtype=bool)

    def totals(self) -> dict[str, int]:
        """Sum of each count over all rows."""
        return {k: int(v.sum()) for k, v in self.counts.items()}

    def summary_line(self) -> str:
        t = self.totals()
        parts = ", ".join(f"{k}={t[k]}" for k in self.KINDS if t[k])
        return f"strip_garbage: {int(self.changed.sum())} of {len(self.texts)} rows changed ({parts or 'nothing'})"

    def to_pandas(self) -> Any:
        import pandas as pd

        frame = pd.DataFrame({"text": self.texts})
        for k, v in self.counts.items():
            frame[k] = v
        return frame

    def __len__(self) -> int:
        return len(self.texts)


def strip_garbage(
    texts: Any,
    *,
    script_blocks: bool = True,
    tags: bool = True,
    entities: bool = True,
    js_lines: bool = True,
    base64: bool = True,
    tracking_params: bool = True,
    column: str | None = None,
    show_progress: bool = True,
) -> GarbageReport:
    """Remove garbage from plain-text fields and report what was removed, row by row.

    Removes ``<script>``/``<style>`` blocks and HTML comments, tags of known HTML elements (block
    tags leave a line break), decodes ``;``-terminated character references, drops lines that read as
    JavaScript and ``javascript:`` URLs, data: URIs and long base64 runs, and tracking query
    parameters (utm_*, fbclid, gclid, ...) of URLs. Text that merely looks like markup (``a < b``,
    ``List<T>``) is kept.
    """
    rows = as_str_list(texts, "texts", column)

    def run(chunk: list) -> tuple[list[str], dict[str, np.ndarray]]:
        return _core.clean.strip_garbage(
            chunk,
            script_blocks=script_blocks,
            tags=tags,
            entities=entities,
            js_lines=js_lines,
            base64=base64,
            tracking_params=tracking_params,
        )

    parts = _chunked(run, rows, show_progress, "strip_garbage")
    if len(parts) == 1:
        return GarbageReport(texts=parts[0][0], counts=dict(parts[0][1]))
    texts_out = [t for part in parts for t in part[0]]
    counts = {k: np.concatenate([part[1][k] for part in parts]) for k in parts[0][1]}
    return GarbageReport(texts=texts_out, counts=counts)


_C4 = {"c4": True}
_GOPHER = {"gopher_repetition": True, "gopher_quality": True}
_FINEWEB = {
    "gopher_repetition": True,
    "gopher_quality": True,
    "c4": True,
    "fineweb": True,
    "c4_filter_no_terminal_punct": False,
}
_PRESETS: dict[str, dict[str, Any]] = {"c4": _C4, "gopher": _GOPHER, "fineweb": _FINEWEB}
_SWITCHES = ("gopher_repetition", "gopher_quality", "c4", "fineweb")


def quality_presets() -> dict[str, dict[str, Any]]:
    """The presets and, for each, every parameter value it runs with (published thresholds)."""
    out = {}
    for name in _PRESETS:
        params = _params(name, {})
        out[name] = {k: getattr(params, k) for k in _param_names()}
    return out


def _param_names() -> list[str]:
    return [k for k in dir(_core.clean.QualityParams) if not k.startswith("_")]


def _params(preset: str, overrides: dict[str, Any]) -> Any:
    if preset not in _PRESETS:
        raise ValueError(f"preset: expected one of {sorted(_PRESETS)}, got {preset!r}")
    params = _core.clean.QualityParams()
    names = set(_param_names())
    for key, value in {**_PRESETS[preset], **overrides}.items():
        if key not in names:
            raise ValueError(f"unknown quality_filter parameter {key!r}; valid: {sorted(names)}")
        current = getattr(params, key)
        setattr(params, key, type(current)(value))
    return params


@dataclass
class QualityResult(ResultMixin):
    """Result of :func:`quality_filter`.

    ``keep`` is a boolean mask; ``reasons[i]`` is None for a kept row and ``"<filter>:<rule>"`` for a
    dropped one; ``texts`` are the rows after line-level rules (C4 removes lines), for kept rows the
    text to use downstream. Kept plus dropped always equals the number of rows.
    """

    keep: np.ndarray
    reasons: list[str | None]
    texts: list[str]
    preset: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def n_kept(self) -> int:
        return int(self.keep.sum())

    @property
    def n_dropped(self) -> int:
        return len(self.keep) - self.n_kept

    def reason_counts(self) -> dict[str, int]:
        """How many rows each rule dropped, most frequent first."""
        counts: dict[str, int] = {}
        for r in self.reasons:
            if r is not None:
                counts[r] = counts.get(r, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def summary_line(self) -> str:
        return (
            f"quality_filter[{self.preset}]: kept {self.n_kept} of {len(self.keep)}, dropped {self.n_dropped}"
        )

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame({"keep": self.keep, "reason": self.reasons, "text": self.texts})

    def __len__(self) -> int:
        return len(self.keep)


def quality_filter(
    texts: Any, preset: str = "c4", *, column: str | None = None, show_progress: bool = True, **overrides: Any
) -> QualityResult:
    """Apply heuristic quality filters with published thresholds.

    Presets: ``"c4"`` (C4's line and document rules), ``"gopher"`` (Gopher repetition and quality
    rules), ``"fineweb"`` (FineWeb's chain: Gopher repetition, Gopher quality, C4 without the
    terminal-punctuation line rule, FineWeb quality). Any threshold can be overridden by name, e.g.
    ``quality_filter(texts, "gopher", min_doc_words=20)``; :func:`quality_presets` lists them all.
    A negative value turns a check off.
    """
    params = _params(preset, overrides)
    rows = as_str_list(texts, "texts", column)
    parts = _chunked(
        lambda chunk: _core.clean.quality_filter(chunk, params), rows, show_progress, "quality_filter"
    )
    keep = np.concatenate([part[0] for part in parts]) if parts else np.zeros(0, dtype=np.uint8)
    return QualityResult(
        keep=keep.astype(bool),
        reasons=[r for part in parts for r in part[1]],
        texts=[t for part in parts for t in part[2]],
        preset=preset,
        params={k: getattr(params, k) for k in _param_names()},
    )
