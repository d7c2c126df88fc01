"""Reading the input on the cluster: shards, byte ranges and the read tasks.

The input is one file or a folder (or list) of shards: JSONL (plain or gzip) or Parquet, not
mixed. Every shard is checked before any work starts: a missing, empty or unreadable shard, or
shards of different formats, is an error naming the shard. A plain JSONL file is cut into byte
ranges at line starts; the lines before each range are counted by parallel tasks, so every
record keeps the line number (and default id ``<file>:<line>``) it has when the whole file is
read on one machine. Gzip files are one range each (they cannot be split); Parquet shards one
range per row group. A record's global row key is ``shard << 40 | line``: input order.

Each read task writes its accounting (lines read, kept, rejected, blank) and its quarantined
lines to the run's work folder atomically, under names that depend only on the range, so a
retried task rewrites the same files.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .blocks import SHARD_SHIFT, to_block
from .faults import fault_point, node

_JSONL, _GZIP, _PARQUET = "jsonl", "jsonl.gz", "parquet"
_SUFFIXES = (".jsonl", ".json", ".ndjson", ".gz", ".parquet", ".pq")


@dataclass(frozen=True)
class Range:
    """One read task: `path`'s bytes [start, end) (end -1: to the end), numbered from first_line;
    for Parquet, row group `group` whose first row is first_line."""

    shard: int
    path: str
    kind: str
    start: int = 0
    end: int = -1
    first_line: int = 1
    group: int = -1

    @property
    def name(self) -> str:
        return f"{self.shard:05d}-{self.start:015d}-{max(self.group, 0):05d}"

    def where(self) -> str:
        if self.kind == _PARQUET:
            return f"shard {self.path} (row group {self.group})"
        if self.start or self.end >= 0:
            return f"shard {self.path} (bytes {self.start}-{self.end if self.end >= 0 else 'end'})"
        return f"shard {self.path}"


def _kind(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:4] == b"PAR1":
        return _PARQUET
    if head[:2] == b"\x1f\x8b":
        return _GZIP
    return _JSONL


def shards_of(source: Any) -> list[Path]:
    """The shards of `source` (a file, a folder of shards, or a list of files), in order."""
    if isinstance(source, (list, tuple)):
        paths = [Path(p) for p in source]
        if not paths:
            raise ValueError("read: an empty list of shards")
    else:
        p = Path(source)
        if not p.exists():
            raise FileNotFoundError(f"read: {p}: no such file or folder")
        if p.is_dir():
            paths = sorted(
                q
                for q in p.iterdir()
                if q.is_file() and not q.name.startswith(".") and q.name.endswith(_SUFFIXES)
            )
            if not paths:
                raise ValueError(f"read: {p} holds no shards (*.jsonl, *.jsonl.gz, *.parquet)")
        else:
            paths = [p]
    for q in paths:
        if not q.exists():
            raise FileNotFoundError(f"read: shard {q}: no such file")
        if q.is_dir():
            raise IsADirectoryError(f"read: shard {q} is a folder, expected a file")
        if q.stat().st_size == 0:
            raise ValueError(f"read: shard {q} is empty (no records); remove it or give it records")
    return paths


def plan(paths: list[Path], block_bytes: int, blocks: int | None) -> list[Range]:
    """The read ranges of the shards (line numbers still to be counted, see count_lines)."""
    kinds = [_kind(p) for p in paths]
    family = {_JSONL: "JSONL", _GZIP: "JSONL", _PARQUET: "Parquet"}
    first = family[kinds[0]]
    for p, k in zip(paths, kinds):
        if family[k] != first:
            raise ValueError(
                f"read: shards of different formats: {paths[0]} is {first}, {p} is {family[k]} "
                "(give one format per run)"
            )
    if len(paths) >= 1 << (63 - SHARD_SHIFT):
        raise ValueError(f"read: at most {1 << (63 - SHARD_SHIFT)} shards")
    total = sum(p.stat().st_size for p in paths)
    target = max(1 << 16, total // blocks if blocks else block_bytes)
    out: list[Range] = []
    for i, (p, k) in enumerate(zip(paths, kinds)):
        if k == _PARQUET:
            import pyarrow.parquet as pq

            try:
                meta = pq.ParquetFile(p).metadata
            except Exception as exc:  # noqa: BLE001 - pyarrow raises several types
                raise ValueError(f"read: shard {p} is not a readable Parquet file: {exc}") from None
            if meta.num_rows == 0:
                raise ValueError(f"read: shard {p} is empty (a Parquet file with no rows)")
            row = 1
            for g in range(meta.num_row_groups):
                out.append(Range(i, str(p), k, 0, -1, row, g))
                row += meta.row_group(g).num_rows
        elif k == _GZIP:
            out.append(Range(i, str(p), k))
        else:
            size = p.stat().st_size
            cuts = [0]
            with open(p, "rb") as f:
                for pos in range(target, size, target):
                    if pos <= cuts[-1]:
                        continue
                    f.seek(pos - 1)
                    chunk = f.read(1 << 20)
                    while chunk:  # the next line start at or after pos
                        j = chunk.find(b"\n")
                        if j >= 0:
                            start = f.tell() - len(chunk) + j + 1
                            if cuts[-1] < start < size:
                                cuts.append(start)
                            break
                        chunk = f.read(1 << 20)
            for a, b in zip(cuts, cuts[1:] + [size]):
                out.append(Range(i, str(p), k, a, b if b < size else -1))
    return out


def _newlines(path: str, start: int, end: int) -> int:
    n = 0
    with open(path, "rb") as f:
        f.seek(start)
        left = end - start
        while left > 0:
            chunk = f.read(min(left, 8 << 20))
            if not chunk:
                break
            n += chunk.count(b"\n")
            left -= len(chunk)
    return n


def count_lines(ranges: list[Range]) -> list[Range]:
    """Sets first_line of every byte range (parallel newline counts of the ranges before it)."""
    import ray

    count = ray.remote(_newlines)
    todo = [(k, r) for k, r in enumerate(ranges) if r.kind == _JSONL and r.end >= 0]
    counts = dict(zip([k for k, _ in todo], ray.get([count.remote(r.path, r.start, r.end) for _, r in todo])))
    out, line, shard = [], 1, -1
    for k, r in enumerate(ranges):
        if r.shard != shard:
            shard, line = r.shard, 1
        if r.kind == _JSONL:
            out.append(Range(r.shard, r.path, r.kind, r.start, r.end, line))
            line += counts.get(k, 0)
        else:
            out.append(r)
    return out


# ----------------------------------------------------------------------------------------------
# the read task


def read_range(batch: Any, options: dict[str, Any], work: str, faults: str | None) -> Any:
    """Ray Data map_batches over the plan (one Range per batch): the Range's records as a block."""
    import pyarrow as pa

    blocks = []
    for item in batch.to_pylist():
        r = Range(**json.loads(item["range"]))
        try:
            fault_point(faults, "read")
            records, counts = _read(r, options, work)
        except MemoryError as exc:
            raise MemoryError(f"read: {r.where()} ran out of memory on node {node()}: {exc}") from None
        except (OSError, ValueError) as exc:
            raise type(exc)(f"read: {r.where()} on node {node()}: {exc}") from None
        _write_json(Path(work) / "read" / f"{r.name}.json", counts)
        rows = (np.int64(r.shard) << np.int64(SHARD_SHIFT)) | np.asarray(records.lines, dtype=np.int64)
        blocks.append(to_block(records, rows))
    return pa.concat_tables(blocks) if len(blocks) != 1 else blocks[0]


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(exist_ok=True)  # not parents: never recreate a removed work folder
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)


def _read(r: Range, o: dict[str, Any], work: str) -> tuple[Any, dict[str, Any]]:
    from ...io import Records
    from ...io.jsonl import JsonlStream

    qdir = Path(work) / "quarantine"
    qdir.mkdir(exist_ok=True)
    if r.kind == _PARQUET:
        return _read_parquet(r, o, qdir)
    qpath = str(qdir / f"{r.name}.jsonl") if o["errors"] == "quarantine" else None
    stream = JsonlStream(
        r.path,
        o["format"],
        o["errors"],
        qpath,
        batch_bytes=o["batch_bytes"],
        max_line_bytes=o["max_line_bytes"],
        progress=False,
        max_bytes=(r.end - r.start) if r.end >= 0 else None,
        start_offset=r.start,
        first_line=r.first_line,
    )
    records = stream.read_all()
    rep = stream.report
    counts = {
        "range": asdict(r),
        "lines_read": rep.lines_read,
        "kept": rep.kept,
        "rejected": rep.rejected,
        "blank": rep.blank,
        "bytes": rep.bytes,
        "errors": [e.__dict__ for e in rep.errors[:20]],
        "quarantine": qpath if rep.rejected else None,
    }
    return Records(records._batch), counts


def _read_parquet(r: Range, o: dict[str, Any], qdir: Path) -> tuple[Any, dict[str, Any]]:
    import pyarrow.parquet as pq

    from ... import _core
    from ...io import Records
    from ...io.arrow_in import table_spec
    from ...io.convert import _is_canonical

    table = pq.ParquetFile(r.path).read_row_group(r.group)
    spec = table_spec(table, _is_canonical(list(table.column_names)))
    batch, errs, blank = _core.records.parse_arrow(spec, o["format"], os.path.basename(r.path), r.first_line)
    if errs and o["errors"] == "raise":
        line, _col, field, reason = errs[0][:4]
        raise ValueError(f"row {line}: {reason}" + (f" (field {field})" if field else ""))
    qpath = None
    if errs and o["errors"] == "quarantine":
        qpath = str(qdir / f"{r.name}.jsonl")
        with open(qpath + ".reasons.jsonl", "w", encoding="utf-8") as f:
            for e in errs:
                f.write(json.dumps({"line": e[0], "column": e[1], "field": e[2], "reason": e[3]}) + "\n")
        Path(qpath).write_text("")  # the rows themselves are in the Parquet shard, at these rows
    counts = {
        "range": asdict(r),
        "lines_read": table.num_rows,
        "kept": len(batch),
        "rejected": len(errs),
        "blank": int(blank),
        "bytes": 0,
        "errors": [{"line": e[0], "column": e[1], "field": e[2], "reason": e[3]} for e in errs[:20]],
        "quarantine": qpath,
    }
    return Records(batch), counts


def plan_table(ranges: list[Range]) -> list[dict[str, str]]:
    return [{"range": json.dumps(asdict(r))} for r in ranges]
