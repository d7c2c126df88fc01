"""safetensors files through airtune's C++ reader and writer (validated, no pickle)."""

from __future__ import annotations

import os
from typing import Any

from ._lib import native


def load_file(path: str | os.PathLike, mmap: bool = False) -> dict[str, Any]:
    """Read a ``.safetensors`` file and return ``{name: torch.Tensor}`` on the CPU.

    The file is read into memory once, so it may be truncated or rewritten afterwards without
    affecting the tensors (or crashing the process). ``mmap=True`` maps it instead (no copy, pages
    shared with the page cache): then **the file must not change** while any of the tensors lives,
    since a truncated mapping kills the process with SIGBUS. Either way tensors alias that buffer
    when their data is aligned, and writing to them never changes the file. Malformed files raise
    ValueError naming the file and the tensor; the header is validated as the reference parser
    does (plus shapes whose dimensions multiply beyond 2^63 - 1), in time linear in its size.
    """
    return dict(native().load_safetensors(os.fspath(path), bool(mmap)))


def save_file(
    tensors: dict[str, Any], path: str | os.PathLike, metadata: dict[str, str] | None = None
) -> None:
    """Write ``{name: torch.Tensor}`` to ``path`` (atomically), laid out as the reference writer does."""
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    native().save_safetensors(os.fspath(path), dict(tensors), meta)


def metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``__metadata__`` map of a safetensors file (empty when absent); reads only the header."""
    return dict(native().safetensors_metadata(os.fspath(path)))
