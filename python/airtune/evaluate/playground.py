"""Several models side by side on a few inputs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._results import require
from .predict import _run_model


def playground(
    models: Mapping[str, Callable[[Any], Any]], inputs: Sequence[Any], *, max_workers: int = 4
) -> Any:
    """Several models on a few sample inputs, side by side (a DataFrame that renders in notebooks)."""
    pd = require("pandas", "data")
    table: dict[str, list] = {"input": list(inputs)}
    for name, fn in models.items():
        table[name], _ = _run_model(name, fn, list(inputs), None, "", max_workers, 0, False)
    return pd.DataFrame(table)
