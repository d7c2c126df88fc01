"""Predictions from models, through the SQLite prediction cache.

:func:`predict` runs one :class:`~airtune.evaluate.models.GenerativeModel` over inputs: cached
answers are read first (key: the model's ``identity``, the prompt, the generation parameters), the
others are generated in chunks and each answer is written to the cache the moment it arrives, so a
run that fails half way keeps everything it paid for and a rerun asks only for the rest. Failed
prompts are counted by reason (never cached: a rerun retries them). :func:`predict_models` does
this for every model of an evaluation and raises :class:`PredictionError` (after caching) when a
model has failures, unless ``on_failure="score"`` scores them as empty answers.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._results import progress as progress_bar
from .cache import PredictionCache
from .identity import model_identity
from .models import (
    CallableModel,
    Completion,
    GenerationParams,
    LocalModel,
    PrecomputedPredictions,
    resolve_model,
)


class PredictionError(RuntimeError):
    """Some prompts got no answer; the answers received are in the cache (a rerun asks for the rest)."""

    def __init__(self, message: str, failures: dict[str, dict[str, int]]) -> None:
        super().__init__(message)
        self.failures = failures


@dataclass
class ModelPredictions:
    """One model's answers: ``outputs[i]`` is None where the prompt failed (see ``failures``)."""

    identity: str
    outputs: list[str | None]
    cache_hits: int = 0
    generated: int = 0
    failures: Counter = field(default_factory=Counter)
    errors: list[str] = field(
        default_factory=list
    )  # the lowest failed rows: "failed on row N: reason: message"
    seconds: float = 0.0  # wall time of the whole call
    model_seconds: float = 0.0  # of which inside model.generate


def predict(
    model: Any,
    inputs: Sequence[Any],
    params: GenerationParams | None = None,
    cache: PredictionCache | None = None,
    *,
    extra_key: str = "",
    chunk_size: int | None = None,
    show_progress: bool = True,
    desc: str = "",
    identity: str | None = None,
) -> ModelPredictions:
    """Answers of ``model`` for ``inputs`` (see the module doc). ``extra_key`` joins the parameters
    in the cache key (``evaluate``'s ``params`` string); ``identity`` replaces ``model.identity`` as
    the model's part of the key (``evaluate(model_id=...)``)."""
    params = params or GenerationParams()
    t0 = time.perf_counter()
    key = params.key() + (f"|{extra_key}" if extra_key else "")
    if isinstance(model, CallableModel):
        key = extra_key  # a callable ignores generation parameters: keyed by identity, input and params
    n = len(inputs)
    ident = identity or model.identity
    res = ModelPredictions(ident, [None] * n)
    todo: list[int] = []
    for i, inp in enumerate(inputs):
        hit = cache.get(ident, inp, key) if cache is not None else None
        if hit is not None:
            res.outputs[i] = hit
        else:
            todo.append(i)
    res.cache_hits = n - len(todo)
    if todo:
        lock = threading.Lock()
        failed: list[tuple[int, str]] = []  # max-heap on row (negated) of the lowest failed rows
        bar = progress_bar(total=len(todo), desc=desc or ident[:40], enabled=show_progress)
        size = chunk_size or (
            max(256, 32 * getattr(model, "concurrency", getattr(model, "max_workers", 8)))
            if not isinstance(model, LocalModel)
            else 4 * model.batch_size
        )

        def make_sink(rows: list[int]) -> Callable[[int, Completion], None]:
            def sink(j: int, c: Completion) -> None:
                i = rows[j]
                with lock:
                    if c.ok:
                        res.outputs[i] = c.text
                        res.generated += 1
                    else:
                        res.failures[c.reason] += 1
                        # Answers arrive in any order: keep the 10 lowest rows, so messages are stable.
                        heapq.heappush(failed, (-i, f"failed on row {i}: {c.reason}: {c.error}"))
                        if len(failed) > 10:
                            heapq.heappop(failed)
                    bar.update(1)
                if c.ok and c.text is not None and cache is not None:
                    cache.put(ident, inputs[i], c.text, key)  # stored at once: never lost

            return sink

        try:
            for k in range(0, len(todo), size):
                rows = todo[k : k + size]
                m0 = time.perf_counter()
                model.generate([inputs[i] for i in rows], params, make_sink(rows))
                res.model_seconds += time.perf_counter() - m0
        finally:
            bar.close()
            res.errors = [msg for _, msg in sorted(failed, reverse=True)]
    res.seconds = time.perf_counter() - t0
    return res


def predict_models(
    models: Mapping[str, Any],
    inputs: Sequence[Any],
    references: Sequence[Any] | None,
    cache: PredictionCache | None,
    *,
    params: str = "",
    generation: GenerationParams | Mapping[str, Any] | None = None,
    on_failure: str = "raise",
    max_workers: int = 4,
    retries: int = 2,
    local_options: Mapping[str, Any] | None = None,
    show_progress: bool = True,
    model_ids: Mapping[str, str] | None = None,
) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """Every model of an evaluation -> (predictions per model, info): ``info`` has ``cache_hits``,
    ``identities``, ``failures`` (model -> reason -> count), ``seconds`` and ``model_seconds``.
    ``model_ids``: name -> the identity to key that model's answers by (overrides its own).

    Local models (folders, adapters) are first checked for prompt-format parity on the records
    (:func:`airtune.train.format.check_parity`): the generation prompt of each row must be the
    training prefix of the row with its reference as the answer.
    """
    if on_failure not in ("raise", "score"):
        raise ValueError(f"on_failure must be 'raise' or 'score', got {on_failure!r}")
    gen = GenerationParams.of(generation)
    n = len(inputs)
    predictions: dict[str, list[str]] = {}
    info: dict[str, Any] = {
        "cache_hits": {},
        "identities": {},
        "failures": {},
        "seconds": {},
        "model_seconds": {},
    }
    problems: list[str] = []
    unknown = sorted(set(model_ids or {}) - set(models))
    if unknown:
        raise ValueError(f"model_id names {unknown}, which are not among the models {list(models)}")
    for name, spec in models.items():
        model = resolve_model(
            spec, name, max_workers=max_workers, retries=retries, **dict(local_options or {})
        )
        override = (model_ids or {}).get(name)
        identity = model_identity(model, name, override) if override is not None else model.identity
        info["identities"][name] = identity
        if isinstance(model, PrecomputedPredictions):
            preds = model.predictions
            if len(preds) != n:
                raise ValueError(f"model {name!r} has {len(preds)} predictions for {n} records")
            for i, p in enumerate(preds):
                if p is None:
                    raise ValueError(f"model {name!r}: prediction for row {i} is None")
            predictions[name] = [str(p) for p in preds]
            info["cache_hits"][name] = 0
            continue
        if isinstance(model, LocalModel) and references is not None:
            rows = [_with_answer(inp, ref) for inp, ref in zip(inputs, references)]
            model.check_parity([r for r in rows if r is not None])
        res = predict(
            model,
            inputs,
            gen,
            cache,
            extra_key=params,
            show_progress=show_progress,
            desc=name,
            identity=identity,
        )
        info["cache_hits"][name] = res.cache_hits
        info["seconds"][name] = res.seconds
        info["model_seconds"][name] = res.model_seconds
        if res.failures:
            info["failures"][name] = dict(res.failures)
            total = sum(res.failures.values())
            buckets = ", ".join(f"{k}: {v}" for k, v in res.failures.most_common())
            problems.append(
                f"model {name!r} failed on {total} of {n} rows ({buckets}); first: {'; '.join(res.errors[:3])}"
            )
        predictions[name] = ["" if o is None else o for o in res.outputs]
    if problems and on_failure == "raise":
        where = f" in the cache at {cache.path}" if cache is not None else " only in memory (pass cache=...)"
        raise PredictionError(
            "; ".join(problems)
            + f". The answers received are{where}: a rerun asks only for the failed rows; "
            "on_failure='score' scores them as empty answers (counted in report.settings['failures'])",
            info["failures"],
        )
    return predictions, info


def _with_answer(inp: Any, ref: Any) -> Any:
    """The row as a conversation ending with its reference answer (None when there is no single one)."""
    if not isinstance(ref, str):
        return None
    if isinstance(inp, str):
        return [{"role": "user", "content": inp}, {"role": "assistant", "content": ref}]
    if isinstance(inp, list) and inp and all(isinstance(m, dict) for m in inp):
        return [*inp, {"role": "assistant", "content": ref}]
    return None


def _run_model(
    name: str,
    fn: Callable[[Any], Any],
    inputs: list,
    cache: PredictionCache | None,
    params: str,
    max_workers: int,
    retries: int,
    show: bool,
) -> tuple[list[str], int]:
    """A callable's answers (kept for callers of the earlier API): raises on the first failed row."""
    model = CallableModel(fn, name, max_workers=max_workers, retries=retries)
    res = predict(model, inputs, GenerationParams(), cache, extra_key=params, show_progress=show, desc=name)
    if res.failures:
        raise PredictionError(f"model {name!r} {res.errors[0]}", {name: dict(res.failures)})
    return [o or "" for o in res.outputs], res.cache_hits
