"""Records from and to in-memory data: pandas, pyarrow, Hugging Face datasets, lists of dicts.

In-memory rows go through the same C++ parser as files, so the formats, validation and error
messages are identical; errors name the row (0-based). Arrow tables (and DataFrames and HF datasets,
through Arrow) are encoded to JSON column by column in C++ (``io/arrow_in.py``,
``cpp/io/arrow_json.h``): no Python work per row. Lists of dicts are serialised once per row.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .. import ParseError, _core
from .records import Records
from .report import IngestReport, LineError

_CANONICAL_ONLY = ("format", "line")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    raise TypeError(f"value of type {type(obj).__name__} is not JSON serialisable")


def _missing_to_none(row: dict) -> dict:
    """pandas marks missing cells with NaN / NA / NaT; JSON has null."""
    out = {}
    for k, v in row.items():
        if isinstance(v, float) and v != v or type(v).__name__ in ("NAType", "NaTType"):
            v = None
        out[k] = v
    return out


def _drop_nulls(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def _canonical_row(row: dict) -> dict:
    """Undo the JSON-text columns of Records.to_arrow() so a round trip restores the records.

    Text records come back as {"text"}; every other record in the chat layout (same messages).
    """
    source_format = row.get("format")
    row = {k: v for k, v in row.items() if k not in _CANONICAL_ONLY}
    meta = row.pop("metadata", None)
    if isinstance(meta, str):  # the JSON text column of Records.to_arrow()
        meta = json.loads(meta)
    if isinstance(meta, dict) and meta:
        row["metadata"] = meta  # the reader unwraps it (and names a key that is also top-level)
    if row.get("label") is None:
        row.pop("label", None)
    messages = []
    raw_messages = row.get("messages")
    for m in [] if raw_messages is None else raw_messages:
        m = _drop_nulls(dict(m))
        if isinstance(m.get("tool_calls"), str):
            m["tool_calls"] = json.loads(m["tool_calls"])
        extra = m.pop("extra", None)
        if isinstance(extra, str):
            m.update(json.loads(extra))
        if "content" not in m and m.get("role") == "assistant":
            m["content"] = None
        messages.append(m)
    if source_format == "text" and len(messages) == 1:
        row.pop("messages")
        row["text"] = messages[0].get("content")
    elif "messages" in row:
        row["messages"] = messages
    return row


def from_dicts(rows: Any, format: str = "auto", errors: str = "raise", source: str = "rows") -> Records:
    """Records from an iterable of dicts (one record each, in any supported layout).

    ``errors``: ``"raise"`` (ParseError naming the row) or ``"skip"`` (dropped rows listed in
    ``records.report.errors``, where ``line`` is the 0-based row number).
    """
    if errors not in ("raise", "skip"):
        raise ValueError("errors must be 'raise' or 'skip' for in-memory data")
    texts = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise TypeError(f"row {i}: expected a dict, got {type(row).__name__}")
        row = _missing_to_none(row)
        if "messages" in row and ("format" in row or "metadata" in row):
            row = _canonical_row(row)
        texts.append(json.dumps(row, ensure_ascii=False, default=_json_default))
    batch, errs, blank = _core.io.parse_lines(texts, format, source, 0)
    line_errors = [LineError(*e) for e in errs]
    if line_errors and errors == "raise":
        e = line_errors[0]
        exc = ParseError(f"{source}: row {e.line}: {e.reason}")
        exc.source, exc.line, exc.column, exc.reason = source, e.line, e.column, e.reason
        raise exc
    report = IngestReport(
        source=source,
        lines_read=len(texts),
        kept=len(batch),
        rejected=len(line_errors),
        blank=blank,
        errors=line_errors,
    )
    return Records(batch, report=report)


def _is_canonical(columns: list[str]) -> bool:
    return "messages" in columns and ("format" in columns or "metadata" in columns)


def _finish(batch: Any, errs: list, blank: int, n: int, errors: str, source: str) -> Records:
    line_errors = [LineError(*e) for e in errs]
    if line_errors and errors == "raise":
        e = line_errors[0]
        exc = ParseError(f"{source}: row {e.line}: {e.reason}")
        exc.source, exc.line, exc.column, exc.reason = source, e.line, e.column, e.reason
        raise exc
    report = IngestReport(
        source=source,
        lines_read=n,
        kept=len(batch),
        rejected=len(line_errors),
        blank=blank,
        errors=line_errors,
    )
    return Records(batch, report=report)


def _from_table(table: Any, format: str, errors: str, source: str, extra: dict | None = None) -> Records:
    from .arrow_in import table_spec

    if errors not in ("raise", "skip"):
        raise ValueError("errors must be 'raise' or 'skip' for in-memory data")
    spec = table_spec(table, _is_canonical(list(table.column_names) + list(extra or {})), extra)
    batch, errs, blank = _core.records.parse_arrow(spec, format, source, 0)
    return _finish(batch, errs, blank, table.num_rows, errors, source)


def from_pandas(df: Any, format: str = "auto", errors: str = "raise") -> Records:
    """Records from a DataFrame whose columns follow a supported layout (or ``Records.to_pandas()``).

    Columns go through pyarrow (vectorised) and the C++ encoder; a ``metadata`` column of dicts and
    any column pyarrow cannot type (mixed types) are serialised once per column, not per row.
    """
    pa = __import__("pyarrow")
    from .arrow_in import json_column

    extra = {}
    plain = df
    for name in list(df.columns):
        col = df[name]
        if str(name) == "metadata" and col.dtype == object:
            extra["metadata"] = json_column([v if isinstance(v, dict) else None for v in col.tolist()])
            plain = plain.drop(columns=[name])
    try:
        table = pa.Table.from_pandas(plain, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        table = None
    if table is None:  # a column pyarrow cannot type: that column as JSON values
        arrays, names = [], []
        for name in plain.columns:
            try:
                arrays.append(pa.array(plain[name], from_pandas=True))
                names.append(str(name))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
                extra[str(name)] = json_column([_none_if_missing(v) for v in plain[name].tolist()])
        table = (
            pa.table(dict(zip(names, arrays))) if names else pa.table({"_": pa.nulls(len(df))}).drop(["_"])
        )
    if table.num_rows != len(df):  # a DataFrame of only the metadata column
        table = pa.table({"_airtune_rows": pa.nulls(len(df))}).drop(["_airtune_rows"])
    return _from_table(table, format, errors, "dataframe", extra)


def _none_if_missing(v: Any) -> Any:
    if isinstance(v, float) and v != v or type(v).__name__ in ("NAType", "NaTType"):
        return None
    return v


def from_arrow(table: Any, format: str = "auto", errors: str = "raise") -> Records:
    """Records from a pyarrow Table (or RecordBatch) in a supported layout (or ``Records.to_arrow()``),
    encoded column by column in C++ (no per-row Python)."""
    return _from_table(table, format, errors, "arrow")


def from_hf(dataset: Any, format: str = "auto", errors: str = "raise") -> Records:
    """Records from a Hugging Face ``datasets.Dataset`` (its Arrow table, no per-row Python)."""
    return from_arrow(dataset.data.table, format, errors)


def from_any(data: Any, format: str = "auto", errors: str = "raise") -> Records:
    """Records from Records, a DataFrame, an Arrow table, an HF Dataset or an iterable of dicts."""
    if isinstance(data, Records):
        return data
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        return from_pandas(data, format, errors)
    if module == "pyarrow":
        return from_arrow(data, format, errors)
    if module == "datasets":
        return from_hf(data, format, errors)
    return from_dicts(data, format, errors)


def canonicalize(batch: dict[str, list], format: str = "auto", errors: str = "raise") -> dict[str, list]:
    """For ``datasets.Dataset.map(airtune.io.canonicalize, batched=True, remove_columns=...)``.

    Takes a batch (dict of columns) in any supported layout and returns the canonical columns
    ``id``, ``messages`` (list of {role, content}), ``label`` and ``metadata`` (JSON text). With
    ``errors="skip"`` bad rows are dropped, so pass ``remove_columns=dataset.column_names``.
    """
    pa = __import__("pyarrow")
    try:
        records = _from_table(pa.Table.from_pydict(dict(batch)), format, errors, "batch")
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):  # columns pyarrow cannot type
        keys = list(batch)
        n = len(batch[keys[0]]) if keys else 0
        records = from_dicts(
            [{k: batch[k][i] for k in keys} for i in range(n)], format, errors, source="batch"
        )
    table = records.to_arrow()
    return {
        "id": table.column("id").to_pylist(),
        "messages": [
            [{"role": m["role"], "content": m["content"]} for m in msgs]
            for msgs in table.column("messages").to_pylist()
        ],
        "label": table.column("label").to_pylist(),
        "metadata": table.column("metadata").to_pylist(),
    }
