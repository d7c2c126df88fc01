"""Records <-> Arrow blocks: the rows a Ray Dataset carries between the stages of the Ray engine.

A block is a pyarrow Table with every field of the records, losslessly (``format`` and ``role``
as their codes, Alpaca's ``input_at``, the source ``line``), plus three columns of the pipeline:
``_airtune_row`` (the row's global position in input order: ``shard << 40 | line``),
``_airtune_stage`` and ``_airtune_reason`` (null while the row is kept; the stage and reason that
dropped it otherwise). Dropped rows ride along until the end, so every row is accounted for by
the dataset itself.

Both directions work on the Arrow buffers: ``to_block`` wraps the C++ columns without copying,
``from_block`` hands the buffers (rebased where a block is a slice) to C++, which copies each
once (``_core.distributed.batch_from_columns``). No Python object per row either way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import _core
from ...io import Records

ROW, STAGE, REASON = "_airtune_row", "_airtune_stage", "_airtune_reason"
_RECORD_STRINGS = ("id", "label", "metadata")
_MESSAGE_STRINGS = ("content", "name", "tool_calls", "tool_call_id", "extra")
SHARD_SHIFT = 40  # rows of one shard: line < 2^40


def _pa() -> Any:
    import pyarrow as pa

    return pa


def _string_array(buffers: tuple) -> Any:
    pa = _pa()
    data, offsets, valid = buffers
    n = len(offsets) - 1
    validity, nulls = None, 0
    if valid is not None:
        nulls = int(n - np.count_nonzero(valid))
        if nulls:
            validity = pa.py_buffer(np.packbits(valid.astype(bool), bitorder="little"))
    data_buf = pa.py_buffer(data) if len(data) else pa.py_buffer(b"")
    return pa.Array.from_buffers(
        pa.large_string(), n, [validity, pa.py_buffer(offsets), data_buf], null_count=nulls
    )


def block_schema() -> Any:
    pa = _pa()
    s = pa.large_string()
    message = pa.struct([("role", pa.uint8())] + [(k, s) for k in _MESSAGE_STRINGS])
    return pa.schema(
        [
            ("id", s),
            ("format", pa.uint8()),
            ("line", pa.int64()),
            ("input_at", pa.int64()),
            ("label", s),
            ("metadata", s),
            ("messages", pa.large_list(message)),
            (ROW, pa.int64()),
            (STAGE, s),
            (REASON, s),
        ]
    )


def to_block(records: Records, rows: np.ndarray, stage: Any = None, reason: Any = None) -> Any:
    """The block of `records` with global row keys `rows` (int64, one per record); `stage` and
    `reason` (pyarrow string arrays, null where kept) default to all kept."""
    pa = _pa()
    b = records._batch
    cols: dict[str, Any] = b.columns()  # arrays and string buffers by name
    n = len(records)
    if len(rows) != n:
        raise ValueError(f"to_block: {len(rows)} row keys for {n} records")
    fields = [pa.array(cols["role"], type=pa.uint8())] + [_string_array(cols[k]) for k in _MESSAGE_STRINGS]
    struct = pa.StructArray.from_arrays(fields, names=["role", *_MESSAGE_STRINGS])
    messages = pa.LargeListArray.from_arrays(pa.array(cols["message_offsets"], type=pa.int64()), struct)
    null = pa.nulls(n, pa.large_string())
    return pa.Table.from_arrays(
        [
            _string_array(cols["id"]),
            pa.array(cols["format"], type=pa.uint8()),
            pa.array(cols["line"], type=pa.int64()),
            pa.array(_core.distributed.input_at(b), type=pa.int64()),
            _string_array(cols["label"]),
            _string_array(cols["metadata"]),
            messages,
            pa.array(np.asarray(rows, dtype=np.int64)),
            null if stage is None else stage,
            null if reason is None else reason,
        ],
        schema=block_schema(),
    )


def _values(arr: Any, dtype: Any) -> np.ndarray:
    buf = arr.buffers()[1]
    return (
        np.frombuffer(buf, dtype=dtype)[arr.offset : arr.offset + len(arr)]
        if buf is not None
        else np.zeros(0, dtype)
    )


def _validity(arr: Any) -> np.ndarray | None:
    if arr.null_count == 0:
        return None
    bits = np.frombuffer(arr.buffers()[0], dtype=np.uint8)
    return np.unpackbits(bits, bitorder="little")[arr.offset : arr.offset + len(arr)].copy()


def _string_buffers(arr: Any) -> tuple:
    """(data, offsets from 0, valid flags or None) of a large_string array, slices rebased."""
    pa = _pa()
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    n = len(arr)
    b = arr.buffers()
    offsets = (
        np.frombuffer(b[1], dtype=np.int64)[arr.offset : arr.offset + n + 1] if n else np.zeros(1, np.int64)
    )
    data = np.frombuffer(b[2], dtype=np.uint8) if b[2] is not None else np.zeros(0, np.uint8)
    start, end = int(offsets[0]), int(offsets[-1])
    return data[start:end], offsets - start, _validity(arr)


def _single(col: Any) -> Any:
    return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()


def from_block(table: Any) -> tuple[Records, np.ndarray, Any, Any]:
    """(records, row keys, stage, reason) of a block (a pyarrow Table in the block schema)."""
    pa = _pa()
    n = table.num_rows
    if n == 0:
        null = pa.nulls(0, pa.large_string())
        return Records(), np.zeros(0, np.int64), null, null
    msgs = _single(table.column("messages"))
    lo = msgs.offsets  # an Int64Array of n + 1 offsets into msgs.values (the slice applied)
    moff = np.frombuffer(lo.buffers()[1], dtype=np.int64)[lo.offset : lo.offset + n + 1]
    m0, m1 = int(moff[0]), int(moff[-1])
    struct = msgs.values.slice(m0, m1 - m0)
    cols: dict[str, Any] = {
        "line": _values(_single(table.column("line")), np.int64),
        "format": _values(_single(table.column("format")), np.uint8),
        "input_at": _values(_single(table.column("input_at")), np.int64),
        "message_offsets": moff - m0,
        "role": _values(struct.field("role"), np.uint8),
    }
    for k in _RECORD_STRINGS:
        cols[k] = _string_buffers(_single(table.column(k)))
    for k in _MESSAGE_STRINGS:
        cols[k] = _string_buffers(struct.field(k))
    batch = _core.distributed.batch_from_columns(cols)
    rows = _values(_single(table.column(ROW)), np.int64).copy()
    return Records(batch), rows, _single(table.column(STAGE)), _single(table.column(REASON))


def live_mask(stage: Any) -> np.ndarray:
    """True for the rows no stage has dropped."""
    if stage.null_count == 0:
        return np.zeros(len(stage), dtype=bool)
    if stage.null_count == len(stage):
        return np.ones(len(stage), dtype=bool)
    return np.asarray(_validity(stage) == 0)
