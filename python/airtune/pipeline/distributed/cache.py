"""Resume on the Ray engine: the decisions of each global stage (exact, near, semantic) cached in
``<out>/.ray-cache``, keyed as the local engine keys its units (airtune's version, the input, the
options of every stage up to this one), so a rerun with the same input and config skips the
finished global stages and gives byte-identical outputs; changing one stage's options recomputes
it and the global stages after it. The per-row stages (read, clean, quality) always rerun: they
are a pass over the blocks that the global stages and the write need anyway.

The input is identified by each shard's path, size and modification time (the local engine hashes
the bytes of its one file; a hash of a cluster's input would be a full extra read pass).

A unit is ``<pos>-<stage>-<key>/``: ``decisions.parquet`` (row key, stage, reason of every row
dropped so far) and ``done.json`` (details, seconds), written to a temporary folder and renamed,
so a run killed mid-stage leaves no unit.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np


def input_id(paths: list[Path]) -> list[dict[str, Any]]:
    return [{"path": str(p), "bytes": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns} for p in paths]


def unit(cache: Path, position: int, name: str, key: str) -> Path:
    return cache / f"{position:02d}-{name}-{key}"


def load(folder: Path) -> tuple[dict[str, Any], dict[str, Any], float] | None:
    """(decisions, details, seconds) of a finished unit, or None."""
    if not (folder / "done.json").exists():
        return None
    import pyarrow.parquet as pq

    t = pq.read_table(folder / "decisions.parquet")
    done = json.loads((folder / "done.json").read_text())
    decisions = {
        "rows": t.column("rows").to_numpy().astype(np.int64, copy=True),
        "stage": t.column("stage").combine_chunks(),
        "reason": t.column("reason").combine_chunks(),
    }
    return decisions, done["details"], float(done["seconds"])


def save(folder: Path, decisions: dict[str, Any], details: dict[str, Any], seconds: float) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    table = pa.table(
        {"rows": pa.array(decisions["rows"]), "stage": decisions["stage"], "reason": decisions["reason"]}
    )
    pq.write_table(table, tmp / "decisions.parquet")
    (tmp / "done.json").write_text(json.dumps({"details": details, "seconds": seconds}, default=str))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
