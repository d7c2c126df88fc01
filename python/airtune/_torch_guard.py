"""Load ``airtune._nn`` only into a process whose torch is the release it was compiled against.

libtorch has no stable C++ ABI: an extension built against torch 2.13 and loaded next to another
release fails with an undefined symbol at best and corrupts memory at worst. ``_core`` records the
torch release ``_nn`` was built against (``_core.NN_TORCH_VERSION``, empty when it was not built);
``import airtune`` installs a finder that compares it with the installed torch before the dynamic
loader ever opens ``_nn``, and raises :class:`TorchVersionError` (an ImportError) naming both
releases and the fix. Local version labels (``+cpu``, ``+cu130``) do not count: the CPU and CUDA
builds of one release share the ABI.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from typing import Any

from . import _core

MODULE = "airtune._nn"


class TorchVersionError(ImportError):
    """The installed torch is not the release ``airtune._nn`` was built against."""


def release(version: str) -> str:
    """``'2.13.0+cpu'`` -> ``'2.13.0'``: the public release, without the local build label."""
    return str(version).split("+", 1)[0].strip()


def built_against() -> str:
    """The torch release ``_nn`` was compiled against ('' when this build has no ``_nn``)."""
    return str(getattr(_core, "NN_TORCH_VERSION", ""))


def mismatch_message(built: str, runtime: str, torch_path: str) -> str:
    version = _core.__version__
    return (
        f"airtune {version}: its libtorch module airtune._nn was built against torch {built}, but this "
        f"environment has torch {runtime} ({torch_path}). libtorch's C++ ABI changes with every release, "
        f"so _nn is not loaded (everything outside airtune.nn/airtune.train works). Fix: "
        f"pip install 'torch=={built}' (what pip install 'airtune[train]' does), or build airtune against "
        f"your torch from its source distribution: pip install --no-build-isolation airtune-{version}.tar.gz "
        f"(see docs/packaging.md)."
    )


def check_torch() -> Any:
    """Import torch and check its release against ``_nn``'s; returns the torch module."""
    built = built_against()
    if not built:
        raise ImportError(
            "this airtune build has no libtorch module (_nn was not compiled, or the _nn file next to _core "
            "comes from another build): install the airtune wheel, or rebuild with torch importable "
            "(pip install --no-build-isolation airtune-*.tar.gz)",
            name=MODULE,
        )
    try:
        torch = importlib.import_module("torch")
    except ImportError as exc:
        raise ImportError(
            f"airtune.nn needs PyTorch {built}: pip install 'airtune[train]' (or pip install 'torch=={built}')",
            name=MODULE,
        ) from exc
    runtime = str(getattr(torch, "__version__", "unknown"))
    if release(runtime) != release(built):
        raise TorchVersionError(
            mismatch_message(built, runtime, str(getattr(torch, "__file__", "?"))), name=MODULE
        )
    return torch


class _CheckedExtensionLoader(importlib.machinery.ExtensionFileLoader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        check_torch()  # before dlopen: a wrong libtorch must never reach the dynamic loader
        return super().create_module(spec)


class _NnFinder(importlib.abc.MetaPathFinder):
    """Finds ``airtune._nn`` like the default finder does, with a loader that checks torch first."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
            spec.loader = _CheckedExtensionLoader(spec.loader.name, spec.loader.path)
        return spec


def install() -> None:
    if not any(isinstance(f, _NnFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _NnFinder())
