"""A plain callable over a few inputs, concurrently, through the prediction cache, with the rows that
still fail after their retries counted instead of raised: what judges and the playground need.

(Model predictions go through ``evaluate/predict.py``, which raises for a failed row instead.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._results import progress
from .cache import PredictionCache
from .identity import model_identity


def call_all(
    name: str,
    fn: Callable[[Any], Any],
    inputs: list,
    *,
    cache: PredictionCache | None = None,
    params: str = "",
    max_workers: int = 4,
    retries: int = 2,
    show: bool = False,
) -> tuple[list[str | None], dict[int, str]]:
    """(outputs, failures): ``outputs[i]`` is ``fn(inputs[i])`` as text, or None where it raised on
    every attempt (``failures`` row -> message). Answers are cached by (name, input, params) as they
    arrive, under the callable's identity (:func:`~airtune.evaluate.identity.model_identity`: an
    edited or broken function never reads the answers of the old one); failures are not cached, so a
    rerun retries them."""
    key = model_identity(fn, name) if cache is not None else name
    outputs: list[str | None] = [None] * len(inputs)
    todo = []
    for i, inp in enumerate(inputs):
        hit = cache.get(key, inp, params) if cache is not None else None
        if hit is not None:
            outputs[i] = hit
        else:
            todo.append(i)
    failures: dict[int, str] = {}

    def call(i: int) -> tuple[int, str | None]:
        last: Exception | None = None
        for attempt in range(retries + 1):
            try:
                out = fn(inputs[i])
                return i, "" if out is None else str(out)
            except Exception as exc:  # an API fails transiently: retry, then count the row
                last = exc
                if attempt < retries:
                    time.sleep(min(0.05 * 2**attempt, 1.0))
        failures[i] = f"{type(last).__name__}: {last}"
        return i, None

    if todo:
        with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
            for i, out in progress(pool.map(call, todo), total=len(todo), desc=name, enabled=show):
                outputs[i] = out
                if cache is not None and out is not None:
                    cache.put(key, inputs[i], out, params)
    return outputs, failures
