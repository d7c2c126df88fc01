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
  thresholds, or the ``"chat"`` preset made for chat and instruction records, and says which rule
  dropped each row. A filter that would drop more than ``warn_above`` (30%) of the rows warns with
  its rule table.

Every function also takes :class:`airtune.io.Records`: ``html_to_text``, ``strip_garbage`` and
``fix_text`` then rewrite the contents of the messages of the roles in ``messages=`` (default all)
in C++ and return a :class:`CleanResult` whose ``records`` keep ids, labels, metadata and every other
field; ``quality_filter`` filters the records on the ``select``-ed text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _core
from ._inputs import as_str_list
from ._results import ResultMixin, progress, require
from .stage import StageResult

__all__ = [
    "CleanResult",
    "GarbageReport",
    "HeavyFilterWarning",
    "QualityResult",
    "chat_quality_rules",
    "fix_text",
    "html_to_text",
    "quality_filter",
    "quality_presets",
    "strip_garbage",
]

_MODES = ("main_content", "full")


class HeavyFilterWarning(UserWarning):
    """A stage would remove more than its ``warn_above`` share of the rows; the message holds the
    rule (or threshold) table so the user can choose."""


def _is_records(obj: Any) -> bool:
    from .io import Records

    return isinstance(obj, Records)


@dataclass(repr=False)
class CleanResult(StageResult, ResultMixin):
    """A rewrite of records (html_to_text, strip_garbage, fix_text on message contents).

    ``records``: the rewritten records (ids, labels, metadata, lines, every field kept);
    ``changed``: per record, whether any of its messages changed; ``counts``: per record, what
    strip_garbage removed (empty for the other rewrites). ``keep`` is False only for rows the rewrite
    emptied (a user or assistant message left blank): ``reason`` ``"clean:<kind>:emptied"``.
    """

    records: Any
    changed: np.ndarray
    keep: np.ndarray
    kind: str
    counts: dict[str, np.ndarray] = field(default_factory=dict)
    stage = "clean"

    @property
    def reason(self) -> list[str]:
        return ["" if k else f"clean:{self.kind}:emptied" for k in self.keep.tolist()]

    def _output_records(self, records: Any) -> Any:
        return self.records

    def totals(self) -> dict[str, int]:
        return {k: int(v.sum()) for k, v in self.counts.items()}

    def summary_line(self) -> str:
        return (
            f"{self.kind}: {int(self.changed.sum())} of {len(self.changed)} records changed, "
            f"{int((~self.keep).sum())} emptied"
        )

    def to_pandas(self) -> Any:
        pd = require("pandas", "data")
        frame = pd.DataFrame({"id": self.records.ids, "changed": self.changed, "keep": self.keep})
        for k, v in self.counts.items():
            frame[k] = v
        return frame

    def __len__(self) -> int:
        return len(self.changed)

    def __repr__(self) -> str:
        return f"<CleanResult {self.summary_line()}>"


def _roles(messages: Any) -> list[str] | None:
    if messages is None or messages == "all":
        return None
    return [messages] if isinstance(messages, str) else list(messages)


def _rewrite(records: Any, messages: Any, kernel: Any, kind: str) -> CleanResult:
    """Runs ``kernel(text_column) -> (text_column, counts or None)`` on the contents of the messages
    of the chosen roles and writes the results back, columnar, in C++."""
    R = _core.records
    batch = records._batch
    roles = _roles(messages)
    idx = R.messages_with_roles(batch, roles)
    before = R.message_texts(batch, idx)
    after, counts = kernel(before)
    new_batch = R.with_contents(batch, idx, after)
    from .io import Records

    n = len(records)
    rec_of = R.message_record(batch, idx)
    raw = _core.dedup.NormalizeOptions(lowercase=False, collapse_whitespace=False, unicode=None)
    old = _core.dedup.exact_hashes(before, raw)  # type: ignore[arg-type]  # a TextColumn is read in place
    new = _core.dedup.exact_hashes(after, raw)
    changed = np.bincount(rec_of[old != new], minlength=n) > 0 if n else np.zeros(0, dtype=bool)
    emptied = R.empty_message_rows(new_batch, ["user", "assistant"]).astype(bool) & ~R.empty_message_rows(
        batch, ["user", "assistant"]
    ).astype(bool)
    per_record = {}
    for k, v in (counts or {}).items():
        per_record[k] = np.bincount(rec_of, weights=v, minlength=n).astype(np.int64)
    out = Records(new_batch)
    out.report = records.report
    return CleanResult(records=out, changed=changed, keep=~emptied, kind=kind, counts=per_record)


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
    max_tree_items: int = 1 << 22,
    column: str | None = None,
    show_progress: bool = True,
    messages: Any = None,
) -> Any:
    """Text of each HTML page.

    Args:
        docs: pages as str (already decoded) or bytes (raw; the charset is sniffed from the BOM or
            ``<meta charset>``, falling back to windows-1252 for undeclared non-UTF-8 bytes). Any
            column-like container is accepted; None rows give "".
        mode: ``"main_content"`` (the article body: boilerplate, the ``<h1>`` title, captions and
            bylines removed) or ``"full"`` (all visible text).
        links: write links as ``[text](url)``, the URL as a browser reads it (character references
            decoded, tabs and newlines removed). ``javascript:``, ``vbscript:`` and ``data:`` links are
            never written, however they are disguised (``&#x6A;avascript:``, ``java\tscript:``,
            ``\x01javascript:``, ``javascript&colon;``).
        alt_texts: include the alt text of images.
        headings: ``"plain"`` or ``"markdown"`` (``## Heading``).
        list_bullets: prefix list items with ``•`` (or their number in ordered lists).
        keep_hidden: keep elements hidden with ``hidden``, ``aria-hidden`` or inline ``display:none``.
        max_tree_items: ``main_content`` holds the page's tree in memory (about 40 bytes per element
            and per text run, with its scores); a page with more elements + text runs than this is
            extracted as in ``full`` mode, which streams (nothing is held per element). The default,
            4,194,304, is over 100x the largest of 181 real article pages and bounds the tree at about
            170 MB per page.
        column: the column to read when ``docs`` is a DataFrame, Arrow table or dataset.
        show_progress: show a progress bar for long inputs (20,000 pages or more).
        messages: for :class:`airtune.io.Records`: the roles whose contents are converted
            (a role or a list of roles; default all).

    Returns:
        One str per page: paragraphs separated by blank lines, valid UTF-8 whatever the input; for
        Records a :class:`CleanResult` with the rewritten records.
    """
    if mode not in _MODES:
        raise ValueError(f"mode: expected one of {_MODES}, got {mode!r}")

    def run(chunk: Any, as_column: bool = False) -> Any:
        return _core.clean.html_to_text(
            chunk,
            mode=mode,
            links=bool(links),
            alt_texts=bool(alt_texts),
            headings=headings,
            list_bullets=bool(list_bullets),
            keep_hidden=bool(keep_hidden),
            max_tree_items=int(max_tree_items),
            as_column=as_column,
        )

    if _is_records(docs):
        return _rewrite(docs, messages, lambda col: (run(col, True), None), "html_to_text")
    rows = as_str_list(docs, "docs", column)

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
    messages: Any = None,
) -> Any:
    """Repair the Unicode of each text.

    Mojibake (UTF-8 read as windows-1252 or latin-1, also twice), leftover C1 controls, control and
    zero-width characters, line breaks (CR LF, U+2028...), Latin ligatures, optionally curly quotes,
    whitespace (exotic spaces, trailing spaces, runs of blank lines) and finally Unicode
    normalisation (``normalization``: "NFC", "NFKC", "NFD", "NFKD" or None). ``unescape_html="auto"``
    decodes character references only in texts without a ``<`` (ftfy's rule); True/False force it.
    Bytes rows are read as UTF-8 with invalid sequences replaced. ``show_progress`` shows a bar for
    20,000 rows or more. The normalisation runs in C++ (utf8proc) like everything else.

    :class:`airtune.io.Records`: the contents of the messages of the roles in ``messages`` (default
    all) are repaired in C++; returns a :class:`CleanResult` with the rewritten records.
    """
    if normalization not in (None, "NFC", "NFKC", "NFD", "NFKD"):
        raise ValueError(f"normalization: expected NFC, NFKC, NFD, NFKD or None, got {normalization!r}")
    mode = ("yes" if unescape_html else "no") if isinstance(unescape_html, bool) else unescape_html

    def run(chunk: Any, as_column: bool = False) -> Any:
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
            as_column=as_column,
        )

    if _is_records(texts):
        return _rewrite(texts, messages, lambda col: (run(col, True), None), "fix_text")
    rows = as_str_list(texts, "texts", column)

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


#: What strip_garbage counts per text (the columns of ``_core.clean.GarbageCounts``), in order.
GARBAGE_KINDS = (
    "script_blocks",
    "tags",
    "entities",
    "js_lines",
    "base64",
    "tracking_params",
    "bytes_removed",
)


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
    messages: Any = None,
) -> Any:
    """Remove garbage from plain-text fields and report what was removed, row by row.

    Removes ``<script>``/``<style>`` blocks and HTML comments, tags of known HTML elements (block
    tags leave a line break), decodes ``;``-terminated character references, drops lines that read as
    JavaScript and ``javascript:``/``vbscript:`` URLs, data: URIs and long base64 runs, and tracking query
    parameters (utm_*, fbclid, gclid, ...) of URLs. Text that merely looks like markup (``a < b``,
    ``List<T>``) is kept.

    :class:`airtune.io.Records`: the contents of the messages of the roles in ``messages`` (default
    all) are cleaned in C++; returns a :class:`CleanResult` (rewritten records, per-record counts).
    """

    def run(chunk: Any, as_column: bool = False) -> tuple[Any, dict[str, np.ndarray]]:
        cleaned, counts = _core.clean.strip_garbage(
            chunk,
            script_blocks=script_blocks,
            tags=tags,
            entities=entities,
            js_lines=js_lines,
            base64=base64,
            tracking_params=tracking_params,
            as_column=as_column,
        )
        return cleaned, {name: getattr(counts, name) for name in GARBAGE_KINDS}

    if _is_records(texts):
        return _rewrite(texts, messages, lambda col: run(col, True), "strip_garbage")
    rows = as_str_list(texts, "texts", column)

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


CHAT_PRESET = "chat"


def quality_presets() -> dict[str, dict[str, Any]]:
    """The presets and, for each, every parameter value it runs with (published thresholds; the
    ``"chat"`` preset: the chat checks of :func:`chat_quality_rules`)."""
    out = {}
    for name in _PRESETS:
        params = _params(name, {})
        out[name] = {k: getattr(params, k) for k in _param_names()}
    chat = _params(CHAT_PRESET, {})
    out[CHAT_PRESET] = {k: getattr(chat, k) for k in _param_names(chat=True)}
    return out


def chat_quality_rules() -> list[str]:
    """The rules of the ``"chat"`` preset, in check order (each has an on/off switch of that name)."""
    return list(_core.clean.chat_quality_rules())


def _param_names(chat: bool = False) -> list[str]:
    cls = _core.clean.ChatQualityParams if chat else _core.clean.QualityParams
    return [k for k in dir(cls) if not k.startswith("_")]


def _params(preset: str, overrides: dict[str, Any]) -> Any:
    if preset == CHAT_PRESET:
        params = _core.clean.ChatQualityParams()
        names = set(_param_names(chat=True))
        for key, value in overrides.items():
            if key not in names:
                raise ValueError(
                    f"unknown quality_filter parameter {key!r} for preset 'chat'; valid: {sorted(names)}"
                )
            setattr(params, key, type(getattr(params, key))(value))
        return params
    if preset not in _PRESETS:
        raise ValueError(f"preset: expected one of {sorted([*_PRESETS, CHAT_PRESET])}, got {preset!r}")
    web = _core.clean.QualityParams()
    names = set(_param_names())
    for key, value in {**_PRESETS[preset], **overrides}.items():
        if key not in names:
            raise ValueError(f"unknown quality_filter parameter {key!r}; valid: {sorted(names)}")
        current = getattr(web, key)
        setattr(web, key, type(current)(value))
    return web


@dataclass
class QualityResult(StageResult, ResultMixin):
    """Result of :func:`quality_filter`.

    ``keep`` is a boolean mask; ``reasons[i]`` is None for a kept row and ``"<filter>:<rule>"`` for a
    dropped one (``reason[i]``, the stage contract's form: ``""`` or ``"quality:<filter>:<rule>"``);
    ``texts`` are the rows after line-level rules (C4 removes lines), for kept rows the text to use
    downstream (empty for records and the chat preset, whose records are not rewritten). Kept plus
    dropped always equals the number of rows. ``rule_table``: rows each rule would drop on its own
    (filled when the filter drops more than ``warn_above`` of the rows, or on request with
    :meth:`rules`).
    """

    keep: np.ndarray
    reasons: list[str | None]
    texts: list[str]
    preset: str
    params: dict[str, Any] = field(default_factory=dict)
    rule_table: dict[str, int] = field(default_factory=dict)
    stage = "quality"

    @property
    def reason(self) -> list[str]:
        return ["" if r is None else (r if r.startswith("chat:") else "quality:" + r) for r in self.reasons]

    @property
    def n_kept(self) -> int:
        return int(self.keep.sum())

    @property
    def n_dropped(self) -> int:
        return len(self.keep) - self.n_kept

    def rules(self) -> dict[str, int]:
        """Rows each rule (or filter) drops on its own (computed on demand, then kept)."""
        if not self.rule_table and hasattr(self, "_run_alone"):
            self.rule_table = self._run_alone()
        return self.rule_table

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
    texts: Any,
    preset: str = "c4",
    *,
    column: str | None = None,
    select: str | None = None,
    show_progress: bool = True,
    warn_above: float | None = 0.3,
    **overrides: Any,
) -> QualityResult:
    """Apply heuristic quality filters with published thresholds, or the chat checks.

    Presets: ``"c4"`` (C4's line and document rules), ``"gopher"`` (Gopher repetition and quality
    rules), ``"fineweb"`` (FineWeb's chain: Gopher repetition, Gopher quality, C4 without the
    terminal-punctuation line rule, FineWeb quality), and ``"chat"`` for chat and instruction
    records (see ``cpp/clean/chat_quality.h``: missing or empty turns, refusals, truncated answers,
    answers in another language, leftover markup, extreme length ratios, repeated lines; short
    conversational turns are kept). The web presets were made for web pages: on short chat turns
    they drop nearly everything. Any threshold can be overridden by name, e.g.
    ``quality_filter(texts, "gopher", min_doc_words=20)``; :func:`quality_presets` lists them all.
    A negative value turns a check off.

    ``texts``: a text column, or :class:`airtune.io.Records` (web presets read the ``select``-ed text,
    by default the whole conversation; the chat preset reads the messages). When more than
    ``warn_above`` of the rows would be dropped, a :class:`HeavyFilterWarning` shows how many rows
    each rule drops on its own (``None`` turns the warning off).
    """
    from .io.select import as_records, stage_texts

    params = _params(preset, overrides)
    if preset == CHAT_PRESET:
        records = as_records(texts)
        keep, reasons = _core.clean.chat_quality(records._batch, params)
        result = QualityResult(
            keep=keep.astype(bool),
            reasons=list(reasons),
            texts=[],
            preset=preset,
            params={k: getattr(params, k) for k in _param_names(chat=True)},
        )
        run_alone = _chat_rule_runner(records, params)
    else:
        rows, selected = stage_texts(texts, select, column, stage="quality")
        if selected is not None:
            keep, reasons, cleaned = _core.clean.quality_filter(rows, params)
            parts: list[tuple[Any, list[str | None], list[str]]] = [(keep, reasons, [])]
        else:
            parts = _chunked(
                lambda chunk: _core.clean.quality_filter(chunk, params), rows, show_progress, "quality_filter"
            )
        keep = np.concatenate([part[0] for part in parts]) if parts else np.zeros(0, dtype=np.uint8)
        result = QualityResult(
            keep=keep.astype(bool),
            reasons=[r for part in parts for r in part[1]],
            texts=[t for part in parts for t in part[2]],
            preset=preset,
            params={k: getattr(params, k) for k in _param_names()},
        )
        run_alone = _web_rule_runner(rows, preset, overrides)
    n = len(result.keep)
    if warn_above is not None and n and result.n_dropped > warn_above * n:
        result.rule_table = run_alone()
        _warn_heavy("quality_filter", preset, result.n_dropped, n, warn_above, result.rule_table)
    result._run_alone = run_alone  # type: ignore[attr-defined]
    return result


def _chat_rule_runner(records: Any, params: Any) -> Any:
    def run() -> dict[str, int]:
        table = {}
        for rule in chat_quality_rules():
            alone = _core.clean.ChatQualityParams()
            for r in chat_quality_rules():
                setattr(alone, r, r == rule)
            for k in _param_names(chat=True):
                if k not in chat_quality_rules():
                    setattr(alone, k, getattr(params, k))
            keep, _ = _core.clean.chat_quality(records._batch, alone)
            table[f"chat:{rule}"] = int(len(keep) - keep.sum())
        return table

    return run


def _web_rule_runner(rows: Any, preset: str, overrides: dict[str, Any]) -> Any:
    def run() -> dict[str, int]:
        base = _params(preset, overrides)
        table = {}
        for switch in _SWITCHES:
            if not getattr(base, switch):
                continue
            alone = _params(preset, overrides)
            for s in _SWITCHES:
                setattr(alone, s, s == switch)
            keep, reasons, _ = _core.clean.quality_filter(rows, alone)
            counts: dict[str, int] = {}
            for r in reasons:
                if r is not None:
                    counts[r] = counts.get(r, 0) + 1
            table[switch] = int(len(keep) - keep.sum())
            for r, c in sorted(counts.items(), key=lambda kv: -kv[1]):
                table[f"  {r}"] = c
        return table

    return run


def _warn_heavy(stage: str, what: str, dropped: int, n: int, share: float, table: dict[Any, int]) -> str:
    import warnings

    lines = [
        f"{stage}[{what}] would remove {dropped} of {n} rows ({100 * dropped / n:.0f}% > {100 * share:.0f}%).",
        "Rows each rule (or threshold) removes on its own:",
    ]
    width = max((len(str(k)) for k in table), default=10)
    for k, v in table.items():
        lines.append(f"  {str(k):<{width}}  {v:>8}  ({100 * v / n:5.1f}%)")
    if stage == "quality_filter" and what != CHAT_PRESET:
        lines.append("Web presets were made for web pages; for chat records use preset='chat'.")
    lines.append("Choose a preset or thresholds (or pass warn_above=None to silence this).")
    message = "\n".join(lines)
    warnings.warn(message, HeavyFilterWarning, stacklevel=3)
    return message
