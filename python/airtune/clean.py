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

import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _core
from ._inputs import as_str_list
from ._results import ResultMixin

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
) -> list[str]:
    """Text of each HTML page.

    Args:
        docs: pages as str (already decoded) or bytes (raw; the charset is sniffed from the BOM or
            ``<meta charset>``, falling back to windows-1252 for undeclared non-UTF-8 bytes). Any
            column-like container is accepted; None rows give "".
        mode: ``"main_content"`` (boilerplate removed) or ``"full"`` (all visible text).
        links: write links as ``[text](url)`` (``javascript:`` URLs are never written).
        alt_texts: include the alt text of images.
        headings: ``"plain"`` or ``"markdown"`` (``## Heading``).
        list_bullets: prefix list items with ``•`` (or their number in ordered lists).
        keep_hidden: keep elements hidden with ``hidden``, ``aria-hidden`` or inline ``display:none``.
        column: the column to read when ``docs`` is a DataFrame, Arrow table or dataset.

    Returns:
        One str per page: paragraphs separated by blank lines, valid UTF-8 whatever the input.
    """
    if mode not in _MODES:
        raise ValueError(f"mode: expected one of {_MODES}, got {mode!r}")
    rows = as_str_list(docs, "docs", column)
    return _core.clean.html_to_text(
        rows,
        mode=mode,
        links=bool(links),
        alt_texts=bool(alt_texts),
        headings=headings,
        list_bullets=bool(list_bullets),
        keep_hidden=bool(keep_hidden),
    )
