"""Shared input adapters of the prompt tools: records, text lists and system/user prompt columns."""

from __future__ import annotations

from typing import Any

from .. import _core
from .._inputs import as_str_list

_P = _core.prompts


TRANSFORMS: tuple[str, ...] = tuple(_P.transform_names())


def _is_records(obj: Any) -> bool:
    from ..io import Records

    return isinstance(obj, Records)


def _to_records(obj: Any) -> Any:
    from ..io import from_any, from_dicts

    if _is_records(obj):
        return obj
    if isinstance(obj, list) and (not obj or isinstance(obj[0], dict)):
        return from_dicts(obj)
    return from_any(obj)


def _first_of_role(records: Any, role: str) -> list[str | None]:
    rows, contents = records.messages_of_role(role)
    out: list[str | None] = [None] * len(records)
    for r, c in zip(rows.tolist(), contents):
        if out[r] is None:
            out[r] = c
    return out


def _looks_like_texts(obj: Any) -> bool:
    if isinstance(obj, (list, tuple)):
        first = next((x for x in obj if x is not None), None)
        return not isinstance(first, dict)
    mod = type(obj).__module__
    return (mod.startswith("numpy") and getattr(obj, "ndim", 0) == 1) or type(obj).__name__ in (
        "Series",
        "Array",
        "ChunkedArray",
        "Column",
    )


def _prompts_and_users(data: Any) -> tuple[list[str | None], list[str | None], bool]:
    """(system prompts per row, user prompts per row, whether input was records)."""
    if _looks_like_texts(data):
        return as_str_list(data, "system prompts"), [], False
    records = _to_records(data)
    return _first_of_role(records, "system"), _first_of_role(records, "user"), True
