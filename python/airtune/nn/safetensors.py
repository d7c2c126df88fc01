"""safetensors files through airtune's C++ reader and writer (memory-mapped, validated, no pickle)."""

from __future__ import annotations

import os
from typing import Any

from ._lib import native


def load_file(path: str | os.PathLike) -> dict[str, Any]:
    """Map a ``.safetensors`` file and return ``{name: torch.Tensor}`` on the CPU.

    Tensors alias the mapped file when their data is aligned (copy-on-write: writing to them never
    changes the file). Malformed files raise ValueError naming the file and the tensor.
    """
    return dict(native().load_safetensors(os.fspath(path)))


def save_file(
    tensors: dict[str, Any], path: str | os.PathLike, metadata: dict[str, str] | None = None
) -> None:
    """Write ``{name: torch.Tensor}`` to ``path`` (atomically), laid out as the reference writer does."""
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    native().save_safetensors(os.fspath(path), dict(tensors), meta)


def metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``__metadata__`` map of a safetensors file (empty when absent)."""
    return dict(native().safetensors_metadata(os.fspath(path)))
