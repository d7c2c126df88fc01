"""Structured outputs: JSON validity against required keys and types; length statistics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._core import metrics as _m
from .._inputs import as_str_list
from ._result import MetricResult, _named_rows

_JSON_TYPES = {
    0: None,
    1: "object",
    2: "array",
    3: "string",
    4: "integer",
    5: "number",
    6: "boolean",
    7: "null",
}


_REASONS = {0: "ok", 1: "missing key", 2: "wrong type", 3: "not an object", 4: "invalid JSON"}


def json_validity(outputs: Any, *, required: dict[str, str] | Sequence[str] | None = None) -> MetricResult:
    """Strict and lenient JSON validity (simdjson) and required top-level keys with types.

    Strict: the whole output is one RFC 8259 document (NaN/Infinity rejected). Lenient: after
    removing a ``` fence or taking the first balanced {...}/[...]. ``required``: a list of keys or a
    dict key -> type ("string", "number", "integer", "boolean", "object", "array", "null", "any").
    Score: share of outputs that parse (leniently) and satisfy ``required``.
    """
    texts = [("" if x is None else x) for x in as_str_list(outputs, "outputs")]
    if required is None:
        keys: list[tuple[str, str]] = []
    elif isinstance(required, dict):
        keys = [(k, v) for k, v in required.items()]
    else:
        keys = [(k, "any") for k in required]
    with _named_rows(outputs=texts):
        r = _m.json_validity(texts, keys)
    status, reason, bad = r.status, r.reason, r.bad_key
    ok = ((status < 2) & (reason == 0)).astype(np.float64)
    problems = [
        ""
        if reason[i] == 0
        else _REASONS[int(reason[i])] + (f": {keys[bad[i]][0]!r}" if reason[i] in (1, 2) else "")
        for i in range(len(texts))
    ]
    details = {
        "strict_rate": float((status == 0).mean()) if texts else 0.0,
        "lenient_rate": float((status < 2).mean()) if texts else 0.0,
        "schema_rate": float(ok.mean()) if texts else 0.0,
    }
    res = MetricResult(
        "json_valid", details["schema_rate"], ok, ok.reshape(-1, 1), "mean", {"column": 0}, details=details
    )
    res.columns = {
        "status": np.array(["strict", "lenient", "invalid"])[status],
        "problem": problems,
        "top_type": [_JSON_TYPES[int(x)] for x in r.top_type],
    }
    return res


def length_stats(texts: Any) -> MetricResult:
    """Per-item bytes, characters (code points) and words; score = mean words; details: summaries."""
    t = [("" if x is None else x) for x in as_str_list(texts, "texts")]
    with _named_rows(texts=t):
        s = _m.length_stats(t)
    words = s[:, 2].astype(np.float64)
    details = {}
    for j, name in enumerate(("bytes", "chars", "words")):
        col = s[:, j]
        details[name] = {
            "mean": float(col.mean()) if len(t) else 0.0,
            "median": float(np.median(col)) if len(t) else 0.0,
            "p95": float(np.percentile(col, 95)) if len(t) else 0.0,
            "max": int(col.max(initial=0)),
        }
    res = MetricResult(
        "words",
        float(words.mean()) if len(t) else 0.0,
        words,
        words.reshape(-1, 1),
        "mean",
        {"column": 0},
        details=details,
    )
    res.columns = {"bytes": s[:, 0], "chars": s[:, 1]}
    return res
