"""A hash shuffle over Ray tasks for the keys of the global stages.

``map_reduce(inputs, mapper, reducer, parts)``: one map task per input (a block's ObjectRef) returns
a small summary and ``parts`` partitions (dicts of numpy columns; a ragged column is a
``(data, offsets)`` pair) as separate objects (``num_returns``), so reducer p fetches only its
partition of every mapper's output. Only keys move (hashes, row numbers, band keys, shingle sets,
vectors), never whole records. Every task is a plain Ray task: a task whose worker dies is
retried by Ray, and lost objects are rebuilt from their lineage, so a killed worker changes
nothing in the result. Partition contents are sorted by the reducers, so results do not depend on
the order in which mapper outputs arrive.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Columns = dict[str, Any]


def mix(keys: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser of uint64 keys (a well-spread partition hash)."""
    z = keys.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        z ^= z >> np.uint64(30)
        z *= np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27)
        z *= np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return z


def partition_of(keys: np.ndarray, parts: int) -> np.ndarray:
    return (mix(keys.view(np.uint64) if keys.dtype == np.int64 else keys) % np.uint64(parts)).astype(np.int64)


def ragged_take(data: np.ndarray, offsets: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows `idx` of a ragged column, as a new (data, offsets)."""
    lens = offsets[idx + 1] - offsets[idx]
    new = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(lens, out=new[1:])
    pos = np.repeat(offsets[idx] - new[:-1], lens) + np.arange(int(new[-1]), dtype=np.int64)
    return data[pos], new


def take(columns: Columns, idx: np.ndarray) -> Columns:
    out: Columns = {}
    for k, v in columns.items():
        out[k] = ragged_take(v[0], v[1], idx) if isinstance(v, tuple) else v[idx]
    return out


def concat(parts: Sequence[Columns]) -> Columns:
    parts = [p for p in parts if p]
    if not parts:
        return {}
    # parts without rows add nothing (and may lack a shape: a block with no live rows has no vectors)
    parts = [p for p in parts if rows_of(p)] or parts[:1]
    out: Columns = {}
    for k, v in parts[0].items():
        if isinstance(v, tuple):
            datas = [p[k][0] for p in parts]
            offs, base = [np.zeros(1, np.int64)], 0
            for p in parts:
                o = p[k][1]
                offs.append(o[1:] + base)
                base += int(o[-1])
            out[k] = (np.concatenate(datas), np.concatenate(offs))
        else:
            out[k] = np.concatenate([p[k] for p in parts])
    return out


def rows_of(columns: Columns) -> int:
    for v in columns.values():
        return len(v[1]) - 1 if isinstance(v, tuple) else len(v)
    return 0


def split(columns: Columns, part: np.ndarray, parts: int) -> list[Columns]:
    """The rows of `columns` by partition (stable within a partition)."""
    order = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[order], np.arange(parts + 1))
    return [take(columns, order[bounds[p] : bounds[p + 1]]) for p in range(parts)]


def _ray() -> Any:
    import ray

    return ray


def map_reduce(
    inputs: Sequence[Any],
    mapper: Callable[..., tuple[Any, list[Columns]]],
    reducer: Callable[..., Any],
    parts: int,
    *,
    map_args: tuple = (),
    reduce_args: Callable[[list[Any]], tuple] | tuple = (),
    fetch: bool = True,
) -> tuple[list[Any], list[Any]]:
    """Runs ``mapper(input, *map_args) -> (summary, [parts partitions])`` on every input (a value
    or an ObjectRef, resolved by Ray), then ``reducer(p, *reduce_args, partition)`` for every
    partition p (the partitions of all mappers concatenated in mapper order); returns (summaries,
    reducer results), both in order: values, or ObjectRefs with ``fetch=False`` (to feed another
    shuffle without passing through the driver). ``reduce_args`` may be a function of the
    summaries."""
    ray = _ray()
    map_task = ray.remote(_map_task).options(num_returns=parts + 1)
    outs = [map_task.remote(mapper, parts, x, *map_args) for x in inputs]
    summaries = ray.get([o[0] for o in outs])
    extra = reduce_args(summaries) if callable(reduce_args) else reduce_args
    reduce_task = ray.remote(_reduce_task)
    results = [reduce_task.remote(reducer, p, extra, *[o[p + 1] for o in outs]) for p in range(parts)]
    return summaries, (ray.get(results) if fetch else results)


def _map_task(mapper: Callable, parts: int, x: Any, *args: Any) -> tuple:
    summary, partitions = mapper(x, *args)
    if len(partitions) != parts:
        raise AssertionError(f"mapper returned {len(partitions)} partitions, expected {parts}")
    return (summary, *partitions)


def _reduce_task(reducer: Callable, p: int, extra: tuple, *partitions: Columns) -> Any:
    from .faults import named

    with named(reducer.__name__.strip("_").replace("_", " "), f"partition {p}"):
        return reducer(p, *extra, concat(partitions))
