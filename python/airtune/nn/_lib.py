"""Lazy access to the libtorch extension module and torch itself."""

from __future__ import annotations

import importlib
from typing import Any


def native() -> Any:
    """``airtune._nn`` (imports torch); an ImportError that says what to install when it cannot load.

    The torch release is checked before ``_nn`` is loaded (``airtune._torch_guard``): a torch other
    than the one it was built against raises ``TorchVersionError`` naming both releases.
    """
    from .._torch_guard import check_torch

    check_torch()
    return importlib.import_module("airtune._nn")


def torch() -> Any:
    """The torch module (imported on first use)."""
    native()
    return importlib.import_module("torch")


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda:0' when libtorch sees a GPU, else 'cpu'; validates the others."""
    return str(native().resolve_device(str(device)))


def resolve_dtype(dtype: Any, device: str) -> str:
    """Normalise a dtype spelling (str or torch.dtype); 'auto' is bfloat16 on CUDA, float32 on CPU."""
    if dtype is None or dtype == "auto":
        return "bfloat16" if device.startswith("cuda") else "float32"
    name = str(dtype).replace("torch.", "")
    aliases = {
        "fp32": "float32",
        "float": "float32",
        "bf16": "bfloat16",
        "fp16": "float16",
        "half": "float16",
    }
    name = aliases.get(name, name)
    if name not in {"float32", "bfloat16", "float16"}:
        raise ValueError(f"dtype {dtype!r} is not supported: use 'float32', 'bfloat16', 'float16' or 'auto'")
    return name
