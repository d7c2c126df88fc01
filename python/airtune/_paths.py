"""File paths as users pass them: ``str``, ``bytes`` or ``os.PathLike``, in any encoding.

A file name that is not valid UTF-8 arrives as ``bytes`` or as a ``str`` holding surrogate
escapes (what ``os.listdir`` returns for it). The compiled modules take either through the file
system encoding, so such names open like any other; messages show them with ``\\xNN`` escapes.
"""

from __future__ import annotations

import os
from typing import Union

PathArg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


def file_sha256(path: PathArg) -> str:
    """Hex SHA-256 of a file's bytes, read in 4 MiB blocks (memory bounded whatever its size)."""
    import hashlib

    h = hashlib.sha256()
    with open(fs_path(path), "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def fs_path(path: PathArg, name: str = "path") -> str:
    """``path`` as a ``str`` (surrogate-escaped where it is not UTF-8); TypeError otherwise."""
    try:
        return os.fsdecode(os.fspath(path))
    except TypeError:
        raise TypeError(f"{name}: expected str, bytes or os.PathLike, got {type(path).__name__}") from None


def display_path(path: PathArg) -> str:
    """``path`` for messages and reports: printable whatever its bytes (``\\xNN`` escapes)."""
    return os.fsencode(os.fspath(path)).decode("utf-8", "backslashreplace")
