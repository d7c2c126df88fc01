"""Normalise the inputs users pass: list/tuple, numpy, pandas, pyarrow, Hugging Face datasets.

Every area accepts the same shapes through these helpers, so each public function starts with one
call and then works on plain Python lists (which the C++ bindings read without copying text).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def as_str_list(obj: Any, name: str = "texts", column: str | None = None) -> list:
    """A list of str (or bytes / None) from any column-like object.

    Accepts list/tuple of str or bytes, a numpy array of strings/objects, a pandas Series (or a
    DataFrame with ``column``), a pyarrow Array/ChunkedArray (or a Table with ``column``), and a
    Hugging Face ``datasets.Dataset`` (with ``column``) or the dict of lists that
    ``datasets.map(batched=True)`` passes. A lone str is rejected (it is a common slip for [str]).
    """
    if isinstance(obj, (str, bytes)):
        raise TypeError(f"{name}: expected a sequence of strings, got a single {type(obj).__name__}")
    if column is not None:
        obj = _select_column(obj, column, name)
    module = type(obj).__module__.split(".")[0]
    if isinstance(obj, list):
        return obj
    if isinstance(obj, tuple):
        return list(obj)
    if isinstance(obj, np.ndarray):
        if obj.ndim != 1:
            raise ValueError(f"{name}: expected a 1-D array, got shape {obj.shape}")
        return obj.tolist()
    if module == "pandas":
        return obj.tolist()
    if module == "pyarrow":
        return obj.to_pylist()
    if module == "datasets":
        if hasattr(obj, "column_names"):  # a whole Dataset
            raise TypeError(f"{name}: pass column=<name> to select a text column of the dataset")
        return list(obj)  # datasets >= 4 returns a lazy Column for ds[column]
    if isinstance(obj, Iterable):
        return list(obj)
    raise TypeError(f"{name}: expected a sequence of strings, got {type(obj).__name__}")


def _select_column(obj: Any, column: str, name: str) -> Any:
    try:
        if type(obj).__module__.split(".")[0] == "pyarrow" and hasattr(obj, "column"):
            return obj.column(column)
        return obj[column]
    except (KeyError, IndexError) as exc:
        raise KeyError(f"{name}: no column {column!r}") from exc


def as_float32_matrix(obj: Any, name: str = "embeddings") -> np.ndarray:
    """A C-contiguous float32 2-D array; no copy when the input already is one."""
    arr = np.asarray(obj)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (rows x dims), got shape {arr.shape}")
    if arr.dtype != np.float32 or not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        bad = int(np.argwhere(~np.isfinite(arr))[0][0])
        raise ValueError(f"{name}: row {bad} has a NaN or infinite value")
    return arr


def check_same_length(**columns: Sequence) -> int:
    """The common length of the named sequences; ValueError naming them otherwise."""
    lengths = {k: len(v) for k, v in columns.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise ValueError(f"inputs differ in length: {detail}")
    return next(iter(lengths.values()), 0)
