"""Selectors: the text a stage works on, taken out of records in C++ (``airtune._core.records``).

Every stage takes ``select=``: ``"conversation"`` (every message as ``role: content`` lines, the
default), ``"user"``, ``"assistant"``, ``"system"``, ``"tool"``, ``"text"`` (that role's turns
joined), ``"first_user"``, ``"last_user"``, ``"last_assistant"`` (alias ``"response"``),
``"prompt"`` (everything before the last assistant turn), ``"label"``, ``"id"``,
``"metadata.<key>"`` (a metadata field; dots descend into objects), or a column name for tabular
inputs (DataFrame, Arrow table, HF dataset).

:func:`stage_texts` is the one adapter from whatever a user passes (``Records``, ``list[str]``,
numpy, pandas, Arrow, HF ``datasets``, lists of chat dicts) to the text column a C++ kernel reads.
The text of records never becomes Python strings on the way: the kernels read the column in place.
"""

from __future__ import annotations

import json
from typing import Any

from .. import _core
from .._inputs import as_str_list
from .records import Records

SELECTORS: tuple[str, ...] = (
    "conversation",
    "user",
    "assistant",
    "system",
    "tool",
    "text",
    "first_user",
    "last_user",
    "last_assistant",
    "response",
    "prompt",
    "label",
    "id",
    "metadata.<key>",
)

_MISSING = ("error", "empty")


def is_selector(name: str) -> bool:
    return name in SELECTORS or (name.startswith("metadata.") and len(name) > len("metadata."))


def _tabular_columns(obj: Any) -> list[str] | None:
    module = type(obj).__module__.split(".")[0]
    if module == "pandas" and hasattr(obj, "columns"):
        return [str(c) for c in obj.columns]
    if module == "pyarrow" and hasattr(obj, "column_names"):
        return list(obj.column_names)
    if module == "datasets" and hasattr(obj, "column_names"):
        return list(obj.column_names)
    if isinstance(obj, dict) and obj and all(isinstance(v, list) for v in obj.values()):
        return list(obj)  # a datasets.map(batched=True) batch
    return None


def _structured(rows: list) -> bool:
    first = next((r for r in rows if r is not None), None)
    return isinstance(first, (dict, list, tuple))


def _canonical_json(row: Any) -> str:
    return json.dumps(row, ensure_ascii=False, sort_keys=True, default=str)


def _as_record_dict(row: Any) -> dict | None:
    if isinstance(row, (list, tuple)) and row and all(isinstance(m, dict) for m in row):
        return {("conversations" if "from" in row[0] else "messages"): list(row)}
    if isinstance(row, dict):
        return row
    return None


def _rows_to_records(rows: list, name: str) -> Records | None:
    """Records from structured rows (chat dicts, message lists), or None when some row is no record
    layout (the caller then takes the rows one by one, see :func:`_mixed_texts`)."""
    from .. import ParseError
    from .convert import from_dicts

    dicts = [_as_record_dict(r) for r in rows]
    if any(d is None for d in dicts):
        return None
    try:
        return from_dicts(dicts, source=name)
    except (ParseError, TypeError, ValueError):
        return None


def _mixed_texts(rows: list, name: str) -> list:
    """Texts of a mix of plain strings, conversations and other structured rows: conversations as
    "role: content" lines (the C++ selector), other dicts and lists as canonical JSON."""
    from .convert import from_dicts

    out = list(rows)
    where = [i for i, r in enumerate(rows) if _as_record_dict(r) is not None]
    if where:
        records = from_dicts([_as_record_dict(rows[i]) for i in where], errors="skip", source=name)
        assert records.report is not None  # from_dicts always reports
        bad = {e.line for e in records.report.errors}
        ok = [i for k, i in enumerate(where) if k not in bad]
        texts = _core.records.select_text(records._batch, "conversation").to_list()
        for i, t in zip(ok, texts):
            out[i] = t
        where_ok = set(ok)
    else:
        where_ok = set()
    for i, r in enumerate(rows):
        if i not in where_ok and isinstance(r, (dict, list, tuple)):
            out[i] = _canonical_json(r)
    return out


def as_records(data: Any, name: str = "records") -> Records:
    """``data`` as Records (Records pass through; DataFrames, Arrow, HF datasets and lists of dicts
    are converted)."""
    from .convert import from_any

    if isinstance(data, Records):
        return data
    return from_any(data)


def select_text(
    records: Records, select: str = "conversation", *, stage: str = "", missing: str = "error"
) -> Any:
    """The selected text of every record as a C++ ``TextColumn`` (``len``, ``[i]``, ``to_list()``).

    ``missing="error"`` (default) raises ValueError naming the stage, the selector and the first
    record without the field; ``"empty"`` gives those records an empty text.
    """
    if missing not in _MISSING:
        raise ValueError(f"missing: expected one of {_MISSING}, got {missing!r}")
    col = _core.records.select_text(records._batch, select)
    if col.missing and missing == "error":
        where = f"{stage}: " if stage else ""
        i = int(col.first_missing)
        if col.missing == len(records):
            raise ValueError(
                f"{where}selector {select!r} names no field of any of the {len(records)} records "
                f"(e.g. record {i}, id {records._strings['id'].get(i)!r})"
            )
        raise ValueError(
            f"{where}selector {select!r}: record {i} (id {records._strings['id'].get(i)!r}, line "
            f"{int(records.lines[i])}) has no such field ({col.missing} of {len(records)} records lack it; "
            f"pass missing='empty' to treat them as empty text)"
        )
    return col


def stage_texts(
    data: Any,
    select: str | None = None,
    column: str | None = None,
    *,
    name: str = "texts",
    stage: str = "",
    missing: str = "error",
) -> tuple[Any, Records | None]:
    """(texts, records): the text column a kernel reads, and the records it came from (None for
    plain text inputs). ``select`` and ``column`` are the same knob (``column`` is the older name)."""
    if select is not None and column is not None and select != column:
        raise ValueError(f"{name}: pass select= or column=, not both")
    key = select if select is not None else column
    if isinstance(data, _core.records.TextColumn):
        return data, None
    if isinstance(data, Records):
        return select_text(data, key or "conversation", stage=stage, missing=missing), data
    columns = _tabular_columns(data)
    if columns is not None:
        if key is not None and key in columns and not (key == "messages" and _is_records_layout(columns)):
            return as_str_list(data, name, key), None
        if key is None or is_selector(key):
            if _is_records_layout(columns):
                records = as_records(data if not isinstance(data, dict) else _batch_rows(data), name)
                return select_text(records, key or "conversation", stage=stage, missing=missing), records
            if key is None and "text" in columns:
                return as_str_list(data, name, "text"), None
        raise KeyError(
            f"{name}: {key!r} is neither a column ({', '.join(columns)}) nor a selector of records "
            f"({', '.join(SELECTORS)})"
        )
    rows = as_str_list(data, name)
    if _structured(rows):
        parsed = _rows_to_records(rows, name)
        if parsed is not None:
            return select_text(parsed, key or "conversation", stage=stage, missing=missing), parsed
        return _mixed_texts(rows, name), None
    if key not in (None, "conversation", "text"):
        raise ValueError(f"{name}: select={key!r} needs records; got plain texts")
    return rows, None


_LAYOUT_FIELDS = ("messages", "conversations", "instruction", "prompt")


def _is_records_layout(columns: list[str]) -> bool:
    return any(c in columns for c in _LAYOUT_FIELDS)


def _batch_rows(batch: dict) -> list[dict]:
    keys = list(batch)
    n = len(batch[keys[0]]) if keys else 0
    return [{k: batch[k][i] for k in keys} for i in range(n)]
