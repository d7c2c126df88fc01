"""Predictions from models: callables run in a thread pool with retries, through the cache (keyed by
the model's identity, :mod:`airtune.evaluate.identity`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._results import progress
from .cache import PredictionCache
from .identity import model_identity


def _run_model(
    name: str,
    fn: Callable[[Any], Any],
    inputs: list,
    cache: PredictionCache | None,
    params: str,
    max_workers: int,
    retries: int,
    show: bool,
    *,
    identity: str | None = None,
) -> tuple[list[str], int]:
    """A callable's answers for ``inputs`` (cached ones read first, the others stored as they come)
    and the number of cache hits. ``identity``: the cache key of the model (default: derived from
    ``fn`` and ``name`` by :func:`~airtune.evaluate.identity.model_identity`)."""
    if cache is not None and identity is None:
        identity = model_identity(fn, name)
    outputs: list[Any] = [None] * len(inputs)
    todo = []
    for i, inp in enumerate(inputs):
        hit = cache.get(identity, inp, params) if cache is not None and identity is not None else None
        if hit is not None:
            outputs[i] = hit
        else:
            todo.append(i)

    def call(i: int) -> tuple[int, str]:
        last: Exception | None = None
        for attempt in range(retries + 1):
            try:
                out = fn(inputs[i])
                return i, "" if out is None else str(out)
            except Exception as exc:  # a model API can fail transiently: retry, then report the row
                last = exc
                time.sleep(min(0.05 * 2**attempt, 1.0))
        raise RuntimeError(f"model {name!r} failed on row {i} after {retries + 1} attempts: {last}") from last

    if todo:
        with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
            for i, out in progress(pool.map(call, todo), total=len(todo), desc=name, enabled=show):
                outputs[i] = out
                if cache is not None and identity is not None:
                    cache.put(identity, inputs[i], out, params)
    return outputs, len(inputs) - len(todo)
