"""The per-row stages on Ray Data blocks, and the decisions of the global stages applied to them.

Each function is the body of a ``map_batches(..., batch_format="pyarrow", zero_copy_batch=True)``:
the block's Arrow buffers become records in C++ (blocks.from_block), the stage runs on the rows
still alive with the same code as the local engine (``run._clean_rows``, ``run._quality``), and
the rows it drops get their stage and reason in the block. Each block's details (clean counts,
quality rule counts) are written to the work folder under the block's first and last row, so a
retried task rewrites the same file.

Decisions: the rows a global stage (exact, near, semantic) dropped, as sorted row keys with
their stage and reason (pyarrow arrays), shared through the object store.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .blocks import from_block, live_mask, to_block
from .faults import block_span, fault_point, named


def _pa() -> Any:
    import pyarrow as pa

    return pa


def empty_decisions() -> dict[str, Any]:
    pa = _pa()
    return {
        "rows": np.zeros(0, np.int64),
        "stage": pa.array([], pa.large_string()),
        "reason": pa.array([], pa.large_string()),
    }


def merge_decisions(old: dict[str, Any], rows: np.ndarray, stage: str, reasons: list[str]) -> dict[str, Any]:
    pa = _pa()
    all_rows = np.concatenate([old["rows"], np.asarray(rows, dtype=np.int64)])
    st = pa.concat_arrays([old["stage"], pa.array([stage] * len(rows), pa.large_string())])
    re = pa.concat_arrays([old["reason"], pa.array(list(reasons), pa.large_string())])
    order = np.argsort(all_rows, kind="stable")
    if len(order) > 1 and np.any(all_rows[order][1:] == all_rows[order][:-1]):
        raise AssertionError("a row was dropped by two stages")
    idx = pa.array(order)
    return {"rows": all_rows[order], "stage": st.take(idx), "reason": re.take(idx)}


def decided(rows: np.ndarray, decisions: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(hit mask, position in decisions) of block rows."""
    d = decisions["rows"]
    if not len(d):
        return np.zeros(len(rows), dtype=bool), np.zeros(len(rows), dtype=np.int64)
    pos = np.minimum(np.searchsorted(d, rows), len(d) - 1)
    return d[pos] == rows, pos


def alive(rows: np.ndarray, stage: Any, decisions: dict[str, Any]) -> np.ndarray:
    """Rows that neither a per-row stage nor a decision dropped."""
    hit, _ = decided(rows, decisions)
    return live_mask(stage) & ~hit


def apply_decisions(block: Any, decisions: dict[str, Any]) -> Any:
    """The block with the decided rows marked dropped (stage and reason set)."""
    import pyarrow.compute as pc

    pa = _pa()
    from .blocks import REASON, ROW, STAGE

    rows = block.column(ROW).to_numpy()
    hit, pos = decided(rows, decisions)
    hit &= live_mask(block.column(STAGE).combine_chunks())
    if not hit.any():
        return block
    mask = pa.array(hit)
    idx = pa.array(pos)
    stage = pc.if_else(mask, decisions["stage"].take(idx), block.column(STAGE).combine_chunks())
    reason = pc.if_else(mask, decisions["reason"].take(idx), block.column(REASON).combine_chunks())
    block = block.set_column(block.schema.get_field_index(STAGE), STAGE, stage)
    return block.set_column(block.schema.get_field_index(REASON), REASON, reason)


def _write_details(work: str, stage: str, rows: np.ndarray, details: dict[str, Any]) -> None:
    if not len(rows):
        return
    path = Path(work) / "details" / f"{stage}-{int(rows[0]):019d}-{int(rows[-1]):019d}.json"
    path.parent.mkdir(exist_ok=True)  # not parents: never recreate a removed work folder
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps({"first": int(rows[0]), "last": int(rows[-1]), "rows": len(rows), **details}))
    os.replace(tmp, path)


def row_stage(
    block: Any, name: str, options: dict[str, Any], decisions: dict[str, Any], work: str, faults: str | None
) -> Any:
    """map_batches body of the per-row stage `name` (clean or quality) over one block."""
    with named(name, block_span(block)):
        return _row_stage(block, name, options, decisions, work, faults)


def _row_stage(
    block: Any, name: str, options: dict[str, Any], decisions: dict[str, Any], work: str, faults: str | None
) -> Any:
    from ..run import _clean_rows, _quality

    fault_point(faults, name)
    block = apply_decisions(block, decisions)
    records, rows, stage, reason = from_block(block)
    live = live_mask(stage)
    idx = np.flatnonzero(live)
    sub = records.take(idx)
    details: dict[str, Any] = {}
    if name == "clean":
        current, keep, why, d = _clean_rows(sub, options)
        details = {"changed": d["changed"], "removed": d["removed"]}
        if len(idx) < len(records):  # rewritten live rows back in place among the dropped ones
            from ...io import Records

            dead = np.flatnonzero(~live)
            both = Records.concat([current, records.take(dead)])
            order = np.argsort(np.concatenate([idx, dead]), kind="stable")
            records = both.take(order)
        else:
            records = current
    elif name == "quality":
        from ... import clean

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", clean.HeavyFilterWarning)
            _, _, res = _quality(sub, options)
        keep, why = res.keep, res.reason
        details = {"rules": res.rules(), "dropped": int((~keep).sum())}
    else:  # pragma: no cover - the engine sends only per-row stages here
        raise AssertionError(name)
    _write_details(work, name, rows[idx], details)
    pa = _pa()
    drop = idx[~np.asarray(keep, dtype=bool)]
    if len(drop):
        new_stage = np.full(len(rows), None, dtype=object)
        new_reason = np.full(len(rows), None, dtype=object)
        new_stage[drop] = name
        new_reason[drop] = [why[i] for i in np.flatnonzero(~np.asarray(keep, dtype=bool)).tolist()]
        import pyarrow.compute as pc

        mask = pa.array(np.isin(np.arange(len(rows)), drop))
        stage = pc.if_else(mask, pa.array(new_stage, pa.large_string()), stage)
        reason = pc.if_else(mask, pa.array(new_reason, pa.large_string()), reason)
    return to_block(records, rows, stage, reason)
