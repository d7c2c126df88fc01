"""airtune: curate training data, fine-tune with LoRA, prove it with evaluations.

The heavy work runs in C++ (``airtune._core``; ``airtune._nn`` for the libtorch parts). Importing
airtune never imports torch: the neural modules load it on first use.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Any

from . import _core
from ._core import ParseError

__version__: str = _core.__version__

__all__ = ["ParseError", "__version__", "build_info", "get_num_threads", "set_num_threads"]

# Areas are imported on first attribute access so that `import airtune` stays light.
_SUBMODULES = {
    "io",
    "clean",
    "dedup",
    "embed",
    "prompts",
    "metrics",
    "evaluate",
    "cost",
    "nn",
    "train",
    "demo",
    "cli",
    "split",
    "monitor",
    "stage",
    "pipeline",
}
_LAZY = {"Pipeline": "pipeline", "StageOutput": "stage"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'airtune' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | _SUBMODULES | set(_LAZY))


def set_num_threads(n: int) -> None:
    """Size the one thread pool (oneTBB arena) that all airtune work runs in.

    FAISS's OpenMP, OpenBLAS and (when torch is loaded) libtorch are kept at the same count.
    Results never depend on it.
    The environment variable ``AIRTUNE_NUM_THREADS`` sets the size at import.
    """
    _core.set_num_threads(int(n))
    # libtorch keeps its own pool; follow it when torch is already loaded (never import it here).
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(int(n))


def get_num_threads() -> int:
    """The size of airtune's thread pool."""
    return _core.get_num_threads()


def build_info() -> dict[str, Any]:
    """Versions of the libraries airtune was built with and what this machine offers.

    Keys: version, faiss, faiss_gpu, simdjson, onetbb, blas ({name, library, config, threads}),
    num_threads, and torch / cuda_available when the libtorch module ``_nn`` is built (this call
    imports torch in that case; ``import airtune`` alone does not).
    """
    info = dict(_core.build_info())
    info["nn_built"] = importlib.util.find_spec("airtune._nn") is not None
    info["torch"] = None
    info["cuda_available"] = False
    if info["nn_built"] and os.environ.get("AIRTUNE_NO_TORCH") != "1":
        from . import _nn  # imports torch's shared libraries

        nn_info = _nn.build_info()
        info["torch"] = nn_info["torch_runtime"]
        info["cuda_available"] = nn_info["cuda_available"]
        info["cuda_devices"] = nn_info["cuda_devices"]
    return info
