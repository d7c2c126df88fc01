"""Calling a judge model: a plain callable prompt -> text (an endpoint or a local model behind one),
concurrently, through the prediction cache, with failed calls counted instead of stopping the run."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from typing import Any

from ..cache import PredictionCache
from ..callables import call_all


def judge_name(model: Any, name: str | None) -> str:
    """The judge's identity in the cache and the report: ``name``, else the model's own name."""
    if name:
        return name
    for attr in ("name", "model_id", "model", "__name__"):
        v = getattr(model, attr, None)
        if isinstance(v, str) and v and v != "<lambda>":
            return v
    return type(model).__name__


def prompt_fn(model: Any, max_tokens: int = 128, temperature: float = 0.7) -> tuple[Callable[..., Any], bool]:
    """(callable prompt -> text, whether it takes ``seed=``) for a judge model: any callable, an
    object with ``generate(prompt)`` / ``complete(prompt)``, or a model as
    :func:`airtune.evaluate.resolve_model` takes it (a model folder, ``{"base", "adapter"}``,
    ``{"endpoint": url, "model": name}`` or a :class:`~airtune.evaluate.GenerativeModel`), which is
    asked with ``max_tokens`` and, per sample, ``temperature`` and seed ``seed + sample``."""
    from ..models import GenerationParams, GenerativeModel, resolve_model

    if isinstance(model, (str, os.PathLike, Mapping)) or (
        isinstance(model, GenerativeModel) and not isinstance(model, type) and not callable(model)
    ):
        gm = resolve_model(model, judge_name(model, None) if not isinstance(model, Mapping) else "judge")

        def ask(prompt: str, seed: int = 0) -> str:
            (c,) = gm.generate(
                [prompt], GenerationParams(max_tokens=max_tokens, temperature=temperature, seed=seed)
            )
            if not c.ok:
                raise RuntimeError(f"judge model failed: {c.reason}: {c.error}")
            return c.text

        return ask, True
    fn = model if callable(model) else getattr(model, "generate", None) or getattr(model, "complete", None)
    if not callable(fn):
        raise TypeError(f"judge model {model!r}: expected a callable prompt -> text")
    try:
        params = inspect.signature(fn).parameters
        takes_seed = "seed" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    except (TypeError, ValueError):
        takes_seed = False
    return fn, takes_seed


def call_judge(
    name: str,
    model: Any,
    prompts: list[str],
    *,
    sample: int,
    seed: int,
    cache: PredictionCache | None,
    max_workers: int,
    retries: int,
    progress: bool,
) -> tuple[list[str | None], dict[int, str]]:
    """One answer per prompt for sample ``sample``: (answers, None where the call failed; failures
    row -> message). Cached by (judge name, prompt, sample), so a rerun asks nothing again and the
    samples stay distinct. A model that takes ``seed=`` gets ``seed + sample``."""
    fn, takes_seed = prompt_fn(model)

    def ask(prompt: str) -> Any:
        return fn(prompt, seed=seed + sample) if takes_seed else fn(prompt)

    return call_all(
        f"judge:{name}",
        ask,
        prompts,
        cache=cache,
        params=f"sample={sample}|seed={seed}",
        max_workers=max_workers,
        retries=retries,
        show=progress,
    )
