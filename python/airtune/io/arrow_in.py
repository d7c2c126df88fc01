"""Arrow arrays described by their buffers for the C++ encoder (``cpp/io/arrow_json.h``): how
tables, DataFrames and HF datasets become records column by column, without a ``json.dumps`` per
row. Primitive columns are viewed in place (no copy); integers and floats of other widths, dates,
times, decimals and dictionary columns are converted by pyarrow's compute kernels first.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._results import require

_CANONICAL_ONLY = ("format", "line")
#: Message fields written only when set (a null is a missing key, as in the source JSON).
_CONTENT = "content"


def _bitmap(buf: Any) -> np.ndarray | None:
    return None if buf is None else np.frombuffer(buf, dtype=np.uint8)


def spec(arr: Any, *, json_columns: frozenset[str] = frozenset(), message_struct: bool = False) -> dict:
    """The buffer description of one pyarrow Array (or ChunkedArray: chunks combined)."""
    pa = require("pyarrow", "data")
    pc = require("pyarrow.compute", "data")
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    t = arr.type
    n = len(arr)
    if pa.types.is_dictionary(t):
        return spec(arr.dictionary_decode(), message_struct=message_struct)
    if pa.types.is_null(t):
        return {"kind": "null", "length": n}
    if pa.types.is_boolean(t):
        b = arr.buffers()
        return {
            "kind": "bool",
            "length": n,
            "offset": arr.offset,
            "validity": _bitmap(b[0]),
            "values": _bitmap(b[1]),
        }
    if pa.types.is_integer(t):
        target = pa.uint64() if pa.types.is_unsigned_integer(t) and t.bit_width == 64 else pa.int64()
        if t != target:
            arr = pc.cast(arr, target)
        b = arr.buffers()
        dtype = np.uint64 if target == pa.uint64() else np.int64
        return {
            "kind": "uint64" if dtype is np.uint64 else "int64",
            "length": n,
            "offset": arr.offset,
            "validity": _bitmap(b[0]),
            "values": np.frombuffer(b[1], dtype=dtype),
        }
    if pa.types.is_floating(t):
        if t != pa.float64():
            arr = pc.cast(arr, pa.float64())
        b = arr.buffers()
        return {
            "kind": "float64",
            "length": n,
            "offset": arr.offset,
            "validity": _bitmap(b[0]),
            "values": np.frombuffer(b[1], dtype=np.float64),
        }
    if pa.types.is_decimal(t):
        return dict(spec(pc.cast(arr, pa.string())), kind="json")  # a decimal is written as a JSON number
    if pa.types.is_temporal(t):  # ISO 8601 text, as json.dumps(default=isoformat) wrote it
        text = pc.cast(arr, pa.string())
        if pa.types.is_timestamp(t):
            text = pc.replace_substring(text, " ", "T", max_replacements=1)
        return spec(text)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        arr = arr.cast(pa.large_string() if pa.types.is_large_binary(t) else pa.string(), safe=False)
        t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        b = arr.buffers()
        off_dtype = np.int64 if pa.types.is_large_string(t) else np.int32
        return {
            "kind": "string",
            "length": n,
            "offset": arr.offset,
            "validity": _bitmap(b[0]),
            "offsets": np.frombuffer(b[1], dtype=off_dtype),
            "data": np.frombuffer(b[2], dtype=np.uint8) if b[2] is not None else np.zeros(1, np.uint8),
        }
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        b = arr.buffers()
        off_dtype = np.int64 if pa.types.is_large_list(t) else np.int32
        child = spec(arr.values, message_struct=message_struct)
        return {
            "kind": "list",
            "length": n,
            "offset": arr.offset,
            "validity": _bitmap(b[0]),
            "offsets": np.frombuffer(b[1], dtype=off_dtype),
            "children": [child],
        }
    if pa.types.is_struct(t):
        names = [t.field(i).name for i in range(t.num_fields)]
        children = [spec(c, message_struct=False) for c in arr.flatten()]
        modes = []
        for name, child in zip(names, children):
            if message_struct:
                if name in ("tool_calls", "extra") and child["kind"] == "string":
                    child["kind"] = "json"  # Records.to_arrow() keeps these as JSON text
                modes.append("splice" if name == "extra" else ("value" if name == _CONTENT else "skip_null"))
            else:
                modes.append("value")
        validity = _bitmap(arr.buffers()[0])
        return {
            "kind": "struct",
            "length": n,
            "offset": arr.offset,
            "validity": validity,
            "children": children,
            "names": names,
            "modes": modes,
        }
    raise TypeError(f"column of type {t} cannot become part of a record (convert it first)")


def json_column(values: list) -> dict:
    """A raw-JSON column from Python values: one json.dumps for the whole column, split in C++."""
    import json

    from .. import _core
    from .convert import _json_default

    col = _core.records.json_array_elements(json.dumps(values, ensure_ascii=False, default=_json_default))
    data, offsets, _ = col.buffers()
    return {
        "kind": "json",
        "length": len(col),
        "offsets": offsets,
        "data": data if len(data) else np.zeros(1, np.uint8),
        "_keep": col,
    }


def table_spec(table: Any, canonical: bool, extra: dict[str, dict] | None = None) -> dict:
    """The buffer description of a pyarrow Table (or RecordBatch) as a struct of its columns.

    ``canonical``: the table is ``Records.to_arrow()`` (or its pandas/HF round trip): format and line
    are dropped, messages' null fields are missing keys, ``extra`` is spliced back into its message,
    the metadata JSON text is unwrapped, and text records come back as ``{"text": ...}``.
    ``extra``: prepared columns (e.g. :func:`json_column`) by name, in place of the table's.
    """
    pa = require("pyarrow", "data")
    pc = require("pyarrow.compute", "data")
    extra = dict(extra or {})
    names, children, modes = [], [], []
    columns = {name: table.column(name) for name in table.column_names}
    if canonical:
        fmt = columns.pop("format", None)
        columns.pop("line", None)
        if fmt is not None and "messages" in columns:
            is_text = pc.fill_null(pc.equal(fmt, "text"), False)
            if pc.any(is_text).as_py():
                first = pc.list_element(columns["messages"], 0)
                text = (
                    pc.struct_field(first, "content")
                    if hasattr(pc, "struct_field")
                    else first.field("content")
                )
                columns["text"] = pc.if_else(is_text, text, pa.scalar(None, text.type))
                columns["messages"] = pc.if_else(
                    is_text, pa.scalar(None, columns["messages"].type), columns["messages"]
                )
    for name, col in columns.items():
        if name in extra:
            s = extra.pop(name)
        else:
            s = spec(col, message_struct=(name == "messages"))
        if canonical and name == "metadata" and s["kind"] == "string":
            s["kind"] = "json"
        names.append(name)
        children.append(s)
        skip = name == "metadata" or (canonical and name in ("label", "text", "messages", "id"))
        modes.append("skip_null" if skip else "value")
    for name, s in extra.items():
        names.append(name)
        children.append(s)
        modes.append("skip_null")
    return {"kind": "struct", "length": table.num_rows, "children": children, "names": names, "modes": modes}
