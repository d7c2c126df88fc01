"""Label normalisation for classification tasks: the answer a model wrote -> the label it meant.

An LLM answers "**Positive**", "positive.", "<p>Positive</p>" or "```\\nPositive\\n```" for the
label "Positive". :class:`LabelNormalizer` folds such variants to one key; the classification
metrics map answers to the allowed label with the same key and count the rest as invalid.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

_FENCE = re.compile(r"^\s*```[^\n]*\n?|\n?```\s*$")
_TAG = re.compile(r"<[^<>]{0,200}>")
_EDGE_MARKS = re.compile(r"^[\s*_`~#>\-]+|[\s*_`~]+$")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class LabelNormalizer:
    """Callable text -> key. Each step can be turned off.

    ``markup``: drop a ``` fence, HTML tags (entities decoded) and markdown emphasis, heading and
    list marks at the edges. ``unicode``: NFKC. ``case``: ``str.casefold``. ``punctuation``: every
    Unicode punctuation character (category P*) becomes a space. ``whitespace``: runs of
    whitespace become one space, ends stripped.
    """

    markup: bool = True
    unicode: bool = True
    case: bool = True
    punctuation: bool = True
    whitespace: bool = True

    def __call__(self, text: Any) -> str:
        s = "" if text is None else str(text)
        if self.markup:
            s = _FENCE.sub("", s)
            s = html.unescape(_TAG.sub(" ", s))
            s = _EDGE_MARKS.sub("", s)
        if self.unicode:
            s = unicodedata.normalize("NFKC", s)
        if self.case:
            s = s.casefold()
        if self.punctuation:
            s = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in s)
        if self.whitespace:
            s = _SPACE.sub(" ", s).strip()
        return s


def as_normalizer(normalize: bool | Callable[[Any], str] | None) -> Callable[[Any], str] | None:
    """None/False: no normalisation; True: the default :class:`LabelNormalizer`; a callable as is."""
    if normalize is None or normalize is False:
        return None
    if normalize is True:
        return LabelNormalizer()
    if callable(normalize):
        return normalize
    raise TypeError("normalize: expected True/False, a LabelNormalizer or a callable text -> key")


def label_index(
    labels: Iterable[Any], normalize: Callable[[Any], str], what: str = "labels"
) -> dict[str, Any]:
    """key -> label for the allowed labels; two labels with one key are an error naming both."""
    index: dict[str, Any] = {}
    for lab in labels:
        key = normalize(lab)
        if key in index and index[key] != lab:
            raise ValueError(
                f"{what}: {index[key]!r} and {lab!r} normalise to the same key {key!r}; "
                "pass normalize=False or a LabelNormalizer that keeps them apart"
            )
        index.setdefault(key, lab)
    return index


def map_labels(values: Sequence[Any], index: dict[str, Any], normalize: Callable[[Any], str]) -> list[Any]:
    """Each value's allowed label, or None when it normalises to no allowed label (distinct values
    are normalised once)."""
    keys = {
        v: normalize(v) for v in dict.fromkeys(v if v is None or _hashable(v) else str(v) for v in values)
    }
    return [index.get(keys[v if v is None or _hashable(v) else str(v)]) for v in values]


def _hashable(v: Any) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True
