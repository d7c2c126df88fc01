"""Parquet outputs of the pipeline (write stage ``output="parquet"``), the same on both engines.

The kept rows go to ``<out>/train/part-NNNNN.parquet`` (and ``test/`` after a split), in input
order, in one fixed schema (``Records.to_arrow``'s columns with every optional message field
present, null where absent), so that every shard has the same schema and
``pyarrow.parquet.read_table("<out>/train")`` reads them as one table; ``airtune.io.from_arrow``
gives back the records. Each shard is written to a temporary name and renamed; the shards are
assembled in a temporary folder that replaces ``train/`` as a whole, and the run's manifest
(written last) lists every shard with its rows, bytes and SHA-256.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .._paths import file_sha256
from ..io import Records

SHARD_ROWS = 100_000  # rows per shard where the engine holds the rows in memory (the local engine)
_OPTIONAL = ("name", "tool_calls", "tool_call_id", "extra")


def _pa() -> Any:
    import pyarrow as pa

    return pa


def schema() -> Any:
    pa = _pa()
    s = pa.large_string()
    message = pa.struct([("role", pa.string()), ("content", s)] + [(k, s) for k in _OPTIONAL])
    return pa.schema(
        [
            ("id", s),
            ("format", pa.string()),
            ("line", pa.int64()),
            ("messages", pa.large_list(message)),
            ("label", s),
            ("metadata", s),
        ]
    )


def table_of(records: Records) -> Any:
    """`records` as a pyarrow Table in the fixed schema."""
    pa = _pa()
    t = records.to_arrow()
    msgs = t.column("messages").combine_chunks()
    struct = msgs.values
    n = len(struct)
    fields = [struct.field("role").cast(pa.string()), struct.field("content").cast(pa.large_string())]
    names = [f.name for f in struct.type]
    for k in _OPTIONAL:
        fields.append(
            struct.field(k).cast(pa.large_string()) if k in names else pa.nulls(n, pa.large_string())
        )
    full = pa.StructArray.from_arrays(fields, names=["role", "content", *_OPTIONAL])
    messages = pa.LargeListArray.from_arrays(msgs.offsets, full)
    cols = {f.name: t.column(f.name).cast(f.type) for f in schema() if f.name != "messages"}
    cols["messages"] = messages
    return pa.table({f.name: cols[f.name] for f in schema()}, schema=schema())


def write_shard(records: Records, path: Path) -> None:
    """One shard, atomically (a temporary name, then a rename)."""
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(table_of(records), tmp, compression="zstd")
    os.replace(tmp, path)


def assemble(shards: Iterable[Path], folder: Path) -> dict[str, Any]:
    """Moves `shards` (in order) into `folder` as part-NNNNN.parquet, replacing what was there;
    returns the folder's manifest entry (rows, bytes and SHA-256 per shard)."""
    import pyarrow.parquet as pq

    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    entries = []
    for i, src in enumerate(shards):
        dst = tmp / f"part-{i:05d}.parquet"
        os.replace(src, dst)
        entries.append(
            {
                "path": f"{folder.name}/{dst.name}",
                "rows": pq.ParquetFile(dst).metadata.num_rows,
                "bytes": dst.stat().st_size,
                "sha256": file_sha256(dst),
            }
        )
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return {
        "path": str(folder),
        "format": "parquet",
        "rows": sum(e["rows"] for e in entries),
        "bytes": sum(e["bytes"] for e in entries),
        "shards": entries,
    }


def write_records(parts: Iterable[Records], folder: Path) -> dict[str, Any]:
    """Records (an iterable of batches, in order) as shards of at most SHARD_ROWS rows in `folder`."""
    staged: list[Path] = []
    stage = folder.with_name(f".{folder.name}.parts-{os.getpid()}")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        for records in parts:
            for start in range(0, len(records), SHARD_ROWS):
                p = stage / f"{len(staged):05d}.parquet"
                write_shard(records.take(np.arange(start, min(len(records), start + SHARD_ROWS))), p)
                staged.append(p)
        return assemble(staged, folder)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def read_records(folder: Path) -> Records:
    """The records of a folder of shards (in order)."""
    import pyarrow.parquet as pq

    from ..io import from_arrow

    files = sorted(folder.glob("part-*.parquet"))
    return from_arrow(pq.read_table(files, schema=schema())) if files else Records()
