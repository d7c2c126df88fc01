"""Shared behaviour of result objects: notebook display and dataframe export.

A result is a small dataclass that implements ``to_pandas()``; inheriting ``ResultMixin`` gives it
``_repr_html_`` (the first rows of that table plus a one-line summary) for Jupyter.
"""

from __future__ import annotations

import html
from typing import Any


class ResultMixin:
    _repr_rows = 20

    def summary_line(self) -> str:
        """One line shown above the table in notebooks; results override it."""
        return type(self).__name__

    def _repr_html_(self) -> str:
        head = f"<p><b>{html.escape(self.summary_line())}</b></p>"
        try:
            frame = self.to_pandas()  # type: ignore[attr-defined]  # every result defines it
        except ImportError:
            return head
        return head + frame.head(self._repr_rows).to_html(max_cols=12)


def require(module: str, extra: str) -> Any:
    """Import an optional dependency or raise ImportError naming the pip extra that brings it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"this feature needs {module!r}: pip install 'airtune[{extra}]' (or pip install {module})"
        ) from exc


def progress(
    iterable: Any = None, total: int | None = None, desc: str = "", enabled: bool = True, **kwargs: Any
) -> Any:
    """A tqdm progress bar (notebook-aware) or a silent pass-through when disabled.

    Extra keyword arguments go to tqdm (e.g. ``unit="B", unit_scale=True``).
    """
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, disable=not enabled, leave=False, **kwargs)
